"""DyBench metrics on a hand-written paired bench, and hand-computed cases of the peer-format scorers (their
comparison with the official code: tests/test_official_*.py)."""
import json

import pytest

from crpo.bench.score import score_file
from crpo.cli import main as cli_main
from crpo.data.items import DataError, Item, write_jsonl

COLOURS = {"A": "red", "B": "blue"}


def synthetic_bench(n_dynamic=6, n_static=4) -> list[Item]:
    """Dynamic pairs (the twin's answer is the other option) and static pairs (same answer), with a colour cue.

    The colour in extra follows the original's answer and, being static, is the same on the twin: a model that
    answers from the colour is right on every original and wrong on every dynamic twin.
    """
    items = []
    for i in range(n_dynamic):
        gold = "AB"[i % 2]
        flipped = "B" if gold == "A" else "A"
        cat = "moving_direction" if i < n_dynamic // 2 else "reversible_dynamics"
        for suffix, answer, transform in (("", gold, None), ("__reverse", flipped, "reverse")):
            items.append(Item(f"d{i}{suffix}", f"d{i}.mp4", "Which way does the box move?", answer,
                              options=["left", "right"], category=cat, pair_id=f"d{i}", transform=transform,
                              extra={"colour": COLOURS[gold]}))
    for i in range(n_static):
        gold = "AB"[i % 2]
        for suffix, transform in (("", None), ("__hflip", "hflip")):
            items.append(Item(f"s{i}{suffix}", f"s{i}.mp4", "What colour is the box?", gold,
                              options=["red", "blue"], category="static_attribute", pair_id=f"s{i}",
                              transform=transform, extra={"colour": COLOURS[gold]}))
    return items


def score(tmp_path, items, predict, key="answer"):
    write_jsonl(tmp_path / "bench.jsonl", items)
    write_jsonl(tmp_path / "pred.jsonl", [{"id": it.id, key: predict(it)} for it in items])
    return score_file("dybench", tmp_path / "bench.jsonl", tmp_path / "pred.jsonl")


def test_fixed_answer_cannot_score_a_dynamic_pair(tmp_path):
    m = score(tmp_path, synthetic_bench(), lambda it: "A")
    assert m["p_acc_dynamic"] == 0.0
    assert m["per_category"]["moving_direction"]["p_acc"] == 0.0
    assert m["dynamic_change_rate"] == 0.0 and m["static_keep_rate"] == 1.0
    assert m["acc"] == pytest.approx(10 / 20)        # half of every pair type is "A"
    assert m["p_acc_static"] == pytest.approx(2 / 4)  # the static pairs whose answer is A


def test_oracle_scores_one(tmp_path):
    m = score(tmp_path, synthetic_bench(), lambda it: it.answer)
    for key in ("acc", "p_acc", "p_acc_dynamic", "p_acc_static", "static_acc", "dynamic_change_rate",
                "static_keep_rate"):
        assert m[key] == 1.0, key
    assert all(c["p_acc"] == 1.0 for c in m["per_category"].values())
    assert (m["items"], m["pairs"], m["dynamic_pairs"], m["static_pairs"]) == (20, 10, 6, 4)


def test_static_colour_shortcut_scores_zero_on_dynamic_pairs(tmp_path):
    by_colour = {v: k for k, v in COLOURS.items()}
    m = score(tmp_path, synthetic_bench(), lambda it: by_colour[it.extra["colour"]])
    assert m["p_acc_dynamic"] == 0.0
    assert m["dynamic_change_rate"] == 0.0
    assert m["static_acc"] == 1.0 and m["p_acc_static"] == 1.0  # the shortcut is right where nothing changes
    assert m["per_category"]["moving_direction"]["acc"] == pytest.approx(0.5)


