import json
import re
import subprocess
import sys

import pytest

from crpo.data.importers import convert, import_file
from crpo.data.items import DataError, load_items


def write(path, rows, jsonl=False):
    path.write_text("\n".join(json.dumps(r) for r in rows) if jsonl else json.dumps(rows))
    return path


def test_videor1_multiple_choice_numerical_and_image_skip(tmp_path, capsys):
    src = write(tmp_path / "r1.json", [
        {"problem_id": 1, "problem": "Which way does the car turn?", "options": ["A. left", "B. right"],
         "solution": "<answer>B</answer>", "path": "./Evaluation/v1.mp4", "problem_type": "multiple choice",
         "data_type": "video"},
        {"problem_id": 2, "problem": "How many cups?", "solution": "<answer>3</answer>", "path": "v2.mp4",
         "problem_type": "numerical", "data_type": "video"},
        {"problem_id": 3, "problem": "x", "solution": "<answer>A</answer>", "path": "i.jpg",
         "problem_type": "multiple choice", "options": ["A. a"], "data_type": "image"}])
    items = convert("videor1", src)
    assert [(i.id, i.video, i.answer, i.problem_type, i.options) for i in items] == [
        ("1", "Evaluation/v1.mp4", "B", "multiple_choice", ["left", "right"]),
        ("2", "v2.mp4", "3", "numerical", None)]
    assert "r1.json:row 3: data_type 'image'" in capsys.readouterr().err


def test_videor1_keeps_regression_ocr_and_free_form_reward_types(tmp_path):
    from crpo.data.prompts import question_text
    from crpo.rl.answers import extract_answer
    from crpo.rl.rewards import accuracy_reward
    src = write(tmp_path / "r1.jsonl", [
        {"problem_id": "r", "problem": "How far apart are the chairs (m)?", "solution": "<answer>1,250.5</answer>",
         "path": "a.mp4", "problem_type": "regression", "data_type": "video"},
        {"problem_id": "o", "problem": "What does the sign say?", "solution": "<answer> EXIT 12 </answer>",
         "path": "b.mp4", "problem_type": "OCR", "data_type": "video"},
        {"problem_id": "f", "problem": "What is the man doing?", "solution": "<answer>He is opening the door."
         "</answer>", "path": "c.mp4", "problem_type": "free-form", "data_type": "video"}], jsonl=True)
    out = tmp_path / "items.jsonl"
    assert import_file("videor1", src, out) == 3
    reg, ocr, free = load_items(out)  # the types survive the round trip through the item schema
    assert [(i.problem_type, i.answer) for i in (reg, ocr, free)] == [
        ("regression", "1250.5"), ("ocr", "EXIT 12"), ("free_form", "He is opening the door.")]
    assert "Answer with a number." in question_text(reg) and "exactly as it is written" in question_text(ocr)
    # each is scored with its Video-R1 reward, not by exact match
    completions = {"r": "<answer>1350</answer>", "o": "<answer>EXIT 13</answer>", "f": "<answer>he opens the door"
                   "</answer>"}
    scores = [accuracy_reward([extract_answer(completions[i.id], i.problem_type)], [i.answer], i.problem_type)[0]
              for i in (reg, ocr, free)]
    assert scores[0] == 0.9 and scores[1] == 0.5 and 0.0 < scores[2] < 1.0  # rel. error 0.08; 1 of 2 words wrong
    with pytest.raises(DataError, match="regression item 'x' has non-numeric answer 'far'"):
        convert("videor1", write(tmp_path / "bad.json", [{"problem_id": "x", "problem": "q", "path": "v.mp4",
                                                          "solution": "<answer>far</answer>",
                                                          "problem_type": "regression"}]))


def test_mvbench_answer_text_becomes_letter_and_bad_answer_names_row(tmp_path):
    rows = [{"video": "a.mp4", "question": "What happens first?", "candidates": ["open", "close"], "answer": "close",
             "start": 1.0, "end": 3.0, "task": "action_sequence"}]
    (item,) = convert("mvbench", write(tmp_path / "mv.jsonl", rows, jsonl=True))
    assert (item.answer, item.options, item.category, item.start, item.end) == ("B", ["open", "close"],
                                                                              "action_sequence", 1.0, 3.0)
    rows.append({"video": "b.mp4", "question": "q", "candidates": ["x", "y"], "answer": "z"})
    with pytest.raises(DataError, match=r"mv.jsonl:2: answer 'z' is not among the candidates"):
        convert("mvbench", write(tmp_path / "mv.jsonl", rows, jsonl=True))


