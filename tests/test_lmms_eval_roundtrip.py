"""Paired benches out, lmms-eval logs in: a synthetic bench built with `crpo bench build --lmms-eval-task`, loaded by
lmms-eval 0.7.3's own TaskManager, run by its evaluation loop with recorded outputs (no model), its samples written
by its EvaluationTracker as `--log_samples` writes them, and scored by `crpo score --lmms-eval-samples`.
"""
import copy
import json
import random
from pathlib import Path

import pytest
from lmms_reference import evaluate_tasks, save_samples
from mixed_outputs import mc_output

from crpo.bench.lmms_task import write_lmms_task
from crpo.bench.score import score_file
from crpo.cli import main as crpo_main
from crpo.data.items import LETTERS, DataError, load_items, write_jsonl
from crpo.data.prompts import question_text

TASK = "crpo_synthetic"


@pytest.fixture(scope="module")
def roundtrip(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("roundtrip")
    from crpo.synth import generate
    generate(out=tmp / "world", train=10, bench_pairs=1, seed=3)
    assert crpo_main(["bench", "build", "--items", str(tmp / "world" / "train.jsonl"), "--video-root",
                      str(tmp / "world"), "--out", str(tmp / "bench"), "--lmms-eval-task", str(tmp / "task"),
                      "--lmms-eval-task-name", TASK]) == 0
    items = load_items(tmp / "bench" / "bench.jsonl")
    rng = random.Random(0)
    outputs = [mc_output(rng, it.options, LETTERS.index(it.answer)) for it in items]
    result = evaluate_tasks(tmp / "task", {TASK: outputs}, hf_home=tmp / "hf_home")
    logged = copy.deepcopy(result["samples"][TASK])  # the tracker below pops fields off the samples it writes
    samples = save_samples(result, tmp / "lmms_out")[TASK]
    return tmp, items, outputs, result, logged, samples


def test_lmms_eval_loads_the_task_and_sees_our_prompts_and_videos(roundtrip):
    tmp, items, _, result, logged, _ = roundtrip
    assert len(items) >= 8 and all(it.pair_id for it in items)
    by_doc = sorted(logged, key=lambda s: s["doc_id"])
    assert [s["doc"]["id"] for s in by_doc] == [it.id for it in items]  # docs in bench order
    assert [s["arguments"][0] for s in by_doc] == [question_text(it) for it in items]  # the prompt lmms-eval sent
    assert [s["target"] for s in by_doc] == [it.answer for it in items]
    import importlib.util
    spec = importlib.util.spec_from_file_location("crpo_task_utils", tmp / "task" / "utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    for s in by_doc:
        (video,) = utils.doc_to_visual(s["doc"])
        assert Path(video).is_file(), video  # twins are materialized: a real file per item


def test_samples_file_scores_like_our_predictions_and_like_the_task_metric(roundtrip):
    tmp, items, outputs, result, _, samples = roundtrip
    write_jsonl(tmp / "pred.jsonl", [{"id": it.id, "output": out} for it, out in zip(items, outputs)])
    ours = score_file("dybench", tmp / "bench" / "bench.jsonl", tmp / "pred.jsonl")
    via_lmms = score_file("dybench", tmp / "bench" / "bench.jsonl", lmms_eval_samples=[samples])
    assert via_lmms == ours
    assert 0 < ours["acc"] < 1 and ours["pairs"] == len(items) // 2
    task_result = result["results"][TASK]
    assert task_result["acc,none"] == pytest.approx(ours["acc"])
    assert task_result["p_acc,none"] == pytest.approx(ours["p_acc"])


def test_cli_reads_samples_and_rejects_another_bench(roundtrip, capsys):
    tmp, items, _, _, _, samples = roundtrip
    assert crpo_main(["score", "--format", "dybench", "--data", str(tmp / "bench" / "bench.jsonl"),
                      "--lmms-eval-samples", str(samples)]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == len(items)
    # rows joined by doc_id only (no logged id) must still match the bench's answers
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    for r in rows:
        r.pop("acc"), r.pop("p_acc")
    stripped = tmp / "no_ids.jsonl"
    stripped.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert score_file("dybench", tmp / "bench" / "bench.jsonl", lmms_eval_samples=[stripped]) == \
        score_file("dybench", tmp / "bench" / "bench.jsonl", lmms_eval_samples=[samples])
    flipped = [{**r, "target": "B" if r["target"] == "A" else "A"} for r in rows]
    (tmp / "other.jsonl").write_text("".join(json.dumps(r) + "\n" for r in flipped))
    with pytest.raises(DataError, match=r"other.jsonl:1: target '.' is not the answer '.' of item .*another bench"):
        score_file("dybench", tmp / "bench" / "bench.jsonl", lmms_eval_samples=[tmp / "other.jsonl"])
    assert crpo_main(["score", "--format", "mvbench", "--data", str(tmp / "bench" / "bench.jsonl"),
                      "--lmms-eval-samples", str(samples)]) == 2
    assert "dybench only" in capsys.readouterr().err


def test_unmaterialized_twins_and_segments_are_refused(tmp_path):
    items = load_items_from_rows(tmp_path, [
        {"id": "a", "video": "a.mp4", "question": "Which way?", "answer": "A", "options": ["left", "right"],
         "pair_id": "a"},
        {"id": "a__reverse", "video": "a.mp4", "question": "Which way?", "answer": "B", "options": ["left", "right"],
         "pair_id": "a", "transform": "reverse"}])
    with pytest.raises(DataError, match=r"bench.jsonl:2: item 'a__reverse' applies 'reverse' when loaded"
                                        r".*--materialize"):
        write_lmms_task(items, tmp_path, tmp_path / "task")
    items = load_items_from_rows(tmp_path, [
        {"id": "s", "video": "s.mp4", "question": "Which way?", "answer": "A", "options": ["l", "r"], "start": 1.0,
         "end": 2.0}])
    with pytest.raises(DataError, match=r"bench.jsonl:1: item 's' is the \[1.0, 2.0\] s segment"):
        write_lmms_task(items, tmp_path, tmp_path / "task")


def load_items_from_rows(tmp_path, rows) -> Path:
    path = tmp_path / "bench.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
