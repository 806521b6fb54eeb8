"""MVBench scoring: accuracy per task and their mean, with lmms-eval's MVBench answer parser and aggregation.

    crpo score --format mvbench --data mvbench_items.jsonl --predictions predictions.jsonl
    crpo score --format mvbench --data MVBench/json/ --predictions predictions.jsonl

Reference: lmms-eval 0.7.3, tasks/mvbench/utils.py (`mcq_acc`, `mvbench_process_results`,
`mvbench_aggregate_results`), applied to what lmms-eval's pipeline hands them: the raw output stripped of
surrounding whitespace (ConfigurableTask.process_results; None becomes ""). Reimplemented here, and tested against
that code loaded unedited (tests/test_official_mvbench.py). What it does:

- The gold letter is that of the first candidate equal to the answer text.
- `mcq_acc` turns prediction and gold into a comparable token: "X. text" (X in A-E, any case) gives X; otherwise
  newlines and tabs become spaces, punctuation is removed or spaced (lmms-eval's VQA rules, its regex quirks
  included: the period rule is applied at most 32 times), quotes and brackets are stripped, the text is
  lower-cased, and the first stand-alone letter a-e (any case) gives that letter ("I think a person..." reads as
  A); with no such letter the whole processed text is the token. Option text alone never matches a letter.
- Quirk `empty_excluded` (default on, as lmms-eval): an output that is empty after the strip, and a prediction row
  that is missing, is left out of its task's denominator; a task with no answered question scores 0. Off: they
  count wrong.

Per task acc = right / answered; `mean_task_acc` is the mean over tasks (the MVBench "Avg"; lmms-eval reports the 20
tasks and leaves the mean to the reader); `acc` pools all answered questions. Fractions in [0, 1] (lmms-eval prints
percentages).

Inputs: `--data` is our items JSONL (task = category; `crpo data import --format mvbench`) or the official directory
of task files (MVBench's json/<task>.json: rows {video, question, candidates, answer}), whose items get the ids
"<task>-<row>" (row from 0 in file order); `--predictions` is our predictions JSONL. The raw `output` of a row is
parsed (its `answer` when it has no output), never crpo's own extraction.
"""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from crpo.bench.predictions import raw_outputs, read_rows
from crpo.data.items import LETTERS, DataError, Item, load_items

_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")  # sic: a look-ahead where a look-behind was meant
_COMMA_STRIP = re.compile(r"(\d)(\,)(\d)")
_PUNCT = [";", r"/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"]
_OPTION = re.compile(r"^([A-E])\.\s*(.+)$", re.IGNORECASE)
_LETTER = re.compile(r"\b([A-E])\b", re.IGNORECASE)


def _punctuation(text: str) -> str:
    out = text
    for p in _PUNCT:
        if (p + " " in text or " " + p in text) or _COMMA_STRIP.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD_STRIP.sub("", out, 32)  # lmms-eval passes re.UNICODE (= 32) where sub() takes its count


def mcq_token(text: str) -> str:
    """The token lmms-eval's `mcq_acc` compares: an upper-case letter, or the processed text."""
    m = _OPTION.match(text.strip())
    if m:
        return m.group(1).upper()
    text = text.replace("\n", " ").replace("\t", " ").strip()
    text = _punctuation(text)
    text = text.strip("'").strip('"').strip(")").strip("(").strip().lower()
    m = _LETTER.search(text)
    return m.group(1).upper() if m else text


def gold_letter(item: Item) -> str:
    """The letter of the first option whose text equals the gold option's (lmms-eval's loop over candidates)."""
    text = item.options[LETTERS.index(item.answer)]
    return LETTERS[item.options.index(text)]


def lmms_output(raw) -> str:
    """What lmms-eval's pipeline hands a task's process_results: the output stripped, None as ""."""
    return "" if raw is None else str(raw).strip()


def task_of(item: Item) -> str:
    return item.category or str(item.extra.get("task") or "unknown")


def mvbench_metrics(items: list[Item], outputs: dict[str, str | None], empty_excluded: bool = True) -> dict:
    """Metrics from items and raw outputs {id: text}; an id absent from `outputs` is a missing prediction."""
    per: dict[str, list[int]] = {}  # task -> [questions, answered, right]
    empty = 0
    for it in items:
        pred = lmms_output(outputs.get(it.id))
        t = per.setdefault(task_of(it), [0, 0, 0])
        t[0] += 1
        if not pred:
            empty += 1
            if empty_excluded:
                continue
        t[1] += 1
        t[2] += mcq_token(pred) == mcq_token(gold_letter(it))
    tasks = {name: {"questions": n, "answered": a, "acc": r / a if a else 0.0}
             for name, (n, a, r) in sorted(per.items())}
    answered = sum(a for _, a, _ in per.values())
    return {
        "questions": sum(n for n, _, _ in per.values()),
        "answered": answered,
        "missing": sum(it.id not in outputs for it in items),
        "empty": empty,
        "acc": sum(r for _, _, r in per.values()) / answered if answered else None,
        "mean_task_acc": sum(t["acc"] for t in tasks.values()) / len(tasks) if tasks else None,
        "per_task": tasks,
    }


def load_task_items(data) -> list[Item]:
    """Items from our items JSONL, or from a directory of official task files (json/<task>.json)."""
    path = Path(data)
    if not path.is_dir():
        return load_items(path)
    from crpo.data.importers import from_mvbench

    files = sorted(path.glob("*.json")) + sorted(path.glob("*.jsonl"))
    if not files:
        raise DataError(f"{path}: no task files (expected MVBench/TVBench json/<task>.json)")
    items = []
    for f in files:
        for i, row in enumerate(read_rows(f)):
            where = f"{f}:row {i + 1}"
            try:
                item = from_mvbench(row, where)
            except KeyError as e:
                raise DataError(f"{where}: missing field {e}") from None
            items.append(replace(item, id=f"{f.stem}-{i}", category=f.stem))
    return items


def score_mvbench(data, predictions, quirks: dict[str, bool]) -> dict:
    items = load_task_items(data)
    out = mvbench_metrics(items, raw_outputs(items, predictions), empty_excluded=quirks["empty_excluded"])
    return {**out, "quirks": quirks}
