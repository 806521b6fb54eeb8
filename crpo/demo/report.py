"""The demo's report: per category and overall, every run's per-seed numbers, their mean and std, and paired 95%
confidence intervals of crpo minus every other run over seeds; P-Acc curves during RL.

    summarise(out, seeds, names, algorithms, notes, categories) -> OUT/results.json, report.md, report.png

The metrics of one run on one seed (`run_metrics`): each dynamic category's P-Acc (every pair of the category,
both items right), `dynamic` = their plain mean (each category counts the same, whatever its number of pairs),
and `static` = accuracy on the static items. results.json:

    {"seeds": n, "categories": [...], "metrics": [...],
     "runs": {name: {"per_seed": {metric: [v_seed0, ...]}, "summary": {metric: {n, mean, std}},
                     "bench": {key: {n, mean, std}}, "curves": {metric: {steps, mean, std}}, ...}},
     "comparisons": {"crpo - grpo": {metric: {n, per_seed, mean, std, ci95}}, ...}}

report.png has one panel per dynamic category, one for their mean and one for static accuracy, each against RL
step (mean over seeds, the band one std), from each run's OUTPUT_DIR/evals.jsonl (`eval_steps`).
"""
from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np

from crpo.demo.stats import mean_std, paired_difference

BENCH_KEYS = ("acc", "p_acc", "p_acc_dynamic", "p_acc_static", "static_acc", "dynamic_change_rate",
              "static_keep_rate")
REFERENCE = "crpo"  # the run every other one is compared with


def run_metrics(metrics: dict, categories: tuple[str, ...]) -> dict:
    """{category: P-Acc, "dynamic": mean over the categories, "static": static accuracy} of one bench evaluation
    (a row of evals.jsonl or a metrics.json); a category without pairs is None and the mean is over the others."""
    per_cat = metrics.get("per_category", {})
    values = {c: per_cat.get(c, {}).get("p_acc") for c in categories}
    known = [v for v in values.values() if v is not None]
    return {**values, "dynamic": float(np.mean(known)) if known else None, "static": metrics.get("static_acc")}


def curves(out: Path, seeds: int, name: str, categories: tuple[str, ...]) -> dict:
    """{metric: {steps, mean, std}} over seeds from seedN/NAME/evals.jsonl, at the steps every seed has."""
    per_seed = []
    for s in range(seeds):
        path = out / f"seed{s}" / name / "evals.jsonl"
        if path.exists():
            per_seed.append({r["step"]: run_metrics(r, categories) for r in map(json.loads, path.read_text().splitlines())})
    steps = sorted(set.intersection(*(set(d) for d in per_seed))) if per_seed else []
    result = {}
    for metric in (*categories, "dynamic", "static"):
        values = [[d[t][metric] for d in per_seed if d[t][metric] is not None] for t in steps]
        result[metric] = {"steps": steps, "mean": [float(np.mean(v)) if v else None for v in values],
                          "std": [float(np.std(v)) if v else None for v in values]}
    return result


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


def summarise(out: Path, seeds: int, names: tuple[str, ...], algorithms: tuple[str, ...], notes: list[str],
              categories: tuple[str, ...]) -> dict:
    """results.json, report.md and report.png of a finished demo (see the module docstring)."""
    metrics = (*categories, "dynamic", "static")
    runs = {}
    for name in names:
        per_seed_metrics = [json.loads((out / f"seed{s}" / name / "eval" / "metrics.json").read_text())
                            for s in range(seeds)]
        per_seed = {m: [run_metrics(pm, categories)[m] for pm in per_seed_metrics] for m in metrics}
        entry = {"per_seed": per_seed, "summary": {m: mean_std(v) for m, v in per_seed.items()},
                 "bench": {k: mean_std([pm.get(k) for pm in per_seed_metrics]) for k in BENCH_KEYS}}
        if name in algorithms:
            entry["curves"] = curves(out, seeds, name, categories)
            entry["start_answer_entropy_bits"] = mean_std(
                [answer_entropy(out / f"seed{s}" / name / "rollouts.jsonl") for s in range(seeds)])
        runs[name] = entry
    comparisons = {f"{REFERENCE} - {other}": {m: paired_difference(runs[REFERENCE]["per_seed"][m],
                                                                   runs[other]["per_seed"][m]) for m in metrics}
                   for other in names if other != REFERENCE and REFERENCE in runs}
    results = {"seeds": seeds, "categories": list(categories), "metrics": list(metrics), "runs": runs,
               "comparisons": comparisons}
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "report.md").write_text(report_markdown(results, notes), encoding="utf-8")
    plot_curves(results, algorithms, out / "report.png")
    return results


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def report_markdown(results: dict, notes: list[str]) -> str:
    """Two tables: every run's mean ± std per metric, and crpo minus every other run with its paired 95% CI."""
    metrics, runs, n = results["metrics"], results["runs"], results["seeds"]
    lines = ["# crpo demo", "", f"{n} seed(s), values in percent. P-Acc per dynamic category (a pair counts only when "
             "both of its items are right); `dynamic` is the mean of the categories' P-Acc, `static` the accuracy on "
             "static items. Mean ± std over seeds (std with n - 1).", "",
             "| run | " + " | ".join(metrics) + " |", "|---|" + "---:|" * len(metrics)]
    for name, r in runs.items():
        cells = [f"{_pct(s['mean'])} ± {_pct(s['std'])}" if (s := r["summary"][m]) else "-" for m in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"Paired differences over seeds (same world, start and bench per seed): mean [95% CI] in points"
              + ("; one seed gives no interval." if n < 2 else "."), "",
              "| difference | " + " | ".join(metrics) + " |", "|---|" + "---:|" * len(metrics)]
    for label, diff in results["comparisons"].items():
        cells = []
        for m in metrics:
            d = diff[m]
            ci = d and d.get("ci95")
            cells.append("-" if d is None else f"{100 * d['mean']:+.1f}" +
                         (f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if ci else ""))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", *notes, ""])


def plot_curves(results: dict, algorithms, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(m, f"P-Acc, {m.replace('_', ' ')}") for m in results["categories"]]
    panels += [("dynamic", "P-Acc, mean of the dynamic categories"), ("static", "Accuracy on static items")]
    cols = 3
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.8 * rows), squeeze=False)
    for ax, (metric, title) in zip(axes.flat, panels):
        for name in algorithms:
            c = results["runs"].get(name, {}).get("curves", {}).get(metric)
            if not c or not c["steps"]:
                continue
            keep = [i for i, v in enumerate(c["mean"]) if v is not None]
            steps = np.array(c["steps"])[keep]
            m, s = 100 * np.array(c["mean"])[keep], 100 * np.array(c["std"])[keep]
            ax.plot(steps, m, marker="o", label=name, linewidth=2.5 if name == REFERENCE else 1.5)
            ax.fill_between(steps, m - s, m + s, alpha=0.15)
        ax.set_xlabel("RL step")
        ax.set_ylabel("%")
        ax.set_ylim(0, 100)
        ax.set_title(f"{title} ({results['seeds']} seed(s))", fontsize=10)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
