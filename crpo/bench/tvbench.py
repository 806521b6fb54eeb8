"""TVBench scoring: accuracy per task and their mean, with lmms-eval's TVBench answer parser.

    crpo score --format tvbench --data tvbench_items.jsonl --predictions predictions.jsonl
    crpo score --format tvbench --data TVBench/json/ --predictions predictions.jsonl

TVBench uses MVBench's layout (candidates + answer text; same inputs as `crpo.bench.mvbench`). Reference: lmms-eval
0.7.3, tasks/tvbench/utils.py (`_extract_choice_letter`, `tvbench_doc_to_target`, `tvbench_process_results`, metric
aggregation "mean"), applied to the output lmms-eval's pipeline hands it (stripped; None as ""). Reimplemented here
and tested against that code loaded unedited (tests/test_official_mvbench.py). What it does:

- The prediction's letter, among A.. up to the number of candidates (at least A-B): the first stand-alone letter
  of the upper-cased output if it is a valid choice (only the first is looked at); else a leading "(X", "[X", "X)",
  "X.", "X:" with X valid; else the one candidate whose normalised text (lower-case, single spaces) occurs in the
  output. Otherwise no letter, which is wrong. An empty output and a missing row are wrong.
- The gold letter is the first candidate equal to the answer text after the same normalisation.
- Quirk `index_target` (default off): lmms-eval's `tvbench_doc_to_target` reads an answer that is a one-letter word
  as that letter and one that is a number as a 0- or 1-based option index, before it looks at the candidates; on
  the count tasks, whose candidates are numbers, that is a wrong gold letter whenever the candidates are not 0..n-1
  or 1..n in order. crpo is right by default; on reproduces lmms-eval's number.

Per task acc = right / questions; `mean_task_acc` is the mean over tasks (TVBench's tasks differ in size), `acc` the
pooled accuracy. Fractions in [0, 1].
"""
from __future__ import annotations

import re

from crpo.bench.mvbench import lmms_output, load_task_items, task_of
from crpo.bench.predictions import raw_outputs
from crpo.data.items import LETTERS, Item


def _normalize(text) -> str:
    return " ".join(str(text or "").strip().lower().split())


def choice_letter(prediction: str, candidates: list[str]) -> str:
    """The letter lmms-eval's `_extract_choice_letter` reads from `prediction`, or "" when none."""
    text = str(prediction or "").strip()
    if not text:
        return ""
    choices = LETTERS[: max(len(candidates), 2)]
    upper = text.upper()
    m = re.search(r"\b([A-Z])\b", upper)
    if m and m.group(1) in choices:
        return m.group(1)
    m = re.match(r"^\s*[\(\[]?([A-Z])[\)\].:]?", upper)
    if m and m.group(1) in choices:
        return m.group(1)
    pred = _normalize(text)
    hits = [i for i, c in enumerate(candidates) if _normalize(c) and _normalize(c) in pred]
    return choices[hits[0]] if len(hits) == 1 else ""


def target_letter(item: Item, index_target: bool = False) -> str:
    """The gold letter: the first candidate matching the answer text; with `index_target`, lmms-eval's reading."""
    candidates = item.options
    text = str(candidates[LETTERS.index(item.answer)]).strip()
    if index_target:
        if len(text) == 1 and text.isalpha():
            return text.upper()
        if text.isdigit():
            index = int(text)
            if 0 <= index < len(candidates):
                return LETTERS[index]
            if 1 <= index <= len(candidates):
                return LETTERS[index - 1]
    for i, c in enumerate(candidates):
        if _normalize(c) == _normalize(text):
            return LETTERS[i]
    return text.upper()


def tvbench_metrics(items: list[Item], outputs: dict[str, str | None], index_target: bool = False) -> dict:
    """Metrics from items and raw outputs {id: text}; an id absent from `outputs` is a missing prediction (wrong)."""
    per: dict[str, list[int]] = {}
    for it in items:
        t = per.setdefault(task_of(it), [0, 0])
        t[0] += 1
        t[1] += choice_letter(lmms_output(outputs.get(it.id)), it.options) == target_letter(it, index_target)
    tasks = {name: {"questions": n, "acc": r / n} for name, (n, r) in sorted(per.items())}
    total = sum(n for n, _ in per.values())
    return {
        "questions": total,
        "missing": sum(it.id not in outputs for it in items),
        "acc": sum(r for _, r in per.values()) / total if total else None,
        "mean_task_acc": sum(t["acc"] for t in tasks.values()) / len(tasks) if tasks else None,
        "per_task": tasks,
    }


def score_tvbench(data, predictions, quirks: dict[str, bool]) -> dict:
    items = load_task_items(data)
    out = tvbench_metrics(items, raw_outputs(items, predictions), index_target=quirks["index_target"])
    return {**out, "quirks": quirks}
