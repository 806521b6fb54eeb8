"""Several evaluation runs side by side: a markdown table and a bar chart of P-Acc per category.

    crpo report runs/base runs/grpo runs/crpo --out runs/report

Reads RUN_DIR/metrics.json of every run (the DyBench metrics of `crpo eval` or `crpo score --out`; the run's name
is its directory name, with parent folders added where two runs share it) and writes OUT/report.md (one column per
run: item and pair counts, then Acc, P-Acc overall and per category, static Acc, dynamic change rate, static keep
rate, in percent; a note when the benches differ in size) and OUT/report.png (P-Acc per category and over dynamic,
static and all pairs, one labelled bar per run, pair counts under each group).
"""
from __future__ import annotations

import json
from pathlib import Path

from crpo.data.items import DataError

ROWS = (("acc", "Acc"), ("p_acc", "P-Acc"), ("p_acc_dynamic", "P-Acc dynamic pairs"),
        ("p_acc_static", "P-Acc static pairs"), ("static_acc", "Static Acc"),
        ("dynamic_change_rate", "Dynamic change rate"), ("static_keep_rate", "Static keep rate"))
COUNTS = (("items", "Items"), ("pairs", "Pairs"), ("dynamic_pairs", "Dynamic pairs"), ("static_pairs", "Static pairs"))


def run_names(run_dirs) -> list[str]:
    """A label per run: its folder's name, or as many trailing path parts as tell the runs apart (runs/a/eval and
    runs/b/eval are `a/eval` and `b/eval`, the common runs/X/eval layout)."""
    paths = [Path(d).resolve() for d in run_dirs]
    for path, original in zip(paths, run_dirs):
        if paths.count(path) > 1:
            raise DataError(f"{original}: the same run is given twice")
    depth = 1
    while True:
        names = ["/".join(p.parts[-depth:]) for p in paths]
        if len(set(names)) == len(names) or depth >= max(len(p.parts) for p in paths):
            return names
        depth += 1


def load_runs(run_dirs) -> dict[str, dict]:
    runs = {}
    for name, run_dir in zip(run_names(run_dirs), map(Path, run_dirs)):
        path = run_dir / "metrics.json"
        if not path.is_file():
            raise DataError(f"{path}: missing (run `crpo eval --out {run_dir}` or `crpo score --out {run_dir}` first)")
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: invalid JSON at line {e.lineno} ({e.msg})") from None
        if not isinstance(metrics, dict):
            raise DataError(f"{path}: expected a JSON object of metrics")
        runs[name] = metrics
    return runs


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _count(value) -> str:
    return "–" if value is None else str(value)


def categories_of(runs: dict[str, dict]) -> list[str]:
    return sorted({c for m in runs.values() for c in m.get("per_category", {})})


def markdown_table(runs: dict[str, dict]) -> str:
    """One row per metric, one column per run; values in percent, '–' where a run lacks the metric; the item and
    pair counts first, so that runs on benches of different sizes are not read as comparable."""
    names = list(runs)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, label in COUNTS:
        lines.append(f"| {label} | " + " | ".join(_count(m.get(key)) for m in runs.values()) + " |")
    rows = [(label, [m.get(key) for m in runs.values()]) for key, label in ROWS[:2]]
    for cat in categories_of(runs):
        rows.append((f"P-Acc {cat}", [m.get("per_category", {}).get(cat, {}).get("p_acc") for m in runs.values()]))
    rows += [(label, [m.get(key) for m in runs.values()]) for key, label in ROWS[2:]]
    lines += [f"| {label} | " + " | ".join(_pct(v) for v in values) + " |" for label, values in rows]
    return "\n".join(lines) + "\n"


def size_note(runs: dict[str, dict]) -> str:
    """A warning line when the runs evaluated different numbers of items or pairs, else ''."""
    sizes = {name: (m.get("items"), m.get("pairs")) for name, m in runs.items()}
    if len(set(sizes.values())) <= 1:
        return ""
    listed = ", ".join(f"{name}: {_count(i)} items / {_count(p)} pairs" for name, (i, p) in sizes.items())
    return f"**Note: the runs evaluated benches of different sizes** ({listed}); their numbers are not comparable.\n\n"


def chart_groups(runs: dict[str, dict]) -> list[tuple[str, list, list]]:
    """(label, [P-Acc per run or None], [pairs per run or None]) for every category, then the dynamic pairs, the
    static pairs and all pairs."""
    groups = []
    for cat in categories_of(runs):
        per = [m.get("per_category", {}).get(cat) for m in runs.values()]
        groups.append((cat, [c.get("p_acc") if c else None for c in per], [c.get("pairs") if c else None for c in per]))
    for key, pairs_key, label in (("p_acc_dynamic", "dynamic_pairs", "dynamic pairs"),
                                  ("p_acc_static", "static_pairs", "static pairs"), ("p_acc", "pairs", "all pairs")):
        groups.append((label, [m.get(key) for m in runs.values()], [m.get(pairs_key) for m in runs.values()]))
    return groups


def bar_chart(runs: dict[str, dict], path) -> None:
    """P-Acc per category, then over dynamic, static and all pairs, one bar per run, each labelled with its value;
    a run without the metric gets 'n/a' (no bar), so a zero is never confused with a missing value. Tick labels
    carry the pair counts (one per run where they differ)."""
    import matplotlib
    matplotlib.use("Agg")  # no display: reports are written on servers
    import matplotlib.pyplot as plt

    groups = chart_groups(runs)
    n = max(len(runs), 1)
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(groups) * n ** 0.5), 4.5))
    for i, name in enumerate(runs):
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(groups))]
        values = [g[1][i] for g in groups]
        bars = ax.bar(xs, [100 * v if v is not None else 0.0 for v in values], width, label=name)
        for x, bar, v in zip(xs, bars, values):
            text = "n/a" if v is None else f"{100 * v:.0f}"
            ax.text(x, bar.get_height() + 1, text, ha="center", va="bottom", fontsize=7,
                    color="grey" if v is None else "black")
    labels = []
    for label, _, pairs in groups:
        counts = sorted({p for p in pairs if p is not None})
        labels.append(f"{label}\n({'|'.join(map(str, counts)) or '?'} pairs)")
    ax.axvline(len(groups) - 3.5, color="grey", linewidth=0.8, linestyle=":")  # categories | summaries
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("P-Acc (%)")
    ax.set_ylim(0, 110)
    ax.set_title("Pair accuracy per category, dynamic and static pairs")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the axes: never over a bar
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(run_dirs, out) -> None:
    from crpo.bench.audit_report import is_audit, write_audit_report
    if any(is_audit(d) and not (Path(d) / "metrics.json").is_file() for d in run_dirs):  # `crpo audit` folders
        return write_audit_report(run_dirs, out, run_names(run_dirs))
    runs = load_runs(run_dirs)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out}: is a file, not a directory")
    out.mkdir(parents=True, exist_ok=True)
    header = "# Paired benchmark report\n\nValues in percent. P-Acc: a pair counts only when both of its items " \
             "are right.\n\n"
    (out / "report.md").write_text(header + size_note(runs) + markdown_table(runs), encoding="utf-8")
    bar_chart(runs, out / "report.png")
