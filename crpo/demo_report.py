"""The demo's report: final metrics per run (mean and std over seeds) and P-Acc curves during RL.

    summarise(out, seeds, walls) -> results.json, report.md, report.png

report.png has two panels: dynamic-pair P-Acc against RL step for every algorithm (mean over seeds, the shaded band
one std), from each run's OUTPUT_DIR/evals.jsonl (`eval_steps`), and static accuracy against step, so a reader sees
whether an algorithm reads motion without losing the colour answers. report.md holds the final table.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np

KEYS = ("acc", "p_acc", "p_acc_dynamic", "p_acc_static", "static_acc", "dynamic_change_rate", "static_keep_rate")


def _mean_std(values):
    vals = [v for v in values if v is not None]
    return {"mean": float(np.mean(vals)), "std": float(np.std(vals))} if vals else None


def curves(out: Path, seeds: int, name: str, key: str) -> tuple[list[int], list[float], list[float]]:
    """Steps, mean and std over seeds of `key` in seedN/NAME/evals.jsonl (steps every seed has)."""
    per_seed = []
    for s in range(seeds):
        path = out / f"seed{s}" / name / "evals.jsonl"
        if path.exists():
            per_seed.append({r["step"]: r.get(key) for r in map(json.loads, path.read_text().splitlines())})
    steps = sorted(set.intersection(*(set(d) for d in per_seed))) if per_seed else []
    values = [[d[t] for d in per_seed if d[t] is not None] for t in steps]
    return steps, [float(np.mean(v)) for v in values], [float(np.std(v)) for v in values]


def answer_entropy(rollouts: Path, step: int = 1) -> float | None:
    """Mean over items of the entropy (bits) of the answers of their original-branch rollouts at `step`: 0 when
    every rollout of an item says the same (a deterministic policy, which starves group-relative RL)."""
    if not rollouts.exists():
        return None
    by_item: dict[str, Counter] = {}
    for line in rollouts.read_text().splitlines():
        r = json.loads(line)
        if r["step"] == step and r["branch"] == "orig":
            by_item.setdefault(r["item_id"], Counter())[r["answer"]] += 1
    if not by_item:
        return None
    ent = [-sum(c / sum(cnt.values()) * math.log2(c / sum(cnt.values())) for c in cnt.values())
           for cnt in by_item.values()]
    return float(np.mean(ent))


def summarise(out: Path, seeds: int, names: tuple[str, ...], algorithms: tuple[str, ...], notes: list[str]) -> dict:
    """results.json (mean/std over seeds per run), report.md (final table + notes), report.png (curves)."""
    from crpo.bench.report import markdown_table

    results = {}
    for name in names:
        per_seed = [json.loads((out / f"seed{s}" / name / "eval" / "metrics.json").read_text()) for s in range(seeds)]
        entry = {key: _mean_std([m.get(key) for m in per_seed]) for key in KEYS}
        cats = sorted({c for m in per_seed for c in m.get("per_category", {})})
        entry["p_acc_per_category"] = {c: _mean_std([m["per_category"][c]["p_acc"] for m in per_seed
                                                     if c in m.get("per_category", {})]) for c in cats}
        entry["wall_seconds"] = _mean_std([json.loads(p.read_text())["seconds"] for s in range(seeds)
                                           if (p := out / f"seed{s}" / name / "wall_seconds.json").exists()])
        if name in algorithms:
            steps, mean, std = curves(out, seeds, name, "p_acc_dynamic")
            entry["p_acc_dynamic_curve"] = {"steps": steps, "mean": mean, "std": std}
            entry["start_answer_entropy_bits"] = _mean_std(
                [answer_entropy(out / f"seed{s}" / name / "rollouts.jsonl") for s in range(seeds)])
        entry["seeds"] = seeds
        results[name] = entry
    (out / "results.json").write_text(json.dumps(results, indent=1))
    means = {n: {**{k: (r[k]["mean"] if r[k] else None) for k in KEYS},
                 "per_category": {c: {"p_acc": v["mean"]} for c, v in r["p_acc_per_category"].items() if v}}
             for n, r in results.items()}
    spread = ", ".join(f"{n} {100 * r['p_acc_dynamic']['std']:.1f}" for n, r in results.items() if r["p_acc_dynamic"])
    text = ["# crpo demo", "", f"Mean over {seeds} seed(s), values in percent. P-Acc: a pair counts only when both of "
            "its items are right.", "", markdown_table(means), f"Std over seeds of P-Acc on dynamic pairs: {spread}.",
            "", *notes, ""]
    (out / "report.md").write_text("\n".join(text), encoding="utf-8")
    plot_curves(results, algorithms, out / "report.png", out, seeds)
    return results


def plot_curves(results: dict, algorithms, path: Path, out: Path, seeds: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, title in ((axes[0], "p_acc_dynamic", "P-Acc on dynamic pairs"),
                           (axes[1], "static_acc", "Accuracy on static items")):
        for name in algorithms:
            steps, mean, std = curves(out, seeds, name, key)
            if not steps:
                continue
            m, s = 100 * np.array(mean), 100 * np.array(std)
            ax.plot(steps, m, marker="o", label=name, linewidth=2.5 if name == "crpo" else 1.5)
            ax.fill_between(steps, m - s, m + s, alpha=0.15)
        ax.set_xlabel("RL step")
        ax.set_ylabel(f"{title} (%)")
        ax.set_ylim(0, 100)
        ax.set_title(f"{title}, mean of {seeds} seed(s)")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
