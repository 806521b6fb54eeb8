"""The paired-benchmark evaluator end to end: build -> eval -> score -> report, kill and resume, --limit.

Runs on the session fixtures of conftest.py (a tiny random Qwen3-VL and a synthetic world whose bench.jsonl holds
8 pairs). The random model rarely writes a parseable answer, so the tests check the plumbing against values they
compute themselves (ids, extracted answers, item and pair counts, accuracies) rather than expecting a good score.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crpo.bench.evaluate import evaluate, read_done
from crpo.bench.score import dybench_metrics
from crpo.cli import main as crpo_main
from crpo.data.items import DataError, load_items, write_jsonl
from crpo.rl.answers import extract_answer

BIN = Path(sys.executable).parent
NUM_FRAMES = 4       # of the world's 8: halves the vision tokens
MAX_NEW_TOKENS = 8   # a random model never stops early: every row decodes this many tokens


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


def eval_args(model, bench, video_root, out, *extra) -> list:
    return ["eval", "--model", model, "--bench", bench, "--format", "dybench", "--video-root", video_root,
            "--out", out, "--num-frames", NUM_FRAMES, "--max-new-tokens", MAX_NEW_TOKENS, *extra]


def own_metrics(items, rows) -> tuple[float, float]:
    """Acc and P-Acc recomputed from the rows (answers are already canonical: extract_answer's output)."""
    answer = {r["id"]: r["answer"] for r in rows}
    right = {it.id: answer.get(it.id) == (it.answer.lower() if it.problem_type == "yes_no" else it.answer)
             for it in items}
    pairs: dict[str, list[bool]] = {}
    for it in items:
        if it.pair_id is not None:
            pairs.setdefault(it.pair_id, []).append(right[it.id])
    whole = [all(v) for v in pairs.values() if len(v) == 2]
    return sum(right.values()) / len(items), sum(whole) / len(whole)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_model, world) -> Path:
    """An uninterrupted in-process evaluation of the world's bench, one item at a time."""
    out = tmp_path_factory.mktemp("eval") / "reference"
    evaluate(tiny_model, world / "bench.jsonl", "dybench", world, out, batch_size=1, num_frames=NUM_FRAMES,
             max_new_tokens=MAX_NEW_TOKENS)
    return out


@pytest.fixture(scope="module")
def built_bench(tmp_path_factory, run_crpo, world) -> Path:
    """`crpo bench build` of the world's training items (twins transformed at load time)."""
    out = tmp_path_factory.mktemp("bench") / "B"
    run_crpo(["bench", "build", "--items", world / "train.jsonl", "--video-root", world, "--out", out])
    return out / "bench.jsonl"


def test_bench_build_pairs_every_item_with_a_transformed_twin(built_bench, world):
    train = {it.id: it for it in load_items(world / "train.jsonl")}
    items = load_items(built_bench)
    assert len(items) >= 2 and len(items) % 2 == 0
    for original, twin in zip(items[::2], items[1::2]):
        assert original.id in train and original.transform is None
        assert twin.pair_id == original.pair_id == original.id and twin.extra["twin_of"] == original.id
        assert twin.transform in ("hflip", "reverse", "hflip+reverse") and twin.video == original.video
        assert (twin.answer == original.answer) == (twin.extra["relation"] == "same")


