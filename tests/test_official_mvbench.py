"""MVBench and TVBench scorers against lmms-eval 0.7.3's own task code, on generated mixed-style outputs (3 seeds).

Every task of both benchmarks gets generated questions (2-5 candidates; number candidates on TVBench's count tasks)
and outputs in the styles of tests/mixed_outputs.py, some rows missing and some given as an `answer` field only. The
same outputs go to lmms-eval (tests/lmms_reference.py: its task YAMLs and utils.py, its loader and evaluation loop;
a missing row is an empty output there) and to `crpo score`, in both input modes (our items JSONL and the official
json/<task>.json folder). Per-task accuracies must be equal.
"""
import json
import random

import pytest
from lmms_reference import official_yaml, replayed_outputs, run_official
from mixed_outputs import mc_output, options, prediction_rows

from crpo.bench.score import score_file
from crpo.data.items import LETTERS, Item, write_jsonl

MVBENCH_TASKS = ["action_sequence", "moving_count", "action_prediction", "episodic_reasoning", "action_antonym",
                 "action_count", "scene_transition", "object_shuffle", "object_existence", "fine_grained_pose",
                 "unexpected_action", "moving_direction", "state_change", "object_interaction", "character_order",
                 "action_localization", "counterfactual_inference", "fine_grained_action", "moving_attribute",
                 "egocentric_navigation"]
TVBENCH_TASKS = ["action_antonym", "action_count", "action_localization", "action_sequence", "egocentric_sequence",
                 "moving_direction", "object_count", "object_shuffle", "scene_transition", "unexpected_action"]
COUNT_TASKS = ("action_count", "object_count")
PER_TASK = 14
SEEDS = (0, 1, 2)


def generate(rng, tasks):
    """(items, {task: rows of the official json/<task>.json}, {item id: output})."""
    items, files, outputs = [], {}, {}
    for task in tasks:
        for i in range(PER_TASK):
            k = rng.randint(2, 5)
            opts = [str(x) for x in rng.sample(range(7), k)] if task in COUNT_TASKS else options(rng, k)
            gold = rng.randrange(k)
            item = Item(f"{task}-{i}", f"{task}/{i}.mp4", f"Question {i} about {task}?", LETTERS[gold],
                        options=opts, category=task)
            items.append(item)
            files.setdefault(task, []).append({"video": item.video, "question": item.question, "candidates": opts,
                                               "answer": opts[gold]})
            outputs[item.id] = mc_output(rng, opts, gold)
    return items, files, outputs


def write_inputs(tmp, items, files, rows):
    write_jsonl(tmp / "items.jsonl", items)
    write_jsonl(tmp / "pred.jsonl", rows)
    (tmp / "json").mkdir()
    for task, task_rows in files.items():
        (tmp / "json" / f"{task}.json").write_text(json.dumps(task_rows))


def official_run(tmp, bench, tasks, items, files, rows):
    """lmms-eval's per-task numbers and logged samples; a missing prediction is an empty output."""
    runs = {}
    for task in tasks:
        ids = [it.id for it in items if it.category == task]
        runs[f"ref_{bench}_{task}"] = (official_yaml(f"{bench}/{bench}_{task}.yaml"), files[task],
                                       replayed_outputs(rows, ids))
    return run_official(tmp, runs)


@pytest.fixture(scope="module", params=SEEDS)
def seeded(request, tmp_path_factory):
    """One seed: {bench: (folder with items.jsonl, json/ and pred.jsonl; items; lmms-eval's results)}."""
    tmp = tmp_path_factory.mktemp(f"mv_seed{request.param}")
    rng = random.Random(request.param)
    out = {}
    for bench, tasks in (("mvbench", MVBENCH_TASKS), ("tvbench", TVBENCH_TASKS)):
        items, files, outputs = generate(rng, tasks)
        rows, _ = prediction_rows(rng, list(outputs), list(outputs.values()))
        (tmp / bench).mkdir()
        write_inputs(tmp / bench, items, files, rows)
        out[bench] = (tmp / bench, items, official_run(tmp / f"ref_{bench}", bench, tasks, items, files, rows))
    return out


@pytest.mark.parametrize("mode", ["items", "official_files"])
def test_mvbench_equals_lmms_eval(seeded, mode):
    path, items, ref = seeded["mvbench"]
    data = path / ("items.jsonl" if mode == "items" else "json")
    m = score_file("mvbench", data, path / "pred.jsonl")
    assert m["quirks"] == {"empty_excluded": True}
    for task in MVBENCH_TASKS:
        assert 100 * m["per_task"][task]["acc"] == pytest.approx(ref["results"][f"ref_mvbench_{task}"]
                                                                  ["mvbench_accuracy"], abs=1e-9), task
    assert m["empty"] > 0 and m["missing"] > 0  # the generated set does exercise the quirk


def test_mvbench_empty_counted_wrong_equals_lmms_eval_per_doc_scores(seeded):
    path, items, ref = seeded["mvbench"]
    m = score_file("mvbench", path / "items.jsonl", path / "pred.jsonl", quirks=["empty_excluded=off"])
    for task in MVBENCH_TASKS:
        scores = [s["mvbench_accuracy"]["score"] for s in ref["samples"][f"ref_mvbench_{task}"]]
        assert m["per_task"][task]["acc"] == pytest.approx(sum(scores) / len(scores), abs=1e-12), task
    default = score_file("mvbench", path / "items.jsonl", path / "pred.jsonl")
    assert m["mean_task_acc"] < default["mean_task_acc"]  # counting empties wrong can only lower it


@pytest.mark.parametrize("mode", ["items", "official_files"])
def test_tvbench_index_target_on_equals_lmms_eval(seeded, mode):
    path, items, ref = seeded["tvbench"]
    data = path / ("items.jsonl" if mode == "items" else "json")
    m = score_file("tvbench", data, path / "pred.jsonl", quirks={"index_target": True})
    for task in TVBENCH_TASKS:
        assert m["per_task"][task]["acc"] == pytest.approx(ref["results"][f"ref_tvbench_{task}"]["tvbench_acc"],
                                                           abs=1e-12), task


def test_tvbench_default_differs_from_lmms_eval_only_where_its_gold_letter_is_an_index(seeded):
    """Our gold letter is the answer text's; lmms-eval's (logged as the target) differs only where that text is a
    number (read as an index) or one letter (read as a letter): the count tasks, and the option "b" of WORDS."""
    path, items, ref = seeded["tvbench"]
    m = score_file("tvbench", path / "items.jsonl", path / "pred.jsonl")
    assert m["quirks"] == {"index_target": False}
    wrong_gold = 0
    for task in TVBENCH_TASKS:
        task_items = [it for it in items if it.category == task]
        samples = sorted(ref["samples"][f"ref_tvbench_{task}"], key=lambda s: s["doc_id"])
        for s, it in zip(samples, task_items):
            text = it.options[LETTERS.index(it.answer)]
            if s["target"] != it.answer:
                assert text.isdigit() or (len(text) == 1 and text.isalpha()), (it.id, text, s["target"])
                wrong_gold += 1
        if all(s["target"] == it.answer for s, it in zip(samples, task_items)):
            assert m["per_task"][task]["acc"] == pytest.approx(ref["results"][f"ref_tvbench_{task}"]["tvbench_acc"])
    assert wrong_gold > 0  # the generated set does exercise the quirk