def test_hand_computed_metrics_with_raw_outputs_and_a_missing_row(tmp_path):
    items = synthetic_bench(n_dynamic=2, n_static=2)  # d0: A|B, d1: B|A, s0: A|A, s1: B|B
    outputs = {"d0": "<think>it goes left</think><answer>A</answer>", "d0__reverse": "<answer>B</answer>",
               "d1": "Answer: B",                     # d1__reverse missing
               "s0": "A", "s0__hflip": "(A)", "s1": "A", "s1__hflip": "A"}
    write_jsonl(tmp_path / "bench.jsonl", items)
    write_jsonl(tmp_path / "pred.jsonl", [{"id": k, "output": v} for k, v in outputs.items()])
    m = score_file("dybench", tmp_path / "bench.jsonl", tmp_path / "pred.jsonl")
    assert m["missing"] == 1
    assert m["acc"] == pytest.approx(5 / 8)
    assert m["p_acc"] == pytest.approx(2 / 4)
    assert m["p_acc_dynamic"] == pytest.approx(1 / 2) and m["p_acc_static"] == pytest.approx(1 / 2)
    assert m["static_acc"] == pytest.approx(2 / 4)
    assert m["dynamic_change_rate"] == pytest.approx(1 / 2)  # d1 has no second answer: not a change
    assert m["static_keep_rate"] == 1.0                       # s1 is consistently wrong: still kept
    assert m["per_category"]["static_attribute"] == {"items": 4, "pairs": 2, "acc": 0.5, "p_acc": 0.5}


def test_later_prediction_row_wins_and_cli_prints_json(tmp_path, capsys):
    items = synthetic_bench(n_dynamic=2, n_static=0)
    write_jsonl(tmp_path / "bench.jsonl", items)
    rows = [{"id": it.id, "answer": "A"} for it in items] + [{"id": it.id, "answer": it.answer} for it in items]
    write_jsonl(tmp_path / "pred.jsonl", rows)
    assert cli_main(["score", "--format", "dybench", "--data", str(tmp_path / "bench.jsonl"),
                     "--predictions", str(tmp_path / "pred.jsonl")]) == 0
    assert json.loads(capsys.readouterr().out)["p_acc"] == 1.0


def test_bad_inputs_are_one_line_errors(tmp_path):
    items = synthetic_bench(n_dynamic=2, n_static=0)
    write_jsonl(tmp_path / "bench.jsonl", items)
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "nope", "answer": "A"}])
    with pytest.raises(DataError, match=r"pred.jsonl: 1 prediction id\(s\) match no benchmark item, e.g. 'nope'"):
        score_file("dybench", tmp_path / "bench.jsonl", tmp_path / "pred.jsonl")
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "d0"}])
    with pytest.raises(DataError, match=r"pred.jsonl:1: .*neither 'output' nor 'answer'"):
        score_file("dybench", tmp_path / "bench.jsonl", tmp_path / "pred.jsonl")
    items[1].pair_id = items[2].pair_id  # three items in one pair
    write_jsonl(tmp_path / "bench.jsonl", items)
    write_jsonl(tmp_path / "pred.jsonl", [])
    with pytest.raises(DataError, match=r"bench.jsonl: pair 'd\d' has [13] items"):
        score_file("dybench", tmp_path / "bench.jsonl", tmp_path / "pred.jsonl")


# --- Vinoground ------------------------------------------------------------------------------------------------