def test_timeblind_keeps_index_and_reads_both_answer_types(tmp_path):
    rows = [{"index": 4, "video_path": "v/4.mp4", "question": "Does the man sit down?", "answer": "Yes", "type": "yn"},
            {"index": 5, "video_path": "v/5.mp4", "question": "Which happens?\nA. he sits\nB. he stands",
             "answer": "B", "type": "mc"}]
    a, b = convert("timeblind", write(tmp_path / "data.jsonl", rows, jsonl=True))
    assert (a.id, a.answer, a.problem_type, a.extra["index"]) == ("timeblind-4", "yes", "yes_no", 4)
    assert (b.answer, b.options, b.extra["index"]) == ("B", ["he sits", "he stands"], 5)


def test_tempcompass_and_vinoground(tmp_path):
    tc = {"vid1": {"direction": [{"question": "Which way does it move?\nA. left\nB. right", "answer": "B. right"}]}}
    (item,) = convert("tempcompass", write(tmp_path / "multi-choice.json", tc))
    assert (item.video, item.question, item.options, item.answer, item.category) == (
        "vid1.mp4", "Which way does it move?", ["left", "right"], "B", "direction")
    (tmp_path / "vinoground.csv").write_text("index,major,minor,pos_vid,neg_vid,pos_cal,neg_cal\n"
                                             "7,action,interaction;cyclical,p7,n7,a dog then a cat,a cat then a dog\n")
    items = convert("vinoground", tmp_path / "vinoground.csv")
    assert [i.id for i in items] == ["7_pos_text", "7_neg_text", "7_pos_video", "7_neg_video"]
    assert items[1].video == "vinoground_videos/n7.mp4" and items[1].answer == "B"
    assert items[2].video == "vinoground_videos_concated/7.mp4" and items[2].category == "action"


def test_cli_import_writes_loadable_items(tmp_path):
    src = write(tmp_path / "mv.json", [{"video": "/data/x/a.mp4", "question": "q", "candidates": ["x", "y"],
                                        "answer": "y"}])
    out = tmp_path / "items.jsonl"
    r = subprocess.run([sys.executable, "-m", "crpo.cli", "data", "import", "--format", "mvbench", str(src),
                        "--out", str(out), "--video-root", "/data"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (item,) = load_items(out)
    assert item.video == "x/a.mp4" and item.answer == "B"
    assert import_file("mvbench", src, tmp_path / "again.jsonl") == 1


@pytest.mark.parametrize("fmt, name, content, message", [
    ("tempcompass", "multi-choice.json", '{"v1": {"action": [{"answer": "A. x"}]}}',
     r"multi-choice.json:v1/action/0: missing field 'question'$"),
    ("tempcompass", "multi-choice.json", '{bad', r"multi-choice.json:1: invalid JSON \("),
    ("vinoground", "vinoground.csv", "index,major,pos_vid,neg_vid\n1,a,b,c\n",
     r"vinoground.csv:2: missing field 'pos_cal'$"),
    ("timeblind", "data.jsonl", '{"index": "x", "video_path": "a.mp4", "question": "q", "answer": "yes"}',
     r"data.jsonl:row 1: index 'x' is not a whole number"),
    ("mvbench", "mv.json", '[{"video": "a.mp4", "question": "q", "candidates": "ab", "answer": "a"}]',
     r"mv.json:row 1: candidates 'ab' is not a list of texts$"),
])
def test_malformed_rows_of_every_format_are_one_line_naming_the_row(tmp_path, capsys, fmt, name, content, message):
    """A missing field, bad JSON, a non-numeric index or candidates that are one string: one line naming the file
    and row (exit 2), never a traceback or a silently wrong item (the string "ab" is not the options a, b)."""
    (tmp_path / name).write_text(content)
    from crpo.cli import main as crpo_main
    out = tmp_path / "o.jsonl"
    assert crpo_main(["data", "import", "--format", fmt, str(tmp_path / name), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {tmp_path}"), err
    assert re.search(message, err[0]), err[0]
    assert not out.exists()


def test_a_letter_followed_by_another_options_text_is_refused_in_every_format(tmp_path):
    """"B. <option A's text>" names neither option for sure: refused with the row, in Video-R1 and DyBench alike."""
    r1 = [{"problem_id": 1, "problem": "Which way?", "options": ["A. left", "B. right"], "path": "v.mp4",
           "solution": "<answer>B. left</answer>", "problem_type": "multiple choice"}]
    with pytest.raises(DataError, match=r"r1.json:row 1: solution answer 'B. left' is neither an option letter"):
        convert("videor1", write(tmp_path / "r1.json", r1))
    (tmp_path / "dy").mkdir()
    dy = [{"video": "a.mp4", "question": "Which way?", "candidates": ["left", "right"], "answer": "B. left"}]
    with pytest.raises(DataError, match=r"moving_direction.json:row 1: answer 'B. left' is neither an option letter"):
        convert("dybench", write(tmp_path / "dy" / "moving_direction.json", dy))
    dy[0]["answer"] = "B. Right"  # the letter and its own text (any case): B
    assert convert("dybench", write(tmp_path / "dy" / "moving_direction.json", dy))[0].answer == "B"
