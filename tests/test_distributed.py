"""Launcher equivalence on CPU: DDP and FSDP2 on 2 processes (gloo), and 4 micro-batches, end where one process
with the same global batch ends, step by step (learning rate, gradient norm, rewards) and in the final weights.

What makes it hold: rollouts are sampled with per-row seeds from (run, step, item position in the global batch,
rollout), so the split does not change a single completion; items are sharded whole (both branches on one rank),
so rewards and advantages are computed from the same groups; micro-batch losses are weighted by their share of the
global batch (crpo.training.trainer._micro_weight) so that the averaged gradient is the single-process gradient; accelerate
accumulates the micro-batches and steps optimizer and scheduler once per RL step (crpo.parallel.distributed.make_accelerator).

Every run uses a linear schedule with warm-up (accelerate used to step a prepared scheduler once per process) and
beta > 0 (a reference model: an unsharded copy on DDP, sharded under FSDP). Launch: `accelerate launch
--config_file configs/accelerate/{ddp,fsdp}.yaml --num_processes 2`; on a CPU-only machine the trainer asks
accelerate for its gloo mode (and switches it to FSDP under the FSDP config). `accelerate launch --cpu
--num_processes 2` starts ONE process: the tests below would then compare a run with itself, hence the rank checks.
"""
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from conftest import free_port
from transformers import AutoModelForImageTextToText

from crpo.data.items import load_items
from crpo.training.trainer import step_items

CONFIGS = Path(__file__).parents[1] / "configs" / "accelerate"
STEPS = 3


def launch(config: str, port: int | None = None) -> list:
    """`accelerate launch` of crpo.cli on 2 processes; `port`: the rendezvous port (accelerate's default 29500 when
    None), so that launches running side by side do not meet."""
    port_args = ["--main_process_port", str(port)] if port else []
    return ["launch", "--config_file", CONFIGS / f"{config}.yaml", "--num_processes", "2", *port_args, "-m",
            "crpo.cli"]


def state(path) -> dict[str, torch.Tensor]:
    return AutoModelForImageTextToText.from_pretrained(path).state_dict()


def max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(run_crpo, rl_args, tmp_path_factory):
    root = tmp_path_factory.mktemp("launchers")
    # lr 1e-4: Adam's first step moves every weight with a non-zero gradient by about lr, so a different sample,
    # item or weighting shows as a difference of order 1e-4, while float noise of the 2-way split stays ~1e-7.
    args = ["train", *rl_args, f"max_steps={STEPS}", "learning_rate=1e-4", "lr_scheduler=linear", "warmup_steps=2",
            "beta=0.04", "log_completions_steps=1"]
    lora = ["lora=true", "lora_r=4", "learning_rate=1e-3"]  # LoRA moves slower: a larger lr, still ~1e-3 moves
    bf16 = ["dtype=bfloat16"]
    # The shape of configs/qwen3_vl_8b.yaml: bf16 full fine-tuning, frozen vision (features reused), gradient
    # checkpointing, dapo, micro-batches, a sharded KL reference.
    recipe = [*bf16, "freeze_vision=true", "gradient_checkpointing=true", "loss_type=dapo", "micro_batches=2"]
    jobs = {  # name: (launcher or None for one process, extra args)
        "single": (None, []),
        "micro4": (None, ["micro_batches=4"]),
        # 2 micro-batches per rank on the DDP side: 2 x 2 partial losses must sum to one batch loss.
        "ddp": ("ddp", ["micro_batches=2"]),
        "fsdp": ("fsdp", []),
        "single_lora": (None, lora),
        "ddp_lora": ("ddp", lora),
        "fsdp_lora": ("fsdp", lora),
        "single_bf16": (None, bf16),
        "ddp_bf16": ("ddp", bf16),
        "single_bf16_lora": (None, [*bf16, *lora]),
        "fsdp_bf16_lora": ("fsdp", [*bf16, *lora]),
        # The default frozen vision tower: its features are encoded once at generation and reused by every pass.
        "single_frozen": (None, ["freeze_vision=true"]),
        "fsdp_frozen": ("fsdp", ["freeze_vision=true", "micro_batches=2"]),
        "single_recipe": (None, recipe),
        "fsdp_recipe": ("fsdp", recipe),
    }
    out = {name: root / name for name in jobs}

    def run(name):
        launcher, extra = jobs[name]
        if launcher is None:
            return run_crpo([*args, *extra, f"output_dir={out[name]}"])
        return run_crpo([*launch(launcher, free_port()), *args, *extra, f"output_dir={out[name]}"],
                        script="accelerate", timeout=300)

    # Two runs at a time (each on its own port): the runs are independent, and most of a run's wall time is one
    # process importing and loading, so the pairs about halve the fixture's time on 2 cores.
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(run, jobs))
    return out


