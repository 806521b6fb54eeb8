"""`crpo train rollout_engine=vllm` end to end on the warm-started tiny Qwen3-VL and the synthetic world, and
resume with the engine.

Every step the engine checks each rollout's prompt token ids against the rows VideoLM.encode built and raises on
the first difference (crpo/training/vllm_engine.py, check_prompt_ids; tests/vllm_env/test_engine.py shows it can fail), so a
run that finishes had every rollout's prompt match.

Resume guarantee (measured here): a run stopped after a checkpoint and resumed with resume=true trains the same
steps on the same items, and its engine, restarted from cfg.model, is synced to the checkpoint's weights before
its first rollout, so the rollouts, rewards and losses after the resume equal the uninterrupted run's.

Several training processes (measured here): a 2-process DDP or FSDP2 run, one engine per process (vLLM's
external_launcher on the trainer's gloo group), ends where the one-process run with the same global batch ends, as
tests/test_distributed.py shows for HF generate: each process samples its own items with the same per-rollout seeds.
"""
import json
from pathlib import Path

import pytest
import torch
from conftest import free_port
from transformers import AutoModelForImageTextToText

from crpo.data.items import load_items
from crpo.training.trainer import step_items

ENGINE = ["rollout_engine=vllm", "vllm_kv_cache_gb=0.25", "vllm_max_model_len=2048"]
CONFIGS = Path(__file__).parents[2] / "configs" / "accelerate"
STEPS = 3


def jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def state(path) -> dict[str, torch.Tensor]:
    return AutoModelForImageTextToText.from_pretrained(path).state_dict()


def max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def runs(run_crpo, rl_args, tmp_path_factory):
    """One process, and 2 processes under DDP and FSDP2, the same global batch. lr 1e-4, a warm-up and beta > 0 as in
    tests/test_distributed.py: a different sample or item shows as a weight difference of order 1e-4."""
    root = tmp_path_factory.mktemp("vllm_runs")
    args = ["train", *rl_args, *ENGINE, f"max_steps={STEPS}", "log_rollouts=true", "algorithm=crpo",
            "learning_rate=1e-4", "lr_scheduler=linear", "warmup_steps=2", "beta=0.04", "log_completions_steps=1"]
    stderr = {"single": run_crpo([*args, f"output_dir={root / 'single'}"]).stderr}
    for launcher in ("ddp", "fsdp"):  # FSDP2: every engine gets the gathered full tensors (hf_state_dict)
        # A port of its own: `make test` runs this suite beside the main one, whose launches use accelerate's 29500.
        stderr[launcher] = run_crpo(["launch", "--config_file", CONFIGS / f"{launcher}.yaml", "--num_processes", "2",
                                     "--main_process_port", free_port(), "-m", "crpo.cli", *args,
                                     f"output_dir={root / launcher}"], script="accelerate", timeout=300).stderr
    return {"single": root / "single", "ddp": root / "ddp", "fsdp": root / "fsdp", "stderr": stderr}


def test_crpo_training_with_the_vllm_engine(runs):
    out, stderr = runs["single"], runs["stderr"]["single"]
    rows = jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    # the engine's weight sync is booked apart from generation in the step breakdown
    assert all(r["time/weight_sync"] > 0 and r["time/generate"] > 0 for r in rows)
    rollouts = jsonl(out / "rollouts.jsonl")
    # 4 prompts x 2 branches x G=4 completions a step, every one scored
    assert len(rollouts) == 3 * 4 * 2 * 4
    assert {r["branch"] for r in rollouts} == {"orig", "cf"}
    # the warm start answers in the template, so some of the engine's samples are readable answers
    assert any(r["answer"] is not None for r in rollouts)
    assert "Traceback" not in stderr, stderr[-3000:]  # the engine's teardown at exit included
    assert (out / "final" / "config.json").exists()