def test_vinoground_official_layout(tmp_path):
    data, out = tmp_path / "Vinoground", tmp_path / "outputs"
    data.mkdir(), out.mkdir()
    for kind, gts in (("text", {"0_pos": "A", "0_neg": "B", "1_pos": "B", "1_neg": "A"}),
                      ("video", {"0_pos": "A", "0_neg": "B", "1_pos": "A", "1_neg": "B"})):
        (data / f"vinoground_{kind}score.json").write_text(json.dumps([{"idx": k, "GT": v} for k, v in gts.items()]))
    (data / "vinoground.csv").write_text("index,major,minor\n0,action,\n1,object,interaction;cyclical\n")
    # pair 0: text right, video right -> group; pair 1: text right ("b." starts with b, case ignored), one video
    # answer wrong, the other missing.
    text = [{"idx": "0_pos", "response": "A"}, {"idx": "0_neg", "response": "B"},
            {"idx": "1_pos", "response": "b."}, {"idx": "1_neg", "response": "A, because"}]
    video = [{"idx": "0_pos", "response": "A"}, {"idx": "0_neg", "response": "B"}, {"idx": "1_pos", "response": "B"}]
    for name, rows in (("textscore", text), ("videoscore", video)):
        (out / f"{name}-response.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    m = score_file("vinoground", data, out)
    assert (m["pairs"], m["text_score"], m["video_score"], m["group_score"]) == (2, 1.0, 0.5, 0.5)
    assert m["per_category"]["object"] == {"pairs": 1, "text_score": 1.0, "video_score": 0.0, "group_score": 0.0}
    assert set(m["per_category"]) == {"action", "object", "interaction", "cyclical"}


def test_vinoground_our_items_read_with_the_official_first_character_rule(tmp_path):
    items = [Item(f"vg-{n}_{side}_{kind}", "v.mp4", "Which caption?", gold, options=["x", "y"], category="action")
             for n in range(2) for side, gold in (("pos", "A"), ("neg", "B")) for kind in ("text", "video")]
    write_jsonl(tmp_path / "items.jsonl", items)
    outputs = {it.id: it.answer.lower() + ", since" for it in items}
    outputs["vg-1_neg_video"] = "A"                          # wrong
    outputs["vg-0_pos_video"] = "<answer>A</answer>"         # crpo's extractor would read A; the official rule: "<"
    write_jsonl(tmp_path / "pred.jsonl", [{"id": k, "output": v} for k, v in outputs.items()])
    m = score_file("vinoground", tmp_path / "items.jsonl", tmp_path / "pred.jsonl")
    assert (m["text_score"], m["video_score"], m["group_score"]) == (1.0, 0.0, 0.0)


# --- TempCompass -----------------------------------------------------------------------------------------------

def test_tempcompass_official_rules_and_reverse_pairs(tmp_path):
    q = {"v1": {"direction": [{"question": "Dir?\nA. left\nB. right", "answer": "A. left"},
                              {"question": "Dir2?\nA. up\nB. down", "answer": "B. down"}],
                "action": [{"question": "Act?\nA. run\nB. swim\nC. fly", "answer": "C. fly"}]},
         "v1_reverse": {"direction": [{"question": "Dir?\nA. left\nB. right", "answer": "B. right"},
                                      {"question": "Dir2?\nA. up\nB. down", "answer": "A. up"}]}}
    p = {"v1": {"direction": [{"prediction": "A. left"}, {"prediction": "B) down</s>"}],
                "action": [{"response": "The answer is C"}]},          # unmatched by the rules: wrong
         "v1_reverse": {"direction": [{"prediction": "B"}, {"prediction": "B"}]}}
    (tmp_path / "q.json").write_text(json.dumps(q))
    (tmp_path / "p.json").write_text(json.dumps(p))
    m = score_file("tempcompass", tmp_path / "q.json", tmp_path / "p.json")
    assert m["questions"] == 5
    assert m["acc"] == pytest.approx(3 / 5)
    assert m["match_rate"] == pytest.approx(4 / 5)
    assert m["per_aspect"]["direction"]["acc"] == pytest.approx(3 / 4)
    assert m["per_aspect"]["action"]["acc"] == 0.0
    assert (m["reverse_pairs"], m["reverse_pair_acc"]) == (2, 0.5)


# --- MVBench / TVBench -----------------------------------------------------------------------------------------

def test_mvbench_per_task_and_overall(tmp_path):
    items = [Item(f"{task}-{i}", "v.mp4", "Q?", "ABC"[i % 3], options=["x", "y", "z"], category=task)
             for task, n in (("action_sequence", 4), ("object_shuffle", 2)) for i in range(n)]
    write_jsonl(tmp_path / "items.jsonl", items)
    right = {"action_sequence-0", "action_sequence-1", "object_shuffle-0", "object_shuffle-1"}
    write_jsonl(tmp_path / "pred.jsonl", [{"id": it.id, "answer": it.answer if it.id in right else None}
                                          for it in items])
    m = score_file("mvbench", tmp_path / "items.jsonl", tmp_path / "pred.jsonl", quirks=["empty_excluded=off"])
    assert m["acc"] == pytest.approx(4 / 6)
    assert m["per_task"]["action_sequence"] == {"questions": 4, "answered": 4, "acc": 0.5}
    assert m["mean_task_acc"] == pytest.approx((0.5 + 1.0) / 2)
    m = score_file("mvbench", tmp_path / "items.jsonl", tmp_path / "pred.jsonl")  # lmms-eval: empty ones left out
    assert (m["acc"], m["answered"], m["empty"], m["quirks"]) == (1.0, 4, 2, {"empty_excluded": True})


def test_quirk_switches_are_checked(tmp_path):
    write_jsonl(tmp_path / "items.jsonl", [Item("t-0", "v.mp4", "Q?", "A", options=["x", "y"], category="t")])
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "t-0", "output": "A"}])
    args = ("mvbench", tmp_path / "items.jsonl", tmp_path / "pred.jsonl")
    with pytest.raises(DataError, match=r"--quirk index_target: not a quirk of the mvbench scorer \(its quirks: "
                                        r"empty_excluded\)"):
        score_file(*args, quirks=["index_target=on"])
    with pytest.raises(DataError, match=r"--quirk empty_excluded: expected NAME=on or NAME=off"):
        score_file(*args, quirks=["empty_excluded"])
    assert score_file(*args, quirks=["mvbench.empty_excluded=off"])["quirks"] == {"empty_excluded": False}
    with pytest.raises(DataError, match=r"give --predictions FILE"):
        score_file("mvbench", tmp_path / "items.jsonl")