@pytest.mark.parametrize("name,reference", [("micro4", "single"), ("ddp", "single"), ("fsdp", "single"),
                                            ("ddp_lora", "single_lora"), ("fsdp_lora", "single_lora"),
                                            ("fsdp_frozen", "single_frozen")])
def test_launcher_equals_one_process(runs, warm_model, name, reference):
    assert_same_training(runs[name], runs[reference], warm_model)


def test_tgrpo_batch_std_is_the_steps_on_two_processes(run_crpo, rl_args, warm_model, tmp_path):
    """T-GRPO's default scale_rewards=batch divides by the step's std, reduced over processes (count, sum, sum of
    squares), not by each process's own: 2 processes train like one."""
    args = ["train", *rl_args, "algorithm=tgrpo", f"max_steps={STEPS}", "learning_rate=1e-4", "lr_scheduler=linear",
            "warmup_steps=2", "beta=0.04"]
    run_crpo([*args, f"output_dir={tmp_path / 'single'}"])
    run_crpo([*launch("ddp"), *args, f"output_dir={tmp_path / 'ddp'}"], script="accelerate", timeout=300)
    assert_same_training(tmp_path / "ddp", tmp_path / "single", warm_model)


def assert_same_training(run: Path, reference: Path, warm_model) -> None:
    name = run.name
    a, b = state(reference / "final"), state(run / "final")
    diff, moved = max_diff(a, b), max_diff(a, state(warm_model))
    print(f"\n{name} vs {reference.name} after {STEPS} steps: max |diff| {diff:.2e}; moved {moved:.2e}")
    assert moved > 5e-5  # the steps did something, so equality is not vacuous
    assert diff <= 1e-5
    # Step by step: the same schedule (warm-up then linear decay, once per RL step), the same global gradient
    # norm (after DDP's mean / FSDP's reduce-scatter; clipped on the sharded parameters) and the same rewards.
    rows, ref_rows = jsonl(run / "metrics.jsonl"), jsonl(reference / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    assert [r["lr"] for r in rows] == pytest.approx([r["lr"] for r in ref_rows], abs=0)
    assert ref_rows[0]["lr"] < ref_rows[1]["lr"] and ref_rows[-1]["lr"] == 0  # warm-up, then decay to 0 at the end
    for r, s in zip(rows, ref_rows):
        assert r["grad_norm"] == pytest.approx(s["grad_norm"], rel=1e-4) and r["grad_norm"] > 0
        for key in ("reward/orig", "reward/cf", "reward/shuffled", "acc/orig", "crr", "tgrpo_bonus",
                    "completion_length"):
            assert (r.get(key) is None) == (s.get(key) is None), key
            if s.get(key) is not None:
                assert r[key] == pytest.approx(s[key], abs=1e-9), key


@pytest.mark.parametrize("name,reference", [("ddp_bf16", "single_bf16"), ("fsdp_bf16_lora", "single_bf16_lora"),
                                            ("fsdp_recipe", "single_recipe")])
def test_bf16_compute_trains_alike_on_every_launcher(runs, warm_model, name, reference):
    """bf16 autocast over fp32 master weights. Equality to 1e-5 is not a bf16 property (reduction order changes the
    rounding, and Adam's first steps turn tiny gradient differences into full-size updates), so: the same rollouts
    at step 1, gradient norms within 1%, weights that moved, and a final/ that loads."""
    rows, ref_rows = jsonl(runs[name] / "metrics.jsonl"), jsonl(runs[reference] / "metrics.jsonl")
    assert [r["lr"] for r in rows] == [r["lr"] for r in ref_rows]
    assert rows[0]["reward/orig"] == ref_rows[0]["reward/orig"] and rows[0]["reward/cf"] == ref_rows[0]["reward/cf"]
    for r, s in zip(rows, ref_rows):
        assert r["grad_norm"] == pytest.approx(s["grad_norm"], rel=1e-2)
    final = state(runs[name] / "final")
    assert max_diff(final, state(warm_model)) > 5e-5
    assert all(torch.isfinite(v.float()).all() for v in final.values())


def test_one_optimizer_step_per_rl_step(runs):
    """AdamW's own step counter and the scheduler's: exactly STEPS after STEPS RL steps, micro-batches or not."""
    for name in ("single", "micro4", "ddp"):
        optimizer = torch.load(runs[name] / f"checkpoint-{STEPS}" / "optimizer.bin", weights_only=False)
        assert {int(s["step"]) for s in optimizer["state"].values()} == {STEPS}, name
        scheduler = torch.load(runs[name] / f"checkpoint-{STEPS}" / "scheduler.bin", weights_only=False)
        assert scheduler["last_epoch"] == STEPS, name


def test_fsdp_final_equals_its_gathered_sharded_checkpoint(runs, tmp_path):
    """final/ under FSDP2 is the whole model: the same as the sharded checkpoint, consolidated offline."""
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save
    sharded = runs["fsdp"] / f"checkpoint-{STEPS}" / "pytorch_model_fsdp_0"
    assert sharded.is_dir(), "FSDP saved no sharded model state (did the run really use FSDP?)"
    dcp_to_torch_save(sharded, tmp_path / "full.pt")
    gathered = torch.load(tmp_path / "full.pt", weights_only=False)
    gathered = gathered.get("model", gathered)
    final = state(runs["fsdp"] / "final")
    assert max_diff(final, {k: gathered[k] for k in final}) == 0


def test_both_branches_of_an_item_stay_on_one_rank(runs, world):
    items = load_items(world / "train.jsonl")
    batch = [items[i].id for i in step_items(len(items), 4, 0, seed=0)]
    for name in ("ddp", "fsdp"):
        # completions.jsonl is written by rank 0: the first completion of each of its first branches. Rank 0 holds
        # items 0 and 2 of the global batch (one process would log items 0 and 1), so this also proves 2 ranks ran.
        rank0 = [(r["id"], r["branch"]) for r in jsonl(runs[name] / "completions.jsonl") if r["step"] == 1]
        assert rank0 == [(batch[0], "orig"), (batch[0], "cf"), (batch[2], "orig"), (batch[2], "cf")], name
        # ... and they are the completions one process drew for the same item: sampling ignores the split.
        one = {(r["id"], r["branch"], r["step"]): r["text"] for r in jsonl(runs["single"] / "completions.jsonl")}
        two = {(r["id"], r["branch"], r["step"]): r["text"] for r in jsonl(runs[name] / "completions.jsonl")}
        common = one.keys() & two.keys()  # one process logs items 0 and 1 of each step, rank 0 items 0 and 2
        assert len(common) >= 2 * STEPS and all(one[key] == two[key] for key in common), name


def test_a_failing_rank_stops_every_rank_with_its_message(run_crpo, rl_args, world, tmp_path):
    """Rank 1 gets only unreadable videos: the run must end (not wait in a collective) and say why."""
    rows = [json.loads(line) for line in (world / "train.jsonl").read_text().splitlines()]
    batch = step_items(len(rows), 4, 0, seed=0)
    for position in (1, 3):  # rank 1's share of step 1 on 2 processes
        rows[batch[position]]["video"] = "missing.mp4"
    bad = world / "train_rank1_unreadable.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = run_crpo([*launch("ddp"), "train", *rl_args, f"train_data={bad}", "max_steps=2",
                     f"output_dir={tmp_path / 'out'}"], script="accelerate", timeout=120, check=False)
    assert proc.returncode != 0
    assert f"error (rank 1 of 2): {bad}: step 1: no usable item in the batch" in proc.stderr


def test_micro_batches_are_always_exactly_n():
    """accelerate syncs and steps on its n-th backward: a process with fewer rows than n pads with weight-0 parts."""
    from crpo.training.trainer import split_micro_batches
    parts, scale = split_micro_batches(list(range(10)), 4)
    assert [len(p) for p in parts] == [3, 3, 2, 2] and scale == [1.0] * 4
    assert sorted(i for p in parts for i in p) == list(range(10))
    parts, scale = split_micro_batches([7, 9], 4)
    assert parts == [[7], [9], [9], [9]] and scale == [1.0, 1.0, 0.0, 0.0]
