"""Several evaluation runs side by side: a markdown table and a bar chart of P-Acc per category.

    crpo report runs/base runs/grpo runs/crpo --out runs/report

Reads RUN_DIR/metrics.json of every run (the DyBench metrics of `crpo.bench.score`; the run's name is its
directory name) and writes OUT/report.md (one column per run: Acc, P-Acc overall and per category, static Acc,
dynamic change rate, static keep rate, in percent) and OUT/report.png (P-Acc per category, one bar per run).
"""
from __future__ import annotations

import json
from pathlib import Path

from crpo.data import DataError

ROWS = (("acc", "Acc"), ("p_acc", "P-Acc"), ("p_acc_dynamic", "P-Acc dynamic pairs"),
        ("p_acc_static", "P-Acc static pairs"), ("static_acc", "Static Acc"),
        ("dynamic_change_rate", "Dynamic change rate"), ("static_keep_rate", "Static keep rate"))


def load_runs(run_dirs) -> dict[str, dict]:
    runs = {}
    for run_dir in map(Path, run_dirs):
        path = run_dir / "metrics.json"
        if not path.is_file():
            raise DataError(f"{path}: missing (run `crpo eval` or `crpo score` into this directory first)")
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: invalid JSON at line {e.lineno} ({e.msg})") from None
        name = run_dir.resolve().name
        if name in runs:
            raise DataError(f"{run_dir}: two runs are named '{name}'")
        runs[name] = metrics
    return runs


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def categories_of(runs: dict[str, dict]) -> list[str]:
    return sorted({c for m in runs.values() for c in m.get("per_category", {})})


def markdown_table(runs: dict[str, dict]) -> str:
    """One row per metric, one column per run; values in percent, '–' where a run lacks the metric."""
    names = list(runs)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    rows = [(label, [m.get(key) for m in runs.values()]) for key, label in ROWS[:2]]
    for cat in categories_of(runs):
        rows.append((f"P-Acc {cat}", [m.get("per_category", {}).get(cat, {}).get("p_acc") for m in runs.values()]))
    rows += [(label, [m.get(key) for m in runs.values()]) for key, label in ROWS[2:]]
    lines += [f"| {label} | " + " | ".join(_pct(v) for v in values) + " |" for label, values in rows]
    return "\n".join(lines) + "\n"


def bar_chart(runs: dict[str, dict], path) -> None:
    import matplotlib
    matplotlib.use("Agg")  # no display: reports are written on servers
    import matplotlib.pyplot as plt

    cats = categories_of(runs) + ["overall"]
    width = 0.8 / max(len(runs), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(cats) * max(1, len(runs)) ** 0.5), 4))
    for i, (name, m) in enumerate(runs.items()):
        values = [m.get("per_category", {}).get(c, {}).get("p_acc") for c in cats[:-1]] + [m.get("p_acc")]
        xs = [j + (i - (len(runs) - 1) / 2) * width for j in range(len(cats))]
        ax.bar(xs, [100 * (v or 0.0) for v in values], width, label=name)
    ax.set_xticks(range(len(cats)))
    ax.set_xticklabels(cats, rotation=30, ha="right")
    ax.set_ylabel("P-Acc (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Pair accuracy per category")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(run_dirs, out) -> None:
    from crpo.bench.audit_report import is_audit, write_audit_report
    if any(is_audit(d) and not (Path(d) / "metrics.json").is_file() for d in run_dirs):  # `crpo audit` folders
        return write_audit_report(run_dirs, out)
    runs = load_runs(run_dirs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    header = "# Paired benchmark report\n\nValues in percent. P-Acc: a pair counts only when both of its items " \
             "are right.\n\n"
    (out / "report.md").write_text(header + markdown_table(runs), encoding="utf-8")
    bar_chart(runs, out / "report.png")
