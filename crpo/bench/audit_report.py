"""Audits as a markdown table and a chart: one audit (`crpo audit` writes them) or several side by side
(`crpo report AUDIT_DIR AUDIT_DIR ... --out DIR`, for a base model against a trained one).

One row per category, per question class and overall; rates in percent, divergences in nats, each rate with its
denominator in the one-audit table (how many items it is over: a rate of 2 items says little).
"""
from __future__ import annotations

import json
from pathlib import Path

from crpo.data.items import DataError

RATES = (("acc", "Acc"), ("change_rate", "change"), ("keep_rate", "keep"), ("p_acc", "P-Acc"))
DIVERGENCES = (("divergence", "KL cf"), ("reverse_divergence", "KL rev"))
CONTROLS = (("control_keep_rate", "control keep"), ("control_divergence", "KL control"))
COLUMNS = RATES + DIVERGENCES + CONTROLS


def _cell(summary: dict, key: str, with_n: bool) -> str:
    value = summary.get(key)
    if value is None:
        return "–"
    text = f"{value:.3g}" if "divergence" in key else f"{100 * value:.1f}"
    n = summary.get(f"{key}_n")
    return f"{text} ({n})" if with_n and n is not None and key != "acc" else text


def _groups(result: dict) -> list[tuple[str, dict]]:
    return ([(f"category {c}", s) for c, s in result["per_category"].items()]
            + [(f"class {c}", s) for c, s in result["per_class"].items()] + [("**overall**", result["overall"])])


def audit_table(audits: dict[str, dict]) -> str:
    """One audit: a row per group, a column per number (with its denominator). Several: a row per (group, audit)."""
    with_n = len(audits) == 1
    head = ["group", "items"] + [label for _, label in COLUMNS]
    if not with_n:
        head.insert(1, "audit")
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    names = list(audits)
    groups = [g for g, _ in _groups(audits[names[0]])]
    for name in names[1:]:
        groups += [g for g, _ in _groups(audits[name]) if g not in groups]
    for group in groups:
        for name in names:
            summary = dict(_groups(audits[name])).get(group)
            if summary is None:
                cells = ["–"] * (len(COLUMNS) + 1)
            else:
                cells = [str(summary["items"])] + [_cell(summary, key, with_n) for key, _ in COLUMNS]
            lines.append("| " + " | ".join([group] + ([] if with_n else [name]) + cells) + " |")
    legend = ("\nAcc: on the original clip. change: dynamic items whose answer changes on the counterfactual clip. "
              "keep: static items whose answer stays. P-Acc: right on both clips, where the text tells the "
              "counterfactual answer. KL cf / KL rev / KL control: mean KL(original || transformed) of the answer "
              "distribution (nats) under the routed transform / the reversal (ArrowRL's TDS) / the other transform. "
              "control keep: items whose answer the other transform leaves alone, kept. Rates in % (denominator).\n")
    return "\n".join(lines) + "\n" + legend


def audit_chart(audits: dict[str, dict], path) -> None:
    """Per category and overall: change rate, keep rate and divergence, one bar colour per audit ("n/a" where a
    category has no item in the denominator)."""
    import matplotlib
    matplotlib.use("Agg")  # reports are written on servers
    import matplotlib.pyplot as plt

    first = next(iter(audits.values()))
    cats = list(first["per_category"]) + ["overall"]

    def value(result, cat, key):
        summary = result["overall"] if cat == "overall" else result["per_category"].get(cat, {})
        return summary.get(key)

    panels = (("change_rate", "change rate (dynamic, %)", 100), ("keep_rate", "keep rate (static, %)", 100),
              ("divergence", "KL(original || counterfactual), nats", 1))
    fig, axes = plt.subplots(1, len(panels), figsize=(max(9.0, 1.1 * len(cats) * len(panels)), 3.8))
    width = 0.8 / len(audits)
    for ax, (key, title, scale) in zip(axes, panels):
        for i, (name, result) in enumerate(audits.items()):
            xs = [j + (i - (len(audits) - 1) / 2) * width for j in range(len(cats))]
            values = [value(result, c, key) for c in cats]
            ax.bar(xs, [scale * (v or 0.0) for v in values], width, label=name)
            for x, v in zip(xs, values):  # no items in the denominator: say so rather than draw a zero
                if v is None:
                    ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=7, color="grey")
        ax.set_xticks(range(len(cats)))
        ax.set_xticklabels(cats, rotation=35, ha="right", fontsize=8)
        ax.set_title(title, fontsize=9)
        if scale == 100:
            ax.set_ylim(0, 100)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def is_audit(run_dir) -> bool:
    return (Path(run_dir) / "audit.json").is_file()


def write_audit_report(run_dirs, out, names) -> None:
    """OUT/report.md and OUT/report.png comparing the audits in `run_dirs` (each holding audit.json), labelled by
    `names` (`crpo report` passes its run labels: runs/base/audit and runs/crpo/audit are base/audit and crpo/audit)."""
    audits = {}
    for name, run_dir in zip(names, map(Path, run_dirs)):
        path = run_dir / "audit.json"
        if not path.is_file():
            raise DataError(f"{path}: missing (an audit folder written by `crpo audit`; the other folders given are "
                            "audits, and an audit is compared with audits only)")
        try:
            audits[name] = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: invalid JSON at line {e.lineno} ({e.msg})") from None
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out}: is a file, not a directory")
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text("# Audits side by side\n\n" + audit_table(audits), encoding="utf-8")
    audit_chart(audits, out / "report.png")
