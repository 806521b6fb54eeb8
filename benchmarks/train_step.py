"""Trainer step cost: two ratios, each measured side by side in one run on the tiny Qwen3-VL (CPU unless a GPU).

    .venv/bin/python benchmarks/train_step.py [--steps 3] [--repeats 5] [--clock cpu|wall] [--model DIR ...]

(a) overhead   trainer step / (generation alone + forward-backward alone) on the same batches      target <= 1.2
(b) crpo/grpo  CRPO step (G per branch) / GRPO step (2G on the original) on the same prompts        target <= 1.2
               (was <= 1.1 while every row encoded its own video copy: now each clip is encoded once per step,
               so GRPO encodes one clip per item and CRPO two, the counterfactual clip's vision pass is the
               difference; measured 1.08 before and 1.13 after, with both steps faster)
(c) vision     CRPO step with the vision tower frozen: each clip encoded once per step (features reused by
               generation and every log-prob pass) vs every row encoding its own copy in every pass (the path
               before, restored here by `old_vision_path`)

Step times are the trainer's own (`seconds` in metrics.jsonl: data, rollouts, rewards, loss, optimizer step,
logging), from `crpo.training.trainer.train` in this process. The learning rate is 0, so the weights never move and step s
of every run samples exactly the completions a stand-alone `generate_rollouts` of step s samples (per-row seeds):
(a) compares the trainer with its two unavoidable costs on identical batches, each timed alone. The CRPO run, the
GRPO run and the parts alone alternate, round after round, and per-step medians are compared, so a busy spell of
other processes hits all sides alike. The first step of every run is a warm-up and is left out.

Clock: on a CPU the default is this process's CPU time with one torch thread (`--clock cpu`): on a shared machine
wall time per step swung from 1.4 s to 14 s with other jobs, CPU time far less. The trainer's step timer is pointed
at the same clock, so both sides of every ratio are measured alike. `--clock wall` (the default on a GPU) times
wall-clock seconds with all threads. Without --model, a tiny random Qwen3-VL and a 32-item synthetic world are
built in a temporary directory (a random model writes max_new_tokens every time, which keeps completion lengths,
and so the work, equal across algorithms).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

CLOCK = time.perf_counter


def run_trainer(common: list[str], algorithm: str, out: Path, steps: int) -> list[float]:
    """Per-step seconds of a fresh `train` run, warm-up step dropped."""
    from crpo.training.config import TrainConfig, load_config
    from crpo.training.trainer import train

    train(load_config(TrainConfig, None, [*common, f"algorithm={algorithm}", f"output_dir={out}",
                                          f"max_steps={steps + 1}"]))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["seconds"] for r in rows[1:]]


@contextlib.contextmanager
def old_vision_path():
    """Benchmark-only: the rollout inputs copy each branch's video G times and no features are precomputed, so
    generation and every log-prob pass run the vision tower on all 2G rows of every branch (crpo before issue 14)."""
    import crpo.models.batching
    from crpo.models.adapter import VideoLM
    from crpo.models.batching import take_rows

    saved = crpo.models.batching.share_videos, VideoLM.video_features
    crpo.models.batching.share_videos = lambda inputs, rows, same_video=None: take_rows(inputs, rows)
    VideoLM.video_features = lambda self, inputs, model=None: None
    try:
        yield
    finally:
        crpo.models.batching.share_videos, VideoLM.video_features = saved


def same_rollouts(a: Path, b: Path):
    """Both vision paths sampled the same completions and scored them alike (lr 0: the weights never move)."""
    rows = [[json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()] for d in (a, b)]
    for x, y in zip(*rows):
        for key in ("reward/orig", "reward/cf", "completion_length"):
            assert x[key] == y[key], (x["step"], key, x[key], y[key])
        assert abs(x["loss"] - y["loss"]) <= 1e-5, (x["step"], x["loss"], y["loss"])


def time_parts(common: list[str], steps: int) -> tuple[list[float], list[float]]:
    """Generation alone and forward-backward alone on the CRPO batches of steps 1..steps (after a warm-up step 0)."""
    from crpo.data.items import load_items
    from crpo.models import VideoLM
    from crpo.rl.algorithms import policy_loss
    from crpo.rl.scoring import score_rollouts
    from crpo.training.config import TrainConfig, load_config
    from crpo.training.rollout import generate_rollouts
    from crpo.training.trainer import _rows, load_plans, step_items

    cfg = load_config(TrainConfig, None, [*common, "algorithm=crpo"])
    items = load_items(cfg.train_data)
    lm = VideoLM.load(cfg.model, dtype=cfg.dtype, device="cuda" if torch.cuda.is_available() else "cpu")
    gen, fwd_bwd = [], []
    for step in range(steps + 1):
        offsets = list(range(cfg.prompts_per_step))
        idx = step_items(len(items), cfg.prompts_per_step, step, cfg.seed)
        plans, offsets = load_plans(items, idx, offsets, cfg, str(Path(cfg.train_data).parent), step,
                                    {"skipped": 0, "no_counterfactual": 0}, {})
        lm.model.eval()
        _sync()
        t0 = CLOCK()
        with torch.no_grad():
            ro = generate_rollouts(lm, plans, cfg, step, offsets)
        _sync()
        t1 = CLOCK()
        scores = score_rollouts(plans, ro.texts, ro.num_generations, cfg)
        rows = scores.in_loss.nonzero().flatten().tolist()
        lm.model.train()
        _sync()
        t2 = CLOCK()
        inputs, ids, mask = _rows(ro, rows)
        logp = lm.logprobs(inputs, ids, mask)
        loss, _ = policy_loss(logp, logp.detach(), scores.advantages[rows].to(logp.device), mask.to(logp.dtype),
                              cfg.loss_type)
        loss.backward()
        _sync()
        t3 = CLOCK()
        lm.model.zero_grad(set_to_none=True)
        if step:  # step 0 is the warm-up
            gen.append(t1 - t0)
            fwd_bwd.append(t3 - t2)
    return gen, fwd_bwd


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def build_world(root: Path) -> tuple[str, str]:
    from crpo.models.tiny import build_tiny_model
    from crpo.synth import generate

    build_tiny_model("qwen3_vl", root / "tiny", seed=0)
    generate(out=root / "world", train=32, bench_pairs=1, seed=0)
    return str(root / "tiny"), str(root / "world" / "train.jsonl")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clock", choices=["cpu", "wall"], default="wall" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=3, help="measured steps per run (after one warm-up step)")
    p.add_argument("--repeats", type=int, default=5, help="rounds of CRPO run, GRPO run, parts alone")
    p.add_argument("--model", default=None, help="model directory (default: build a tiny Qwen3-VL)")
    p.add_argument("--train-data", default=None, help="items JSONL (default: build a synthetic world)")
    p.add_argument("--num-generations", type=int, default=4)
    p.add_argument("--prompts-per-step", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=8)
    p.add_argument("--num-frames", type=int, default=4)
    p.add_argument("--only-vision", action="store_true", help="measure (c) alone")
    a = p.parse_args()
    if a.clock == "cpu":
        global CLOCK
        import crpo.training.trainer
        torch.set_num_threads(1)  # CPU time of one thread is work done; several threads add their spin-waits
        CLOCK = time.process_time
        # The trainer times its steps with time.perf_counter: give its module a `time` whose perf_counter is ours.
        crpo.training.trainer.time = type("CpuClock", (), {"perf_counter": staticmethod(time.process_time)})
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model, data = (a.model, a.train_data) if a.model else build_world(tmp)
        common = [f"model={model}", f"train_data={data}", f"num_generations={a.num_generations}",
                  f"prompts_per_step={a.prompts_per_step}", f"max_new_tokens={a.max_new_tokens}",
                  f"num_frames={a.num_frames}", "learning_rate=0", "freeze_vision=false", "report_to=none",
                  "log_completions_steps=0", "save_steps=0"]
        times, gen, fwd_bwd = {"crpo": [], "grpo": [], "frozen": [], "frozen_old": []}, [], []
        frozen = [*common, "freeze_vision=true"]
        for r in range(a.repeats):  # the contenders alternate, so a busy spell hits them alike
            if not a.only_vision:
                for algorithm in ("crpo", "grpo"):
                    times[algorithm] += run_trainer(common, algorithm, tmp / f"{algorithm}{r}", a.steps)
                g, fb = time_parts(common, a.steps)
                gen, fwd_bwd = gen + g, fwd_bwd + fb
            times["frozen"] += run_trainer(frozen, "crpo", tmp / f"frozen{r}", a.steps)
            with old_vision_path():
                times["frozen_old"] += run_trainer(frozen, "crpo", tmp / f"frozen_old{r}", a.steps)
            same_rollouts(tmp / f"frozen{r}", tmp / f"frozen_old{r}")

    print(f"\ntiny Qwen3-VL, {a.prompts_per_step} prompts x 2 branches x G={a.num_generations}, "
          f"{a.num_frames} frames, {a.max_new_tokens} new tokens, {torch.get_num_threads()} thread(s), "
          f"{a.clock} clock; medians over {len(times['frozen'])} steps")
    new, old = statistics.median(times["frozen"]), statistics.median(times["frozen_old"])
    print(f"(c) frozen vision: CRPO step {new:.3f} s, each clip encoded once per step; {old:.3f} s with every row "
          f"encoding its copy in every pass (before): {old / new:.2f}x, {1 - new / old:.0%} less step time")
    print("    per-step once: ", " ".join(f"{t:.2f}" for t in times["frozen"]))
    print("    per-step before:", " ".join(f"{t:.2f}" for t in times["frozen_old"]))
    if a.only_vision:
        return
    step = statistics.median(times["crpo"])
    parts = statistics.median(gen) + statistics.median(fwd_bwd)
    grpo = statistics.median(times["grpo"])
    print(f"  CRPO trainer step     {step:7.3f} s   (GRPO step {grpo:.3f} s)")
    print(f"  generation alone      {statistics.median(gen):7.3f} s")
    print(f"  forward-backward alone{statistics.median(fwd_bwd):7.3f} s")
    print(f"(a) step / (generation + forward-backward) = {step / parts:.3f}   target <= 1.2")
    print(f"(b) CRPO step / GRPO step (2G rollouts)     = {step / grpo:.3f}   target <= 1.2 (CRPO encodes 2 clips per item, GRPO 1)")
    print("    per-step CRPO:", " ".join(f"{t:.2f}" for t in times["crpo"]))
    print("    per-step GRPO:", " ".join(f"{t:.2f}" for t in times["grpo"]))


if __name__ == "__main__":
    main()
