"""Reading predictions, shared by every scorer (crpo/bench/score.py's DyBench metrics and the peer scorers, which
`score_file` dispatches to): prediction rows, the raw output an official parser reads, the answer a row gives.

Below the scorers, so that no scorer imports the dispatcher back. Formats: crpo/bench/score.py's docstring.
"""
from __future__ import annotations

import math

from crpo.data.items import DataError, Item, read_jsonl


def read_rows(path) -> list:
    """The rows of a JSON list or JSONL file; invalid JSON is a DataError naming the file and line."""
    import json

    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        if text.lstrip().startswith("["):
            return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: invalid JSON at line {e.lineno} ({e.msg})") from None
    return [row for _, row in read_jsonl(path)]


def read_predictions(path) -> dict[str, dict]:
    """Our predictions JSONL -> {id: row}; a later row for the same id wins (resumed runs append)."""
    rows = {}
    for lineno, row in read_jsonl(path):
        where = f"{path}:{lineno}"
        if not isinstance(row, dict) or row.get("id") in (None, ""):
            raise DataError(f"{where}: prediction row has no 'id'")
        if "output" not in row and "answer" not in row:
            raise DataError(f"{where}: prediction '{row['id']}' has neither 'output' nor 'answer'")
        rows[str(row["id"])] = row
    return rows


def raw_output(row: dict):
    """The text an official parser reads from one of our prediction rows: "output", else "answer" (may be None)."""
    return row["output"] if "output" in row else row.get("answer")


def raw_outputs(items: list[Item], predictions) -> dict[str, object]:
    """{item id: raw output} for the items that have a prediction row (ids absent: missing); an unknown id is an
    error. `predictions` is a predictions JSONL path or an already read {id: row}."""
    rows = predictions if isinstance(predictions, dict) else read_predictions(predictions)
    ids = {it.id for it in items}
    unknown = [pid for pid in rows if pid not in ids]
    if unknown:
        raise DataError(f"{predictions if not isinstance(predictions, dict) else 'predictions'}: {len(unknown)} "
                        f"prediction id(s) match no benchmark item, e.g. '{unknown[0]}'")
    return {pid: raw_output(row) for pid, row in rows.items()}


def predicted_answer(item: Item, row: dict | None) -> str | None:
    """The answer a prediction row gives for `item`: its 'answer' field if present, else extracted from 'output'."""
    if row is None:
        return None
    if "answer" in row:
        return None if row["answer"] is None else str(row["answer"])
    from crpo.rl.answers import extract_answer  # lazy: rewards is only needed for raw outputs
    return extract_answer(row.get("output") or "", item.problem_type, item.options)


def canonical(problem_type: str, answer) -> str | None:
    """The comparable form `crpo.rl.rewards.extract_answer` gives (letter upper-case, yes/no lower-case, numbers in
    canonical text, free text normalised), applied to gold answers and to given 'answer' fields; None if unusable."""
    from crpo.rl.answers import format_number, normalize_text
    if answer is None or not str(answer).strip():
        return None
    text = str(answer).strip()
    if problem_type == "multiple_choice":
        return text.upper()
    if problem_type == "yes_no":
        return text.lower()
    if problem_type in ("numerical", "regression"):
        try:
            value = float(text.replace(",", ""))
        except ValueError:
            return None
        return format_number(value) if math.isfinite(value) else None
    return normalize_text(text) or None
