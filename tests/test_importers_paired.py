"""`crpo data import` for DyBench as published (three per-category JSON files, DyBench / MVBench-style field names),
verl / EasyR1 parquet rows, and the MVP / VITATECS files (whose scorers test their importers against lmms-eval:
tests/test_official_mvp.py, tests/test_official_vitatecs.py). Bad input is one line naming the file, the row, the
fields found and the fields expected; exit 2.
"""
import json
import sys

import pyarrow as pa
import pyarrow.parquet as pq

from crpo.cli import main as crpo_main
from crpo.data.items import load_items


def run_import(fmt, src, out):
    return crpo_main(["data", "import", "--format", fmt, str(src), "--out", str(out)])


def test_dybench_three_category_files_in_either_spelling(tmp_path):
    folder = tmp_path / "DyBench"
    folder.mkdir()
    # MVBench spelling: candidates + the answer's text; pairs by a pair field
    (folder / "moving_direction.json").write_text(json.dumps([
        {"video": "md/1.mp4", "question": "Which way does the car move?", "candidates": ["left", "right", "up", "down"],
         "answer": "right", "pair_id": 7},
        {"video": "md/1_rev.mp4", "question": "Which way does the car move?",
         "candidates": ["left", "right", "up", "down"], "answer": "left", "pair_id": 7}]))
    # other spellings: video_path / problem / lettered options / a letter as the answer / an id of its own
    (folder / "event_sequence.json").write_text(json.dumps([
        {"id": "es-1", "video_path": "es/1.mp4", "problem": "What happens first?",
         "options": ["A. the door opens", "B. the light turns on"], "gt": "(B)", "start": 1.5, "end": 4.0}]))
    (folder / "reversible_dynamics.jsonl").write_text(json.dumps(
        {"video": "rd/1.mp4", "question": "Is the balloon inflating or deflating?", "choices": ["inflating",
         "deflating", "neither"], "ground_truth": "A. inflating"}) + "\n")
    assert run_import("dybench", folder, tmp_path / "items.jsonl") in (0, None)
    items = {it.id: it for it in load_items(tmp_path / "items.jsonl")}
    assert sorted(items) == ["es-1", "moving_direction-0", "moving_direction-1", "reversible_dynamics-0"]
    md0, md1 = items["moving_direction-0"], items["moving_direction-1"]
    assert (md0.answer, md1.answer, md0.pair_id, md1.pair_id) == ("B", "A", "moving_direction-7", "moving_direction-7")
    es = items["es-1"]
    assert (es.category, es.options, es.answer, es.start, es.end) == ("event_sequence", ["the door opens",
                                                                       "the light turns on"], "B", 1.5, 4.0)
    assert items["reversible_dynamics-0"].answer == "A" and items["reversible_dynamics-0"].pair_id is None


def test_dybench_row_of_unknown_fields_is_one_line(tmp_path, capsys):
    (tmp_path / "event_sequence.json").write_text(json.dumps([{"clip": "a.mp4", "q": "What first?", "opts": []}]))
    assert run_import("dybench", tmp_path / "event_sequence.json", tmp_path / "items.jsonl") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: {tmp_path / 'event_sequence.json'}:row 1: not a DyBench/MVBench-style row: "
                             "found fields ['clip', 'opts', 'q'], expected (video: video | video_path")
    assert "answer: answer | gt | ground_truth" in err[0]


def test_dybench_answer_outside_the_options_is_one_line(tmp_path, capsys):
    (tmp_path / "moving_direction.json").write_text(json.dumps([
        {"video": "a.mp4", "question": "Which way?", "candidates": ["left", "right"], "answer": "up"}]))
    assert run_import("dybench", tmp_path, tmp_path / "items.jsonl") == 2
    assert "row 1: answer 'up' is neither an option letter (AB) nor the text" in capsys.readouterr().err


VERL_ROWS = [  # verl: chat messages, {"video": path}, reward_model.ground_truth
    {"prompt": [{"role": "system", "content": "You are helpful."},
                {"role": "user", "content": "<video>Which way do the cyclists ride?\nA. to the left\nB. to the "
                                            "right\nAnswer with the option's letter."}],
     "videos": [{"video": "bikes.mp4"}], "reward_model": {"ground_truth": "B", "style": "rule"},
     "data_source": "mine", "ability": "video"},
    {"prompt": [{"role": "user", "content": "<video>Is there a bicycle?"}], "videos": [{"video": "bikes.mp4"}],
     "reward_model": {"ground_truth": "Yes", "style": "rule"}, "data_source": "mine", "ability": "video"},
]
EASYR1_ROWS = [  # EasyR1: problem text, video paths, answer (or ground_truth)
    {"problem": "<video>How many cyclists pass?", "videos": ["bikes.mp4"], "answer": "<answer>3</answer>"},
    {"problem": "<video>What is the weather like?", "videos": ["bikes.mp4"], "answer": "sunny"},
]


