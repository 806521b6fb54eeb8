"""TimeBlind scoring against hand-computed values: official extraction rules, instance grouping, edge cases."""
import json
import random

import pytest

from crpo.bench.score import score_file
from crpo.bench.timeblind import extract_choice, instance_codes, timeblind_metrics
from crpo.data.items import Item, write_jsonl


@pytest.mark.parametrize("text,kind,code", [
    ("Yes", "yes_no", 1), ("no.", "yes_no", 0), ("Final answer: no, although yes seems tempting", "yes_no", 0),
    ("No, it does not.", "yes_no", 0), ("Yesterday it was not", "yes_no", -1), ("", "yes_no", -1),
    ("A", "multiple_choice", 1), ("(B)", "multiple_choice", 0), ("Option B", "multiple_choice", 0),
    ("The answer is not A. Final answer: B", "multiple_choice", 0),
    # no anchored form: the first bare letter wins, even one the text rejects (the official rule)
    ("B) is wrong, A) is right", "multiple_choice", 0),
    ("About video A.Then B", "multiple_choice", 1),  # "A." followed by a word character
    ("I think it is C", "multiple_choice", -1), (None, "multiple_choice", -1),
])
def test_extract_choice_follows_the_official_rules(text, kind, code):
    assert extract_choice(text, kind) == code


def test_metrics_of_codes():
    codes = {0: (1, 0, 0, 1), 1: (1, 0, 0, 0), 2: (-1, -1, -1, -1), 3: (1, -1, 0, 1)}
    m = timeblind_metrics(codes)
    # Acc: 4 + 3 + 0 + 3 right rows of 16; Q: 2 + 1 + 0 + 1 of 8; V: 2 + 1 + 0 + 1 of 8; I: instance 0 only
    assert m == {"Acc": 10 / 16, "Q_Acc": 4 / 8, "V_Acc": 4 / 8, "I_Acc": 1 / 4, "num_instances": 4}
    # Q and V differ when a model answers by question rather than by video
    m = timeblind_metrics({0: (1, 1, 0, 0)})
    assert (m["Q_Acc"], m["V_Acc"], m["Acc"], m["I_Acc"]) == (0.0, 0.5, 0.5, 0.0)


TYPES = ["yes_no", "multiple_choice", "yes_no", "yes_no", "yes_no"]  # five instances; the last gets no predictions
OUTPUTS = {0: "Answer: yes", 1: "no.", 2: "No, it is not.", 3: "Yes",       # instance 0: all right
           4: "A", 5: "(B)", 6: "Option B", 7: "B",                        # instance 1: q1_i1 wrong
           8: "Yes", 9: "No", 10: "No",                                    # instance 2: index 11 missing
           12: "Yes", 13: "I cannot tell", 14: "No", 15: "Yes"}            # instance 3: q0_i1 unparseable
EXPECTED = {"Acc": 10 / 16, "Q_Acc": 4 / 8, "V_Acc": 4 / 8, "I_Acc": 1 / 4, "num_instances": 4,
            "num_data_instances": 5, "incomplete_instances": 1}


def _answer(index):
    yes = index % 4 in (0, 3)
    return ("yes" if yes else "no") if TYPES[index // 4] == "yes_no" else ("A" if yes else "B")


def test_official_files_shuffled(tmp_path):
    rows = [{"index": i, "video_path": f"TimeBlind/videos/vid_{i // 2:05d}_{i % 2}.mp4", "question": "Q?",
             "answer": _answer(i), "type": TYPES[i // 4]} for i in range(20)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    preds = [{"index": i, "video_path": "x", "question": "Q?", "model_output": o} for i, o in OUTPUTS.items()]
    random.Random(0).shuffle(preds)  # grouping is by index, not by position
    (tmp_path / "predictions.json").write_text(json.dumps(preds))
    assert score_file("timeblind", tmp_path / "data.jsonl", tmp_path / "predictions.json") == EXPECTED


def test_our_items_and_predictions(tmp_path):
    items = []
    for i in range(20):
        kind = TYPES[i // 4]
        items.append(Item(f"timeblind-{i}", f"vid_{i}.mp4", "Q?", _answer(i), problem_type=kind,
                          options=["yes", "no"] if kind == "multiple_choice" else None))
    write_jsonl(tmp_path / "items.jsonl", items)
    # "answer" is what our extraction made of the output; the official rules must read "output" instead
    write_jsonl(tmp_path / "pred.jsonl", [{"id": f"timeblind-{i}", "output": o, "answer": None}
                                          for i, o in OUTPUTS.items()])
    assert score_file("timeblind", tmp_path / "items.jsonl", tmp_path / "pred.jsonl") == EXPECTED


def test_index_outside_the_data_makes_its_instance_wrong():
    codes = instance_codes({0: "yes_no", 1: "yes_no", 2: "yes_no"}, [(0, "yes"), (1, "no"), (2, "no"), (3, "yes")])
    assert codes == {0: (-1, -1, -1, -1)}
    codes = instance_codes({i: "bogus" if i == 2 else "yes_no" for i in range(4)},
                           [(0, "yes"), (1, "no"), (2, "no"), (3, "yes")])
    assert codes == {0: (-1, -1, -1, -1)}  # an unknown type fails the instance, as the official try/except does
