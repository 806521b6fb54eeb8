"""A run SIGKILLed after a checkpoint and resumed ends exactly where an uninterrupted run ends.

Why it can: the data position is the step (crpo.training.trainer.step_items), rollouts are sampled from per-row seeds
(crpo.training.sampling), and a checkpoint holds model, optimizer and scheduler state written atomically (checkpoint-N.tmp
renamed when complete). metrics.jsonl drops the rows the killed run wrote past its checkpoint.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from transformers import AutoModelForImageTextToText

BIN = Path(sys.executable).parent


def jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_killed_and_resumed_run_equals_uninterrupted_run(run_crpo, rl_args, tmp_path):
    # 2 prompts a step keep 3 runs of 6 steps short; everything else is the fast RL setup of the other tests.
    args = ["train", *rl_args, "prompts_per_step=2", "max_steps=6", "save_steps=2", "log_completions_steps=1"]
    run_crpo([*args, f"output_dir={tmp_path / 'straight'}"])

    out = tmp_path / "killed"
    proc = subprocess.Popen([str(BIN / "crpo"), *args, f"output_dir={out}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        # Kill once a checkpoint exists and, if we are quick enough, the step after it is logged too (that row must
        # then be dropped on resume).
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            ckpts = list(out.glob("checkpoint-[0-9]")) if out.exists() else []
            logged = len(jsonl(out / "metrics.jsonl")) if (out / "metrics.jsonl").exists() else 0
            if ckpts and logged >= 3:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (out / "final").exists()
    killed_at = len(jsonl(out / "metrics.jsonl"))

    run_crpo([*args, f"output_dir={out}", "resume=true"])

    rows, straight = jsonl(out / "metrics.jsonl"), jsonl(tmp_path / "straight" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6], f"killed after {killed_at} rows"
    for a, b in zip(rows, straight):  # same completions, rewards and losses, step by step
        for key in ("reward/orig", "reward/cf", "crr", "loss", "grad_norm"):
            assert a[key] == b[key], (a["step"], key)
    resumed = AutoModelForImageTextToText.from_pretrained(out / "final").state_dict()
    reference = AutoModelForImageTextToText.from_pretrained(tmp_path / "straight" / "final").state_dict()
    diff = max((resumed[k] - reference[k]).abs().max().item() for k in reference)
    print(f"\nkilled after {killed_at} logged steps; resumed vs uninterrupted: max |diff| {diff:.1e}")
    assert diff <= 1e-6
