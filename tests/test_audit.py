"""`crpo audit` end to end with the tiny random Qwen3-VL: the synthetic world's bench and the shared real clips,
resume after a kill, 2 processes under `accelerate launch`, bad input, `crpo report` of two audits.

The random model's answers mean nothing; the tests check what must hold whatever they are: a clip transformed on the
fly is the world's materialised twin (the same answers and distributions), distributions are normalised, the
numbers are the ones recomputed from the rows, and resumed or sharded runs equal one uninterrupted process.
"""
import json
import math
import shutil
from pathlib import Path

import pytest
from shared_data import VIDEOS

from crpo.bench.audit import audit, choices_of, route_of
from crpo.bench.audit_metrics import CLIPS
from crpo.cli import main as crpo_main
from crpo.data.items import Item, load_items, write_jsonl

NUM_FRAMES = 4
MAX_NEW_TOKENS = 6
ARGS = ["--num-frames", NUM_FRAMES, "--max-new-tokens", MAX_NEW_TOKENS]


def rows_of(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, filter(None, path.read_text(encoding="utf-8").split("\n")))}


def assert_same_rows(got: dict, want: dict) -> None:
    """Outputs and answers equal; log-probabilities equal to float tolerance (other batch compositions)."""
    assert sorted(got) == sorted(want)
    for key, row in want.items():
        for clip in CLIPS:
            a, b = got[key]["clips"][clip], row["clips"][clip]
            assert (a["output"], a["answer"]) == (b["output"], b["answer"]), (key, clip)
            assert (a["logp"] is None) == (b["logp"] is None)
            if a["logp"] is not None:
                assert a["logp"] == pytest.approx(b["logp"], abs=1e-5), (key, clip)


def audit_json(out: Path) -> dict:
    return json.loads((out / "audit.json").read_text())


def assert_same_numbers(got: dict, want: dict) -> None:
    """Every number of two audit.json files, overall, per category and per class (divergences to 1e-5)."""
    for group in ("per_category", "per_class"):
        assert sorted(got[group]) == sorted(want[group])
    pairs = [(got["overall"], want["overall"])] + [(got[g][k], want[g][k]) for g in ("per_category", "per_class")
                                                   for k in want[g]]
    for a, b in pairs:
        assert a == pytest.approx(b, abs=1e-5)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_model, world) -> Path:
    out = tmp_path_factory.mktemp("audit") / "reference"
    audit(tiny_model, world / "bench.jsonl", world, out, batch_size=4, num_frames=NUM_FRAMES,
          max_new_tokens=MAX_NEW_TOKENS)
    return out


