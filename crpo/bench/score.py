"""Score predictions without a model: DyBench metrics (Acc, P-Acc, sensitivity) and the `crpo score` dispatch.

    crpo score --format dybench --data bench.jsonl --predictions predictions.jsonl
    crpo score --format dybench --data bench.jsonl --lmms-eval-samples <date>_samples_<task>.jsonl

prints `score_file(fmt, data, predictions)` as one JSON object. The peer formats (timeblind, vinoground,
tempcompass, mvbench, tvbench, mvp, vitatecs) live in one file each and apply their benchmark's official answer
parser and aggregation to the raw model output (docs/scorers.md: which reference each reproduces, its quirks and the
`--quirk NAME=on|off` switches of crpo/bench/quirks.py).

Our predictions file is JSONL, one row per item: {"id": ..., "output": raw model text} or {"id": ..., "answer":
already extracted answer, null when the output could not be parsed}. DyBench extracts the answer from "output"
with `crpo.rl.answers.extract_answer`, as in training; the peer scorers read "output" with the benchmark's own parser
(a row without one: its "answer"). The file is append-only (a resumed evaluation appends), so a later row for the
same id wins. A missing or unparseable DyBench prediction counts wrong.
With --lmms-eval-samples the outputs come from an lmms-eval run of a bench exported by `crpo bench build
--lmms-eval-task` (crpo/bench/lmms_samples.py).

DyBench metrics (all fractions in [0, 1]; null where the denominator is 0):
- acc            item accuracy.
- p_acc          pair accuracy: a pair (the items sharing a pair_id) counts only when both of its items are right, so a
                 model that gives one fixed answer to a dynamic pair, whose two gold answers differ, cannot score.
- p_acc_dynamic / p_acc_static: P-Acc over dynamic pairs (gold answers differ) and static pairs (gold answers equal).
- static_acc     item accuracy on the static categories (STATIC_CATEGORIES): does the model still see the scene?
- dynamic_change_rate  fraction of dynamic pairs whose two predicted answers differ (sensitivity to the change);
- static_keep_rate     fraction of static pairs whose two predicted answers agree (invariance).
                 A pair with a missing or unparseable answer counts as neither changed nor kept.
- per_category   {category: {items, pairs, acc, p_acc}}; a pair's category is that of its first item.
- missing / unparsed: items without a prediction row / with one whose answer cannot be read (both count wrong).
"""
from __future__ import annotations

from pathlib import Path

from crpo.bench.predictions import canonical, predicted_answer, read_predictions
from crpo.data.items import DataError, Item, load_items

STATIC_CATEGORIES = ("static_attribute", "static_spatial", "counting")


def _frac(num: int, den: int) -> float | None:
    return num / den if den else None


def pairs_of(items: list[Item]) -> dict[str, list[Item]]:
    """Group items by pair_id (file order kept); a pair must hold exactly two items."""
    groups: dict[str, list[Item]] = {}
    for it in items:
        if it.pair_id is not None:
            groups.setdefault(it.pair_id, []).append(it)
    for pid, group in groups.items():
        if len(group) != 2:
            raise DataError(f"pair '{pid}' has {len(group)} items (expected 2: {', '.join(i.id for i in group)})")
    return groups


def dybench_metrics(items: list[Item], answers: dict[str, str | None]) -> dict:
    """DyBench metrics from items and predicted answers {item id: answer, None if unparsable; absent: no prediction};
    see the module docstring."""
    seen = set()
    for it in items:
        if it.id in seen:
            raise DataError(f"duplicate item id '{it.id}' in the benchmark")
        seen.add(it.id)
    pred = {it.id: canonical(it.problem_type, answers.get(it.id)) for it in items}
    right = {it.id: pred[it.id] is not None and pred[it.id] == canonical(it.problem_type, it.answer) for it in items}
    pairs = pairs_of(items)

    def cat(it: Item) -> str:
        return it.category or "uncategorized"

    per_cat: dict[str, dict] = {}
    for it in items:
        c = per_cat.setdefault(cat(it), {"items": 0, "right": 0, "pairs": 0, "pairs_right": 0})
        c["items"] += 1
        c["right"] += right[it.id]
    dyn = {"n": 0, "right": 0, "changed": 0}
    sta = {"n": 0, "right": 0, "kept": 0}
    for a, b in pairs.values():
        both = right[a.id] and right[b.id]
        c = per_cat[cat(a)]
        c["pairs"] += 1
        c["pairs_right"] += both
        dynamic = canonical(a.problem_type, a.answer) != canonical(b.problem_type, b.answer)
        answered = pred[a.id] is not None and pred[b.id] is not None
        group = dyn if dynamic else sta
        group["n"] += 1
        group["right"] += both
        if dynamic:
            dyn["changed"] += answered and pred[a.id] != pred[b.id]
        else:
            sta["kept"] += answered and pred[a.id] == pred[b.id]

    static_items = [it for it in items if it.category in STATIC_CATEGORIES]
    return {
        "items": len(items),
        "pairs": len(pairs),
        "missing": sum(it.id not in answers for it in items),
        "unparsed": sum(it.id in answers and answers[it.id] is None for it in items),
        "acc": _frac(sum(right.values()), len(items)),
        "p_acc": _frac(dyn["right"] + sta["right"], len(pairs)),
        "p_acc_dynamic": _frac(dyn["right"], dyn["n"]),
        "p_acc_static": _frac(sta["right"], sta["n"]),
        "static_acc": _frac(sum(right[it.id] for it in static_items), len(static_items)),
        "dynamic_pairs": dyn["n"],
        "static_pairs": sta["n"],
        "dynamic_change_rate": _frac(dyn["changed"], dyn["n"]),
        "static_keep_rate": _frac(sta["kept"], sta["n"]),
        "per_category": {
            name: {"items": c["items"], "pairs": c["pairs"], "acc": _frac(c["right"], c["items"]),
                   "p_acc": _frac(c["pairs_right"], c["pairs"])}
            for name, c in sorted(per_cat.items())
        },
    }