def test_peer_inputs_bad_layouts_are_one_line_errors(tmp_path):
    (tmp_path / "json").mkdir()
    with pytest.raises(DataError, match=r"json: no task files \(expected MVBench/TVBench json/<task>.json\)"):
        score_file("tvbench", tmp_path / "json", tmp_path / "pred.jsonl")
    (tmp_path / "json" / "action_count.json").write_text(json.dumps([{"video": "v.mp4", "question": "Q?",
                                                                      "candidates": ["1", "2"], "answer": "3"}]))
    with pytest.raises(DataError, match=r"action_count.json:row 1: answer '3' is not among the candidates"):
        score_file("mvbench", tmp_path / "json", tmp_path / "pred.jsonl")
    (tmp_path / "q.json").write_text(json.dumps({"v": {"speed": [{"question": "Fast?", "answer": "yes"}]}}))
    (tmp_path / "p.json").write_text(json.dumps({"v": {"speed": [{"prediction": "yes"}, {"prediction": "no"}]}}))
    with pytest.raises(DataError, match=r"p.json:v/speed/1: no question 1 of v/speed in .*q.json"):
        score_file("tempcompass", tmp_path / "q.json", tmp_path / "p.json")
    items = synthetic_bench(n_dynamic=1, n_static=0)
    write_jsonl(tmp_path / "bench.jsonl", items)
    (tmp_path / "samples.jsonl").write_text(json.dumps({"doc_id": 7, "target": "A", "filtered_resps": "A"}) + "\n")
    with pytest.raises(DataError, match=r"samples.jsonl:1: doc_id 7 is outside the bench's 2 items"):
        score_file("dybench", tmp_path / "bench.jsonl", lmms_eval_samples=[tmp_path / "samples.jsonl"])
