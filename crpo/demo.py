"""`crpo demo`: the paper's effect in miniature, on a CPU, end to end (what `make demo` runs).

    crpo demo --out runs/demo            # 3 seeds
    crpo demo --quick --out runs/quick   # 1 seed, shorter schedules

Pipeline (every stage is skipped when its output exists, and RL runs resume from their checkpoints, so a
killed demo picks up where it stopped):

1. world: a biased training split (the object's colour and a skewed answer prior predict the motion answer in
   `bias` of the dynamic items) and, from a seed never used while tuning the demo, a balanced, cue-free, paired
   bench (every clip has a materialised counterfactual twin: reversed for motion, mirrored for colour).
2. base model: the shipped one (`crpo/assets/demo_base`, seed 0 of `crpo.demo_base`), or with `pretrain_base`
   each seed's own: a tiny random Qwen3-VL pre-trained on unbiased clips to see motion (asked as code words, never
   as the demo's multiple-choice question) and to answer the colour question. See crpo/demo_base.py for why.
3. warm start: supervised fine-tuning on the biased split, where the colour shortcut is the easy way to fit.
4. four RL runs with the same rollout budget (2G completions per item): grpo, grpo_cf_aug, tgrpo, crpo.
5. evaluation of the warm start and each run on the bench -> OUT/results.json, OUT/report.md, OUT/report.png.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ALGORITHMS = ("grpo", "grpo_cf_aug", "tgrpo", "crpo")
# The bench of the demo is drawn from this seed; tuning used other seeds only (see README, "The demo").
EVAL_SEED = 20261123
WORLD = dict(categories=["moving_direction", "static_attribute"], kinds=["slide", "hue"], num_frames=8,
             size=64, object_size=32, speed=3.0)


@dataclass
class DemoSettings:
    train_items: int = 400          # biased training split
    bench_pairs: int = 100          # pairs in the evaluation bench
    bias: float = 0.9               # share of dynamic training items whose colour gives the answer away
    sft_steps: int = 30
    sft_lr: float = 1e-3
    rl_steps: int = 60
    num_generations: int = 8        # G per branch
    prompts_per_step: int = 4
    rl_lr: float = 1e-3
    temperature: float = 1.5        # of rollouts and of their log-probs: keeps the warm-started policy exploring
    kl_beta: float = 0.04           # KL penalty to the warm start (DeepSeekMath's value), for every algorithm
    bench_seed: int = EVAL_SEED


QUICK = DemoSettings(bench_pairs=50, rl_steps=40)


def _log(msg: str) -> None:
    print(f"\n== crpo demo: {msg}", flush=True)


def _timed(path: Path, fn) -> float:
    """Run fn once: its wall time is stored next to its output so resumed demos report honest totals."""
    marker = path / "wall_seconds.json"
    if marker.exists():
        return json.loads(marker.read_text())["seconds"]
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    path.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"seconds": seconds}))
    return seconds


def run_demo(out="runs/demo", quick=False, seeds=3, settings: DemoSettings | None = None,
             pretrain_base: bool = False) -> dict:
    from crpo.bench.evaluate import evaluate
    from crpo.config import TrainConfig
    from crpo.demo_base import SHIPPED_BASE
    from crpo.demo_base import pretrain_base as pretrain_base_model
    from crpo.sft import SFTConfig, sft
    from crpo.synth import generate
    from crpo.trainer import train

    s = settings or (QUICK if quick else DemoSettings())
    seeds = 1 if quick else seeds
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "settings.json").write_text(json.dumps(asdict(s), indent=1))
    bench = out / "bench"
    if not (bench / "bench.jsonl").exists():
        _log(f"bench: {s.bench_pairs} pairs from seed {s.bench_seed}")
        generate(bench, train=0, bench_pairs=s.bench_pairs, seed=s.bench_seed, preview=True, **WORLD)

    walls: dict[str, list[float]] = {}
    for seed in range(seeds):
        root = out / f"seed{seed}"
        world = root / "world"
        if not (world / "train.jsonl").exists():
            _log(f"seed {seed}: biased training split ({s.train_items} items, bias {s.bias})")
            generate(world, train=s.train_items, bench_pairs=0, bias=s.bias, seed=1000 + seed, **WORLD)
        base, warm = SHIPPED_BASE, root / "warmstart"
        if pretrain_base:
            _log(f"seed {seed}: base model pre-training on unbiased clips")
            base = pretrain_base_model(root, seed, WORLD)
        if not (warm / "final").exists():
            _log(f"seed {seed}: warm start on the biased split ({s.sft_steps} steps)")
            sft(SFTConfig(model=str(base), train_data=str(world / "train.jsonl"), output_dir=str(warm),
                          seed=seed, max_steps=s.sft_steps, learning_rate=s.sft_lr))
        runs = {"warmstart": warm}
        for algorithm in ALGORITHMS:
            run = root / algorithm
            runs[algorithm] = run
            if (run / "final").exists():
                continue
            _log(f"seed {seed}: RL with {algorithm} ({s.rl_steps} steps)")
            cfg = TrainConfig(model=str(warm / "final"), train_data=str(world / "train.jsonl"), output_dir=str(run),
                              algorithm=algorithm, seed=seed, num_generations=s.num_generations,
                              prompts_per_step=s.prompts_per_step, temperature=s.temperature, max_new_tokens=8,
                              max_steps=s.rl_steps, learning_rate=s.rl_lr, beta=s.kl_beta, freeze_vision=False,
                              save_steps=10, resume=True,
                              # One group of 2G per item for every algorithm: after the warm start the policy is
                              # nearly deterministic, and within one branch its rollouts would all tie.
                              advantage_grouping="joint",
                              log_completions_steps=10, report_to="none")
            walls.setdefault(algorithm, []).append(_timed(run, lambda cfg=cfg: train(cfg)))
        for name, run in runs.items():
            if not (run / "eval" / "metrics.json").exists():
                _log(f"seed {seed}: evaluating {name}")
                evaluate(model=str(run / "final"), bench=str(bench / "bench.jsonl"), fmt="dybench",
                         video_root=str(bench), out=str(run / "eval"), batch_size=32, max_new_tokens=8)
    results = summarise(out, seeds, walls)
    _log(f"done: {out / 'report.md'}")
    print((out / "report.md").read_text())
    return results


KEYS = ("acc", "p_acc", "p_acc_dynamic", "p_acc_static", "static_acc", "dynamic_change_rate", "static_keep_rate")


def summarise(out: Path, seeds: int, walls: dict) -> dict:
    """Mean and std over seeds per run -> results.json; mean metrics per run -> report.md / report.png."""
    from crpo.bench.report import write_report

    results = {}
    for name in ("warmstart",) + ALGORITHMS:
        per_seed = [json.loads((out / f"seed{s}" / name / "eval" / "metrics.json").read_text()) for s in range(seeds)]
        entry = {}
        for key in KEYS:
            vals = [m[key] for m in per_seed if m.get(key) is not None]
            entry[key] = {"mean": float(np.mean(vals)), "std": float(np.std(vals))} if vals else None
        cats = sorted({c for m in per_seed for c in m.get("per_category", {})})
        entry["p_acc_per_category"] = {
            c: {"mean": float(np.mean(v)), "std": float(np.std(v))}
            for c in cats if (v := [m["per_category"][c]["p_acc"] for m in per_seed])}
        wall = [json.loads(p.read_text())["seconds"] for s in range(seeds)
                if (p := out / f"seed{s}" / name / "wall_seconds.json").exists()]
        entry["wall_seconds"] = {"mean": float(np.mean(wall)), "std": float(np.std(wall))} if wall else None
        entry["seeds"] = seeds
        results[name] = entry
        summary = out / "summary" / name
        summary.mkdir(parents=True, exist_ok=True)
        mean = {k: (v["mean"] if v else None) for k, v in entry.items() if k in KEYS}
        mean["per_category"] = {c: {"p_acc": v["mean"]} for c, v in entry["p_acc_per_category"].items()}
        (summary / "metrics.json").write_text(json.dumps(mean, indent=1))
    (out / "results.json").write_text(json.dumps(results, indent=1))
    write_report([out / "summary" / n for n in results], out)
    spread = ["", f"Mean over {seeds} seed(s); std of P-Acc: " + ", ".join(
        f"{n} {100 * r['p_acc']['std']:.1f}" for n, r in results.items() if r["p_acc"])]
    with open(out / "report.md", "a") as f:
        f.write("\n".join(spread) + "\n")
    return results