def test_audit_of_the_world_bench(reference, world):
    items = load_items(world / "bench.jsonl")
    rows = rows_of(reference / "predictions.jsonl")
    assert sorted(rows) == sorted(it.id for it in items)
    by_id = {it.id: it for it in items}
    for it in items:
        for clip in CLIPS:
            logp = rows[it.id]["clips"][clip]["logp"]
            assert len(logp) == len(choices_of(it))
            assert math.fsum(math.exp(v) for v in logp) == pytest.approx(1.0, abs=1e-6)
        # The world's twin is its source clip transformed and written losslessly: the clip the audit transforms on
        # the fly must be that very clip, so the model answers it alike.
        if "twin_of" in it.extra:
            source, transform = rows[it.extra["twin_of"]]["clips"], it.extra["twin_transform"]
            twin = rows[it.id]["clips"]
            for a, b in ((source[transform], twin["original"]), (twin[transform], source["original"])):
                assert a["output"] == b["output"] and a["logp"] == pytest.approx(b["logp"], abs=1e-5)
    result = json.loads((reference / "audit.json").read_text())
    overall = result["overall"]
    # recomputed from the rows, without the metric module
    right = [rows[i]["clips"]["original"]["answer"] == by_id[i].answer for i in rows]
    assert overall["acc"] == pytest.approx(sum(right) / len(right))
    dynamic = [it for it in items if route_of(it)["relation"] == "change"]
    changed = [rows[it.id]["clips"]["original"]["answer"] is not None and rows[it.id]["clips"]["original"]["answer"]
               != rows[it.id]["clips"][route_of(it)["transform"]]["answer"] for it in dynamic]
    assert overall["change_rate_n"] == len(dynamic) > 0
    assert overall["change_rate"] == pytest.approx(sum(changed) / len(changed))
    assert overall["divergence"] >= 0 and overall["divergence_n"] == len(items)
    assert set(result["per_category"]) == {it.category for it in items}
    records = [json.loads(line) for line in (reference / "records.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == [it.id for it in items]
    table = (reference / "audit.md").read_text()
    assert "| **overall** | 16 |" in table and "category moving_direction" in table
    assert (reference / "audit.png").stat().st_size > 1000


@pytest.mark.parametrize("arch", ["qwen3_vl", "qwen2_5_vl"])
def test_audit_on_real_clips(tmp_path, tiny_models, arch):
    """bikes.mp4 and a segment of bigbuckbunny.mp4 (real H.264), four problem types, both model families; `crpo
    audit` as a user runs it."""
    tiny_model = tiny_models[arch]
    items = [
        Item("bikes-dir", "bikes.mp4", "Which way do the cyclists ride?", "A", options=["to the left", "to the right"],
             category="moving_direction"),
        Item("bikes-yes", "bikes.mp4", "Is there a bicycle in the video?", "yes", problem_type="yes_no",
             category="static_attribute"),
        Item("bunny-order", "bigbuckbunny.mp4", "What happens first?", "B", options=["the rabbit stands up",
             "the rabbit wakes up", "the butterfly lands"], category="event_sequence", start=1.0, end=4.0),
        Item("bunny-what", "bigbuckbunny.mp4", "What animal is shown?", "a rabbit", problem_type="free_form"),
    ]
    write_jsonl(tmp_path / "items.jsonl", items)
    out = tmp_path / "audit"
    rc = crpo_main(["audit", "--model", str(tiny_model), "--items", str(tmp_path / "items.jsonl"), "--video-root",
                    str(VIDEOS), "--out", str(out), "--max-pixels", str(96 * 96), *map(str, ARGS)])
    assert rc in (0, None)
    rows = rows_of(out / "predictions.jsonl")
    assert sorted(rows) == sorted(it.id for it in items)
    assert rows["bunny-what"]["clips"]["original"]["logp"] is None  # free text: no choices to read
    assert len(rows["bunny-order"]["clips"]["reverse"]["logp"]) == 3
    result = json.loads((out / "audit.json").read_text())
    assert result["overall"]["items"] == 4 and result["overall"]["divergence_n"] <= 3
    assert result["num_frames"] == NUM_FRAMES and result["max_pixels"] == 96 * 96


def test_killed_audit_resumes_to_the_uninterrupted_rows(tmp_path, run_crpo, tiny_model, world, reference):
    out = tmp_path / "resumed"
    out.mkdir()
    lines = (reference / "predictions.jsonl").read_text(encoding="utf-8").split("\n")
    (out / "predictions.jsonl").write_text("\n".join(lines[:5]) + "\n" + lines[5][:40], encoding="utf-8")  # torn
    run_crpo(["audit", "--model", tiny_model, "--items", world / "bench.jsonl", "--video-root", world, "--out", out,
              "--batch-size", 3, *ARGS])
    assert_same_rows(rows_of(out / "predictions.jsonl"), rows_of(reference / "predictions.jsonl"))
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 16  # each id once
    assert_same_numbers(audit_json(out), audit_json(reference))


def test_two_process_audit_equals_one_process(tmp_path, run_crpo, tiny_model, world, reference):
    out = tmp_path / "ddp"
    ddp = Path(__file__).parents[1] / "configs" / "accelerate" / "ddp.yaml"
    run_crpo(["launch", "--config_file", ddp, "--num_processes", 2, "-m", "crpo.cli", "audit", "--model",
              tiny_model, "--items", world / "bench.jsonl", "--video-root", world, "--out", out, "--batch-size", 2,
              *ARGS], script="accelerate", timeout=300)
    assert_same_rows(rows_of(out / "predictions.jsonl"), rows_of(reference / "predictions.jsonl"))
    assert not list(out.glob("predictions.rank*.jsonl"))
    assert_same_numbers(audit_json(out), audit_json(reference))


def test_report_compares_two_audits(tmp_path, reference, capsys):
    other = tmp_path / "trained"
    shutil.copytree(reference, other)
    result = json.loads((other / "audit.json").read_text())
    result["overall"]["change_rate"] = 0.75
    (other / "audit.json").write_text(json.dumps(result))
    assert crpo_main(["report", str(reference), str(other), "--out", str(tmp_path / "rep")]) in (0, None)
    table = (tmp_path / "rep" / "report.md").read_text()
    assert "| **overall** | reference |" in table and "| **overall** | trained | 16 | " in table
    assert " 75.0 |" in table
    assert (tmp_path / "rep" / "report.png").stat().st_size > 1000
    # the runs/X/audit layout: two folders named audit are told apart by their parents, as crpo report does for eval
    for run in ("base", "crpo"):
        shutil.copytree(other, tmp_path / "runs" / run / "audit")
    assert crpo_main(["report", str(tmp_path / "runs" / "base" / "audit"), str(tmp_path / "runs" / "crpo" / "audit"),
                      "--out", str(tmp_path / "rep2")]) in (0, None)
    table = (tmp_path / "rep2" / "report.md").read_text()
    assert "| **overall** | base/audit |" in table and "| **overall** | crpo/audit |" in table


def test_bad_input_is_one_line(tmp_path, tiny_model, world, capsys):
    twin = Item("t", "videos/bench/bench-00000.mp4", "Which way?", "A", options=["left", "right"], transform="reverse")
    write_jsonl(tmp_path / "items.jsonl", [twin])
    rc = crpo_main(["audit", "--model", str(tiny_model), "--items", str(tmp_path / "items.jsonl"), "--video-root",
                    str(world), "--out", str(tmp_path / "a"), *map(str, ARGS)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith(f"error: {tmp_path / 'items.jsonl'}: item 't': already carries transform "
                                          "'reverse'")
    # a missing video and an over-long question: named with the item before the model loads (nothing written)
    missing = Item("m", "videos/none.mp4", "Which way?", "A", options=["left", "right"])
    write_jsonl(tmp_path / "items.jsonl", [missing])
    rc = crpo_main(["audit", "--model", str(tiny_model), "--items", str(tmp_path / "items.jsonl"), "--video-root",
                    str(world), "--out", str(tmp_path / "c"), *map(str, ARGS)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith(f"error: {tmp_path / 'items.jsonl'}: item 'm': "), err
    long = Item("l", "videos/bench/bench-00000.mp4", "Which way? " * 400, "A", options=["left", "right"])
    write_jsonl(tmp_path / "items.jsonl", [long])
    rc = crpo_main(["audit", "--model", str(tiny_model), "--items", str(tmp_path / "items.jsonl"), "--video-root",
                    str(world), "--out", str(tmp_path / "d"), "--max-text-tokens", "100", *map(str, ARGS)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith(f"error: {tmp_path / 'items.jsonl'}: item 'l': its prompt text is "), err
    assert not (tmp_path / "c" / "predictions.jsonl").exists() and not (tmp_path / "d" / "predictions.jsonl").exists()
    rc = crpo_main(["audit", "--model", str(tiny_model), "--items", str(tmp_path / "none.jsonl"), "--video-root",
                    str(world), "--out", str(tmp_path / "b")])
    assert rc == 2 and "none.jsonl" in capsys.readouterr().err


def test_rows_of_other_settings_are_never_resumed(tmp_path, tiny_model, world, reference, capsys):
    out = tmp_path / "other"
    shutil.copytree(reference, out)
    rc = crpo_main(["audit", "--model", str(tiny_model), "--items", str(world / "bench.jsonl"), "--video-root",
                    str(world), "--out", str(out), "--num-frames", "2", "--max-new-tokens", str(MAX_NEW_TOKENS)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith(f"error: {out} holds predictions of another evaluation (num_frames was 4, "
                                          "now 2)")