def test_cli_eval_score_report(tmp_path, capsys, run_crpo, tiny_model, world, reference):
    bench = world / "bench.jsonl"
    items = load_items(bench)
    out = tmp_path / "E1"
    run_crpo(eval_args(tiny_model, bench, world, out, "--batch-size", 4))

    rows = rows_of(out / "predictions.jsonl")
    assert [r["id"] for r in rows] == [it.id for it in items]
    for it, row in zip(items, rows):
        assert isinstance(row["output"], str) and row["output"]
        assert row["answer"] == extract_answer(row["output"], it.problem_type, it.options)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["items"] == len(items) and metrics["pairs"] == len(items) // 2
    assert metrics["missing"] == 0 and metrics["unparsed"] == sum(r["answer"] is None for r in rows)
    acc, p_acc = own_metrics(items, rows)
    assert 0 <= metrics["acc"] <= 1 and 0 <= metrics["p_acc"] <= 1
    assert metrics["acc"] == pytest.approx(acc) and metrics["p_acc"] == pytest.approx(p_acc)

    # score and report run in-process through the same command line (a subprocess would add seconds of imports)
    capsys.readouterr()
    assert crpo_main(["score", "--format", "dybench", "--data", str(bench), "--predictions",
                      str(out / "predictions.jsonl")]) == 0
    assert json.loads(capsys.readouterr().out) == metrics

    report = tmp_path / "R"
    assert crpo_main(["report", str(out), str(reference), "--out", str(report)]) == 0
    table = (report / "report.md").read_text()
    assert "| metric | E1 | reference |" in table
    ref_metrics = json.loads((reference / "metrics.json").read_text())
    assert f"| P-Acc | {100 * metrics['p_acc']:.1f} | {100 * ref_metrics['p_acc']:.1f} |" in table
    assert (report / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_of_a_materialized_bench(tmp_path, run_crpo, tiny_model, world):
    few = tmp_path / "few.jsonl"
    write_jsonl(few, load_items(world / "train.jsonl")[:3])
    run_crpo(["bench", "build", "--items", few, "--video-root", world, "--out", tmp_path / "BM", "--materialize"])
    items = load_items(tmp_path / "BM" / "bench.jsonl")
    twins = items[1::2]
    assert len(items) == 6 and all(t.transform is None and t.extra["materialized"] for t in twins)
    assert all((world / t.video).resolve().parent == (tmp_path / "BM" / "videos").resolve() for t in twins)

    metrics = evaluate(tiny_model, tmp_path / "BM" / "bench.jsonl", "dybench", world, tmp_path / "E", batch_size=6,
                       num_frames=NUM_FRAMES, max_new_tokens=MAX_NEW_TOKENS)
    rows = rows_of(tmp_path / "E" / "predictions.jsonl")
    assert [r["id"] for r in rows] == [it.id for it in items]
    assert (metrics["items"], metrics["pairs"]) == (6, 3)
    assert (metrics["acc"], metrics["p_acc"]) == pytest.approx(own_metrics(items, rows))


def test_killed_eval_resumes_to_the_uninterrupted_predictions(tmp_path, tiny_model, world, reference):
    bench = world / "bench.jsonl"
    total = len(load_items(bench))
    out = tmp_path / "E"
    args = [str(a) for a in eval_args(tiny_model, bench, world, out, "--batch-size", 1)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([str(BIN / "crpo"), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pred = out / "predictions.jsonl"
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if pred.exists() and 0 < pred.read_bytes().count(b"\n") < total - 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    assert proc.wait(timeout=60) == -signal.SIGKILL, "eval finished before it could be killed"
    before = pred.read_text(encoding="utf-8")
    assert 0 < before.count("\n") < total

    assert crpo_main(args) == 0  # the same command again, in-process
    after = pred.read_text(encoding="utf-8")
    complete = before[:before.rfind("\n") + 1]  # a torn last line, if the kill made one, is dropped
    assert after.startswith(complete), "rows written before the kill must stay as they were"
    rows = rows_of(pred)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == total
    ref = {r["id"]: r for r in rows_of(reference / "predictions.jsonl")}
    assert {r["id"]: r for r in rows} == ref
    assert json.loads((out / "metrics.json").read_text()) == json.loads((reference / "metrics.json").read_text())


def test_torn_last_line_is_repaired(tmp_path, tiny_model, world, reference):
    lines = (reference / "predictions.jsonl").read_bytes().split(b"\n")[:-1]
    keep = len(lines) - 4
    torn = lines[keep][: len(lines[keep]) // 2]
    if any(b > 127 for b in lines[keep]):  # cut inside a multi-byte character when the output has one
        first = next(i for i, b in enumerate(lines[keep]) if b > 127)
        torn = lines[keep][: first + 1]
    out = tmp_path / "E"
    out.mkdir()
    (out / "predictions.jsonl").write_bytes(b"\n".join(lines[:keep]) + b"\n" + torn)

    evaluate(tiny_model, world / "bench.jsonl", "dybench", world, out, batch_size=4, num_frames=NUM_FRAMES,
             max_new_tokens=MAX_NEW_TOKENS)
    text = (out / "predictions.jsonl").read_text(encoding="utf-8")
    assert text.endswith("\n") and text.split("\n")[:keep] == [l.decode() for l in lines[:keep]]
    rows = rows_of(out / "predictions.jsonl")
    assert [r["id"] for r in rows] == [json.loads(l)["id"] for l in lines]
    assert rows[:keep] == rows_of(reference / "predictions.jsonl")[:keep]


def test_read_done_keeps_rows_with_unicode_line_separators(tmp_path):
    """json.dumps(ensure_ascii=False) leaves U+2028 / U+0085 raw; they are not line breaks in JSONL."""
    path = tmp_path / "predictions.jsonl"
    rows = [{"id": "a", "output": "left\u2028right\x85", "answer": "A"}, {"id": "b", "output": "x", "answer": None}]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")
    assert read_done(path) == {r["id"]: r for r in rows}
    assert path.read_text(encoding="utf-8") == text  # nothing to repair: the file is left as it was


def test_limit_scores_only_the_evaluated_items(tmp_path, tiny_model, world, built_bench):
    items = load_items(built_bench)
    limit = 7  # three whole pairs and the original of a fourth, whose twin is not evaluated
    out = tmp_path / "E"
    metrics = evaluate(tiny_model, built_bench, "dybench", world, out, batch_size=4, num_frames=NUM_FRAMES,
                       max_new_tokens=MAX_NEW_TOKENS, limit=limit)
    rows = rows_of(out / "predictions.jsonl")
    assert [r["id"] for r in rows] == [it.id for it in items[:limit]]
    assert (metrics["items"], metrics["pairs"]) == (limit, limit // 2)
    assert metrics["missing"] == 0 and metrics["unparsed"] == sum(r["answer"] is None for r in rows)
    acc, p_acc = own_metrics(items[:limit], rows)
    assert metrics["acc"] == pytest.approx(acc) and metrics["p_acc"] == pytest.approx(p_acc)

    subset = load_items(out / "bench_subset.jsonl")
    assert [it.id for it in subset] == [it.id for it in items[:limit]]
    assert subset[-1].pair_id is None and all(it.pair_id for it in subset[:-1])
    assert dybench_metrics(subset, {r["id"]: r["answer"] for r in rows}) == metrics
    assert json.loads((out / "metrics.json").read_text()) == metrics

    # Resuming without the limit evaluates the rest only and scores the whole bench.
    shutil.copy(out / "predictions.jsonl", tmp_path / "limited.jsonl")
    full = evaluate(tiny_model, built_bench, "dybench", world, out, batch_size=8, num_frames=NUM_FRAMES,
                    max_new_tokens=MAX_NEW_TOKENS)
    rows = rows_of(out / "predictions.jsonl")
    assert (out / "predictions.jsonl").read_text().startswith((tmp_path / "limited.jsonl").read_text())
    assert [r["id"] for r in rows] == [it.id for it in items] and full["items"] == len(items)
    # ... after which a limited run into the same directory cannot score its subset: a clear error, not wrong metrics
    with pytest.raises(DataError, match="beyond --limit 7"):
        evaluate(tiny_model, built_bench, "dybench", world, out, limit=limit, num_frames=NUM_FRAMES,
                 max_new_tokens=MAX_NEW_TOKENS)  # the same evaluation (other settings: eval_run.json refuses first)


def test_two_process_eval_shards_by_pair_merges_and_resumes(tmp_path, run_crpo, tiny_model, world, reference):
    """`accelerate launch --num_processes 2 -m crpo.cli eval`: both ranks evaluate (their own rank files), whole
    pairs stay on one rank, the merge equals a one-process evaluation; a rerun after a partial run resumes."""
    from crpo.bench.evaluate import shard_by_pair
    items = load_items(world / "bench.jsonl")
    shards = [shard_by_pair(items, r, 2) for r in (0, 1)]
    assert sorted(it.id for s in shards for it in s) == sorted(it.id for it in items) and all(shards)
    for pair in {it.pair_id for it in items if it.pair_id}:
        assert len({r for r, s in enumerate(shards) for it in s if it.pair_id == pair}) == 1

    out = tmp_path / "E2"
    out.mkdir()
    # A partial earlier run: the first two reference rows, as a rank file of a killed 2-process run.
    (out / "predictions.rank1.jsonl").write_text("".join(
        json.dumps(r) + "\n" for r in rows_of(reference / "predictions.jsonl")[:2]))
    ddp = Path(__file__).parents[1] / "configs" / "accelerate" / "ddp.yaml"
    proc = run_crpo(["launch", "--config_file", ddp, "--num_processes", "2", "-m", "crpo.cli",
                     *eval_args(tiny_model, world / "bench.jsonl", world, out, "--batch-size", 2)],
                    script="accelerate", timeout=300)
    rows = rows_of(out / "predictions.jsonl")
    assert sorted(r["id"] for r in rows) == sorted(it.id for it in items)  # each id once
    assert {r["id"]: r for r in rows} == {r["id"]: r for r in rows_of(reference / "predictions.jsonl")}
    assert not list(out.glob("predictions.rank*.jsonl"))  # merged away
    assert json.loads((out / "metrics.json").read_text()) == json.loads((reference / "metrics.json").read_text())
    assert proc.returncode == 0


def test_eval_defaults_come_from_the_training_run(tmp_path, tiny_model):
    from crpo.bench.evaluate import RUN_KEYS, run_defaults
    run = tmp_path / "run"
    shutil.copytree(tiny_model, run / "final")
    assert run_defaults(run / "final") == (RUN_KEYS, None)  # no run config: the evaluator's own defaults
    (run / "config.json").write_text(json.dumps({"algorithm": "crpo", "num_frames": 16, "max_pixels": 200704,
                                                 "answer_format": "think", "max_new_tokens": 768,
                                                 "dtype": "bfloat16", "learning_rate": 1e-6}))
    values, source = run_defaults(run / "final")
    assert source == run / "config.json"
    assert values == {"num_frames": 16, "max_pixels": 200704, "answer_format": "think", "max_new_tokens": 768,
                      "dtype": "bfloat16"}
