"""`crpo eval` on the mistakes users make: two runs on one --out, another model's folder, a model path that does not
exist, a run folder instead of its final/, an empty or duplicated bench, missing videos, over-long questions.

Every case runs the real command (`crpo` in a subprocess, or `crpo.cli.main`) on the tiny Qwen3-VL and the
synthetic world of conftest.py, and checks the one-line error (exit 2) and that nothing written is lost or twice.
"""
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crpo.cli import main as crpo_main
from crpo.data.items import load_items

BIN = Path(sys.executable).parent
NUM_FRAMES, MAX_NEW_TOKENS = 4, 4


def eval_cmd(model, bench, video_root, out, *extra) -> list[str]:
    return [str(BIN / "crpo"), "eval", "--model", str(model), "--bench", str(bench), "--video-root", str(video_root),
            "--out", str(out), "--num-frames", str(NUM_FRAMES), "--max-new-tokens", str(MAX_NEW_TOKENS),
            *map(str, extra)]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error")]


def ids_of(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines() if line]


def small_bench(world, tmp_path, n=4) -> Path:
    """The first n items (whole pairs) of the world's bench."""
    path = tmp_path / "bench.jsonl"
    path.write_text("".join(l + "\n" for l in (world / "bench.jsonl").read_text().splitlines()[:n]))
    return path


def test_two_evals_on_one_out_one_wins_the_other_names_the_lock(tmp_path, tiny_model, world):
    bench, out = small_bench(world, tmp_path), tmp_path / "E"
    first = subprocess.Popen(eval_cmd(tiny_model, bench, world, out, "--batch-size", 1), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    lock = out / "eval.lock"
    deadline = time.time() + 120
    while not (lock.is_file() and "pid" in lock.read_text()):  # the first run owns the folder
        assert first.poll() is None and time.time() < deadline, first.stderr.read() if first.poll() else "timeout"
        time.sleep(0.05)
    first.send_signal(signal.SIGSTOP)  # hold it there, lock taken, while the second run starts
    try:
        second = subprocess.run(eval_cmd(tiny_model, bench, world, out), capture_output=True, text=True, timeout=120)
    finally:
        first.send_signal(signal.SIGCONT)
    _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err[-2000:]
    assert second.returncode == 2
    errors = error_lines(second.stderr)
    assert len(errors) == 1 and str(lock) in errors[0] and f"pid {first.pid}" in errors[0], second.stderr
    assert "Traceback" not in second.stderr
    items = [it.id for it in load_items(bench)]
    assert ids_of(out / "predictions.jsonl") == items  # each id once: nothing written twice
    assert json.loads((out / "metrics.json").read_text())["items"] == len(items)


def test_another_models_folder_is_not_resumed(tmp_path, tiny_models, world, capsys):
    bench, out = small_bench(world, tmp_path), tmp_path / "E"
    assert crpo_main(eval_cmd(tiny_models["qwen3_vl"], bench, world, out)[1:]) == 0
    before = (out / "predictions.jsonl").read_bytes()
    capsys.readouterr()
    for model, extra, differs in ((tiny_models["qwen2_5_vl"], [], "model was"),
                                  (tiny_models["qwen3_vl"], ["--num-frames", 2], "num_frames was 4, now 2"),
                                  (tiny_models["qwen3_vl"], ["--null-option"], "null_option was False, now True")):
        rc = crpo_main(eval_cmd(model, bench, world, out, *extra)[1:])  # a repeated option: the last one wins
        err = capsys.readouterr().err
        [line] = error_lines(err)
        assert rc == 2 and str(out) in line and "delete" in line and differs in line, line
    assert (out / "predictions.jsonl").read_bytes() == before  # the old predictions are untouched

    # a retrained model at the same path is another model
    moved = tmp_path / "model"
    shutil.copytree(tiny_models["qwen3_vl"], moved)
    assert crpo_main(eval_cmd(moved, bench, world, tmp_path / "F")[1:]) == 0
    weights = next(moved.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes())  # rewritten: new modification time
    capsys.readouterr()
    assert crpo_main(eval_cmd(moved, bench, world, tmp_path / "F")[1:]) == 2
    assert "files changed" in capsys.readouterr().err


def test_model_paths_that_are_not_models(tmp_path, tiny_model, world, capsys):
    bench = small_bench(world, tmp_path)
    run = tmp_path / "run"
    shutil.copytree(tiny_model, run / "final")
    (run / "config.json").write_text(json.dumps({"algorithm": "crpo", "num_frames": 4}))
    (tmp_path / "empty").mkdir()
    cases = {"models/nope": "no such directory", str(tmp_path / "nope"): "no such directory",
             str(run): "its model is", str(tmp_path / "empty"): "not a model directory",
             str(bench): "is a file"}
    for model, reason in cases.items():
        rc = crpo_main(["eval", "--model", model, "--bench", str(bench), "--video-root", str(world),
                        "--out", str(tmp_path / "E")])
        err = capsys.readouterr().err
        assert rc == 2 and len(error_lines(err)) == 1 and model in err and reason in err, (model, err)
    assert not (tmp_path / "E" / "predictions.jsonl").exists()


def test_hub_id_is_refused_without_the_opt_in_and_nothing_is_fetched(tmp_path, world):
    bench = small_bench(world, tmp_path)
    env = {"PATH": str(BIN), "HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf")}  # no HF_HUB_OFFLINE here
    r = subprocess.run(eval_cmd("Qwen/Qwen3-VL-2B-Instruct", bench, world, tmp_path / "E"), capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 2 and "CRPO_ALLOW_DOWNLOADS=1" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "hf").exists()  # the hub cache was never touched