def write_parquet(path, rows):
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_verl_and_easyr1_parquet_rows(tmp_path):
    assert run_import("verl", write_parquet(tmp_path / "verl.parquet", VERL_ROWS), tmp_path / "v.jsonl") in (0, None)
    mc, yes_no = load_items(tmp_path / "v.jsonl")
    assert (mc.problem_type, mc.question, mc.options, mc.answer, mc.video) == (
        "multiple_choice", "Which way do the cyclists ride? Answer with the option's letter.",
        ["to the left", "to the right"], "B", "bikes.mp4")
    assert mc.extra == {"data_source": "mine", "ability": "video"} and mc.id == "verl-0"
    assert (yes_no.problem_type, yes_no.answer, yes_no.question) == ("yes_no", "yes", "Is there a bicycle?")
    easyr1 = write_parquet(tmp_path / "easyr1.parquet", EASYR1_ROWS)
    assert run_import("verl", easyr1, tmp_path / "e.jsonl") in (0, None)
    number, text = load_items(tmp_path / "e.jsonl")
    assert (number.problem_type, number.answer, number.question) == ("numerical", "3", "How many cyclists pass?")
    assert (text.problem_type, text.answer, text.id) == ("free_form", "sunny", "verl-1")


def test_verl_row_without_a_video_is_one_line(tmp_path, capsys):
    rows = [dict(r) for r in EASYR1_ROWS]
    rows[1]["videos"] = []
    assert run_import("verl", write_parquet(tmp_path / "train.parquet", rows), tmp_path / "items.jsonl") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {tmp_path / 'train.parquet'}:row 2: not a verl/EasyR1 video row: found fields")


def test_parquet_without_pyarrow_is_a_clear_message(tmp_path, capsys, monkeypatch):
    """pyarrow is optional at run time: its absence (simulated: the import fails) names what to install."""
    path = write_parquet(tmp_path / "train.parquet", EASYR1_ROWS)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # `import pyarrow.parquet` raises ImportError
    assert run_import("verl", path, tmp_path / "items.jsonl") == 2
    assert capsys.readouterr().err.strip() == (f"error: {path}: reading parquet needs pyarrow, which is not "
                                               "installed (pip install pyarrow, or the dev extra: pip install -e "
                                               "'.[dev]')")


def test_mvp_rows_pair_by_video_id_and_bad_rows_are_one_line(tmp_path, capsys):
    rows = [{"video_id": f"ssv2_12_{k}", "video_path": f"/ssv2/{k}.webm", "question": "Q?", "answer": "b",
             "candidates": "['a', 'b']", "source": "ssv2"} for k in (0, 1)]
    (tmp_path / "temporal_reasoning").mkdir()
    write_parquet(tmp_path / "temporal_reasoning" / "mini-00000-of-00001.parquet", rows)
    assert run_import("mvp", tmp_path, tmp_path / "items.jsonl") in (0, None)
    items = load_items(tmp_path / "items.jsonl")
    assert [(it.id, it.pair_id, it.category, it.answer, it.video) for it in items] == [
        ("ssv2_12_0", "ssv2_12", "temporal_reasoning", "B", "ssv2/0.webm"),
        ("ssv2_12_1", "ssv2_12", "temporal_reasoning", "B", "ssv2/1.webm")]
    capsys.readouterr()
    (tmp_path / "bad.jsonl").write_text(json.dumps({**rows[0], "candidates": "not a list"}) + "\n")
    assert run_import("mvp", tmp_path / "bad.jsonl", tmp_path / "x.jsonl") == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'bad.jsonl'}:row 1: candidates 'not a list' is " \
                                              "not a list"


def test_scorers_of_two_option_benchmarks_refuse_other_items(tmp_path, capsys):
    """MVP and VITATECS parse A or B only: items of another kind (yes/no, three options) are one line, not a
    traceback or a score over the wrong option."""
    (tmp_path / "items.jsonl").write_text(json.dumps({"id": "a_0", "video": "a.mp4", "question": "q?", "answer": "B",
                                                      "options": ["x", "y", "z"]}) + "\n")
    (tmp_path / "pred.jsonl").write_text(json.dumps({"id": "a_0", "output": "B"}) + "\n")
    for fmt in ("mvp", "vitatecs"):
        rc = crpo_main(["score", "--format", fmt, "--data", str(tmp_path / "items.jsonl"), "--predictions",
                        str(tmp_path / "pred.jsonl")])
        assert rc == 2 and capsys.readouterr().err == (
            f"error: {tmp_path / 'items.jsonl'}: item 'a_0' is multiple_choice with 3 options, not a {fmt} question "
            f"(two options, A or B): import the data with `crpo data import --format {fmt}`\n")
