"""DDP equivalence: one step on 2 processes (gloo, CPU) ends where one process with the same global batch ends.

What makes it hold: rollouts are sampled with per-row seeds from (run, step, item position in the global batch,
rollout), so the split does not change a single completion; items are sharded whole (both branches on one rank),
so rewards and advantages are computed from the same groups; micro-batch losses are weighted by their share of the
global batch (crpo.trainer._micro_weight) so that DDP's gradient mean is the single-process gradient.

Launch: `accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 2` runs torchrun; on a CPU-only
machine the trainer asks accelerate for its multi-CPU (gloo) mode. (`accelerate launch --cpu --num_processes 2`
starts ONE process: the test below would then compare a run with itself, hence the rank check on completions.)
"""
import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForImageTextToText

from crpo.data import load_items
from crpo.trainer import step_items

DDP_CONFIG = Path(__file__).parents[1] / "configs" / "accelerate" / "ddp.yaml"
LAUNCH = ["launch", "--config_file", DDP_CONFIG, "--num_processes", "2", "-m", "crpo.cli"]


def state(path) -> dict[str, torch.Tensor]:
    return AutoModelForImageTextToText.from_pretrained(path).state_dict()


def jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(run_crpo, rl_args, tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    # lr 1e-4: Adam's first step moves every weight with a non-zero gradient by about lr, so a different sample,
    # item or weighting shows as a difference of order 1e-4, while float noise of the 2-way split stays ~1e-7.
    args = ["train", *rl_args, "max_steps=1", "learning_rate=1e-4", "log_completions_steps=1"]
    # 2 micro-batches per rank on the DDP side: _micro_weight must make 2 x 2 partial losses sum to one batch loss.
    run_crpo([*LAUNCH, *args, "gradient_accumulation_steps=2", f"output_dir={root / 'ddp'}"], script="accelerate",
             timeout=300)
    run_crpo([*args, f"output_dir={root / 'single'}"])
    return root / "single", root / "ddp"


def test_one_ddp_step_equals_one_single_process_step(runs, warm_model):
    single, ddp = runs
    a, b, start = state(single / "final"), state(ddp / "final"), state(warm_model)
    assert a.keys() == b.keys()
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    moved = max((a[k] - start[k]).abs().max().item() for k in a)
    print(f"\nDDP vs single process after one step: max |diff| {diff:.2e}; step size {moved:.2e}")
    assert moved > 5e-5  # the step did something, so equality is not vacuous
    assert diff <= 1e-5
    # Metrics are reduced over both processes: the same global batch gives the same numbers.
    m1, m2 = jsonl(single / "metrics.jsonl")[0], jsonl(ddp / "metrics.jsonl")[0]
    for key in ("reward/orig", "reward/cf", "acc/orig", "acc/cf", "crr", "format", "completion_length"):
        assert m1[key] == pytest.approx(m2[key], abs=1e-9), key
    assert m1["grad_norm"] == pytest.approx(m2["grad_norm"], rel=1e-4)  # the global gradient, after DDP's mean


def test_both_branches_of_an_item_stay_on_one_rank(runs, world):
    single, ddp = runs
    items = load_items(world / "train.jsonl")
    batch = [items[i].id for i in step_items(len(items), 4, 0, seed=0)]
    # completions.jsonl is written by rank 0: the first completion of each of its first branches. Rank 0 holds
    # items 0 and 2 of the global batch (one process would log items 0 and 1), so this also proves 2 ranks ran.
    rank0 = [(r["id"], r["branch"]) for r in jsonl(ddp / "completions.jsonl")]
    assert rank0 == [(batch[0], "orig"), (batch[0], "cf"), (batch[2], "orig"), (batch[2], "cf")]
    # ... and they are the completions one process drew for the same item: sampling ignores the split.
    one = {(r["id"], r["branch"]): r["text"] for r in jsonl(single / "completions.jsonl")}
    two = {(r["id"], r["branch"]): r["text"] for r in jsonl(ddp / "completions.jsonl")}
    assert one[(batch[0], "orig")] == two[(batch[0], "orig")] and one[(batch[0], "cf")] == two[(batch[0], "cf")]