@pytest.mark.parametrize("launcher", ["ddp", "fsdp"])
def test_two_processes_with_the_vllm_engine_equal_one(runs, warm_model, world, launcher):
    a, b = state(runs["single"] / "final"), state(runs[launcher] / "final")
    diff, moved = max_diff(a, b), max_diff(a, state(warm_model))
    print(f"\nvllm {launcher} vs single after {STEPS} steps: max |diff| {diff:.2e}; moved {moved:.2e}")
    assert moved > 5e-5  # the steps did something, so equality is not vacuous
    assert diff <= 1e-5
    assert "Traceback" not in runs["stderr"][launcher], runs["stderr"][launcher][-3000:]  # both engines' teardown
    rows, ref_rows = jsonl(runs[launcher] / "metrics.jsonl"), jsonl(runs["single"] / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    for r, s in zip(rows, ref_rows):
        assert r["lr"] == s["lr"]
        assert r["grad_norm"] == pytest.approx(s["grad_norm"], rel=1e-4) and r["grad_norm"] > 0
        for key in ("reward/orig", "reward/cf", "acc/orig", "crr", "completion_length"):
            assert r[key] == pytest.approx(s[key], abs=1e-9), key
    # completions.jsonl is rank 0's: items 0 and 2 of step 1's global batch (so 2 processes ran), and their texts
    # are the ones the one-process engine sampled for the same items.
    items = load_items(world / "train.jsonl")
    batch = [items[i].id for i in step_items(len(items), 4, 0, seed=0)]
    rank0 = [(r["id"], r["branch"]) for r in jsonl(runs[launcher] / "completions.jsonl") if r["step"] == 1]
    assert rank0 == [(batch[0], "orig"), (batch[0], "cf"), (batch[2], "orig"), (batch[2], "cf")]
    one = {(r["id"], r["branch"], r["step"]): r["text"] for r in jsonl(runs["single"] / "completions.jsonl")}
    two = {(r["id"], r["branch"], r["step"]): r["text"] for r in jsonl(runs[launcher] / "completions.jsonl")}
    common = one.keys() & two.keys()
    assert len(common) >= 2 * STEPS and all(one[key] == two[key] for key in common)


def test_resume_with_the_vllm_engine_continues_the_uninterrupted_run(run_crpo, rl_args, tmp_path):
    args = ["train", *rl_args, *ENGINE, "prompts_per_step=2", "save_steps=2", "log_rollouts=true",
            "vllm_importance_sampling_correction=true"]
    run_crpo([*args, f"output_dir={tmp_path / 'straight'}", "max_steps=4"])
    out = tmp_path / "stopped"
    run_crpo([*args, f"output_dir={out}", "max_steps=2"])  # stops after its checkpoint-2
    assert (out / "checkpoint-2" / "trainer_state.json").exists()
    run_crpo([*args, f"output_dir={out}", "max_steps=4", "resume=true"])

    rows, straight = jsonl(out / "metrics.jsonl"), jsonl(tmp_path / "straight" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    resumed_ro = [r for r in jsonl(out / "rollouts.jsonl") if r["step"] > 2]
    straight_ro = [r for r in jsonl(tmp_path / "straight" / "rollouts.jsonl") if r["step"] > 2]
    # same data order, same samples (answers), same rewards and advantages after the resume
    assert [(r["step"], r["item_id"], r["branch"]) for r in resumed_ro] == \
        [(r["step"], r["item_id"], r["branch"]) for r in straight_ro]
    assert [(r["answer"], r["total"], r["advantage"]) for r in resumed_ro] == \
        [(r["answer"], r["total"], r["advantage"]) for r in straight_ro]
    for a, b in zip(rows[2:], straight[2:]):
        for key in ("reward/orig", "reward/cf", "loss", "grad_norm"):
            assert a[key] == b[key], (a["step"], key)
    # The importance-sampling weights are logged: near 1 (engine and trainer score the same fp32 model), capped.
    assert all(0 < r["is_weight_mean"] <= 3.0 and 0 <= r["is_truncated"] <= 1 for r in rows)
    assert abs(rows[0]["is_weight_mean"] - 1) < 0.05