def answers_for(items: list[Item], predictions: dict[str, dict], where="predictions") -> dict[str, str | None]:
    """{item id: predicted answer, None when unparsable} for every item with a prediction (an item without one is
    left out: missing); prediction ids that match no item are an error."""
    ids = {it.id for it in items}
    unknown = [pid for pid in predictions if pid not in ids]
    if unknown:
        raise DataError(f"{where}: {len(unknown)} prediction id(s) match no benchmark item, e.g. '{unknown[0]}'")
    return {it.id: predicted_answer(it, predictions[it.id]) for it in items if it.id in predictions}


def score_dybench(data, predictions=None, lmms_eval_samples=None) -> dict:
    items = load_items(data)
    try:  # the bench's own problems first: they are not the predictions' fault
        pairs_of(items)
    except DataError as e:
        raise DataError(f"{data}: {e}") from None
    if lmms_eval_samples:
        from crpo.bench.lmms_samples import read_samples
        predictions = {pid: {"id": pid, "output": out} for pid, out in read_samples(lmms_eval_samples, items).items()}
        answers = answers_for(items, predictions, lmms_eval_samples)
    else:
        rows = read_predictions(predictions)
        if not rows:  # an empty file would score every item wrong: acc 0.0 that is not the model's
            raise DataError(f"{predictions}: no predictions (the file is empty)")
        answers = answers_for(items, rows, predictions)
    try:
        return dybench_metrics(items, answers)
    except DataError as e:
        raise DataError(f"{data}: {e}") from None


FORMATS = ("dybench", "timeblind", "vinoground", "tempcompass", "mvbench", "tvbench", "mvp", "vitatecs")


def _blank_file(path) -> bool:
    """A file with nothing but white space in it (a large file is not read: it is not blank)."""
    p = Path(path)
    return p.is_file() and p.stat().st_size < 1 << 16 and not p.read_bytes().strip()


def score_file(fmt: str, data, predictions=None, quirks=None, lmms_eval_samples=None) -> dict:
    """Metrics of one predictions file against one benchmark file, for `crpo score`.

    `quirks`: {name: bool} or ["name=on", ...] switches of the format's official-code quirks (crpo/bench/quirks.py);
    the peer scorers report the switches they used under "quirks". `lmms_eval_samples` (dybench only): lmms-eval
    --log_samples file(s) to read the outputs from instead of `predictions`.
    """
    from crpo.bench.quirks import resolve_quirks

    if fmt not in FORMATS:
        raise DataError(f"unknown benchmark format '{fmt}' (expected {', '.join(FORMATS)})")
    q = resolve_quirks(fmt, quirks)
    if lmms_eval_samples and fmt != "dybench":
        raise DataError(f"--lmms-eval-samples is read by --format dybench only (lmms-eval has its own {fmt} task)")
    if predictions is None and not lmms_eval_samples:
        raise DataError("give --predictions FILE (or, for dybench, --lmms-eval-samples FILE)")
    if fmt != "dybench" and _blank_file(predictions):  # (dybench checks its bench's pairs first, then this)
        # every peer scorer would report acc 0.0 for every item "missing": a number that is not the model's
        raise DataError(f"{data}: no items (the file is empty)" if _blank_file(data) else
                        f"{predictions}: no predictions (the file is empty)")
    if fmt == "dybench":
        return score_dybench(data, predictions, lmms_eval_samples)
    if fmt == "timeblind":
        from crpo.bench.timeblind import score_timeblind
        return score_timeblind(data, predictions)
    if fmt == "vinoground":
        from crpo.bench.vinoground import score_vinoground
        return score_vinoground(data, predictions, q)
    if fmt == "tempcompass":
        from crpo.bench.tempcompass import score_tempcompass
        return score_tempcompass(data, predictions, q)
    if fmt == "mvbench":
        from crpo.bench.mvbench import score_mvbench
        return score_mvbench(data, predictions, q)
    if fmt == "mvp":
        from crpo.bench.mvp import score_mvp
        return score_mvp(data, predictions, q)
    if fmt == "vitatecs":
        from crpo.bench.vitatecs import score_vitatecs
        return score_vitatecs(data, predictions, q)
    from crpo.bench.tvbench import score_tvbench
    return score_tvbench(data, predictions, q)