def test_bench_mistakes_stop_before_the_model_loads(tmp_path, tiny_model, world, capsys):
    rows = (world / "bench.jsonl").read_text().splitlines()
    cases = {"empty.jsonl": ("", "no items"),
             "dup.jsonl": ("\n".join(rows[:3] + [rows[0]]) + "\n", "duplicate id"),
             "missing_video.jsonl": ("\n".join(rows[:2] + [rows[2].replace('.mp4"', '_gone.mp4"')]) + "\n",
                                     "not found"),
             "long.jsonl": ("\n".join(rows[:1] + [json.dumps({**json.loads(rows[1]), "question": "why " * 9000})])
                            + "\n", "tokens")}
    for name, (text, reason) in cases.items():
        bench = tmp_path / name
        bench.write_text(text)
        out = tmp_path / name.replace(".jsonl", "")
        rc = crpo_main(["eval", "--model", str(tiny_model), "--bench", str(bench), "--video-root", str(world),
                        "--out", str(out), "--num-frames", str(NUM_FRAMES)])
        err = capsys.readouterr().err
        assert rc == 2 and reason in err and str(bench) in err, (name, err)
        assert len(error_lines(err)) == 1, err
        assert not (out / "predictions.jsonl").exists() or not (out / "predictions.jsonl").read_text(), name
    bad = json.loads(rows[2])
    rc = crpo_main(["eval", "--model", str(tiny_model), "--bench", str(tmp_path / "missing_video.jsonl"),
                    "--video-root", str(world), "--out", str(tmp_path / "mv")])
    assert rc == 2 and f"item '{bad['id']}'" in capsys.readouterr().err
    rc = crpo_main(["eval", "--model", str(tiny_model), "--bench", str(tmp_path / "nope.jsonl"), "--video-root",
                    str(world), "--out", str(tmp_path / "n")])
    assert rc == 2 and "nope.jsonl: cannot read" in capsys.readouterr().err


def test_metrics_go_to_stdout_and_out_that_is_a_file_is_one_line(tmp_path, tiny_model, world, capsys):
    bench = small_bench(world, tmp_path)
    assert crpo_main(eval_cmd(tiny_model, bench, world, tmp_path / "E")[1:]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == json.loads((tmp_path / "E" / "metrics.json").read_text())
    (tmp_path / "file").write_text("x")
    assert crpo_main(eval_cmd(tiny_model, bench, world, tmp_path / "file")[1:]) == 2
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and "is a file" in err


def test_truncated_video_stops_eval_before_the_model_loads_naming_the_item(tmp_path, tiny_model, world, capsys):
    import os

    import av
    from shared_data import VIDEOS
    whole, cut = tmp_path / "whole.mp4", tmp_path / "cut.mp4"
    with av.open(str(VIDEOS / "bigbuckbunny.mp4")) as inp, av.open(str(whole), "w",
                                                                  options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    rows = (world / "bench.jsonl").read_text().splitlines()[:4]
    bad = {**json.loads(rows[3]), "video": os.path.relpath(cut, world)}
    bench = tmp_path / "bench.jsonl"
    bench.write_text("\n".join(rows[:3] + [json.dumps(bad)]) + "\n")
    out = tmp_path / "E"
    rc = crpo_main(eval_cmd(tiny_model, bench, world, out)[1:])
    err = capsys.readouterr().err
    assert rc == 2 and f"item '{bad['id']}'" in err and "truncated" in err, err
    assert len(error_lines(err)) == 1 and "Loading weights" not in err  # before the model loaded
    assert not (out / "predictions.jsonl").exists()


def test_a_hub_id_is_passed_on_only_with_the_opt_in_and_never_offline(monkeypatch):
    from crpo.data.items import DataError
    from crpo.models.local import from_pretrained_kwargs, model_source
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("CRPO_ALLOW_DOWNLOADS", raising=False)
    with pytest.raises(DataError, match="CRPO_ALLOW_DOWNLOADS=1 lets"):
        model_source("Qwen/Qwen3-VL-2B-Instruct")
    assert from_pretrained_kwargs() == {"local_files_only": True}
    monkeypatch.setenv("CRPO_ALLOW_DOWNLOADS", "1")
    assert model_source("Qwen/Qwen3-VL-2B-Instruct") == "Qwen/Qwen3-VL-2B-Instruct"
    assert from_pretrained_kwargs() == {"local_files_only": False}
    with pytest.raises(DataError, match="no such directory"):
        model_source("models/nope/deeper")  # not of the hub's org/name form: a missing local path
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # what the tests and `crpo demo` set: wins over the opt-in
    with pytest.raises(DataError, match="but so is HF_HUB_OFFLINE=1"):
        model_source("Qwen/Qwen3-VL-2B-Instruct")
    assert from_pretrained_kwargs() == {"local_files_only": True}
