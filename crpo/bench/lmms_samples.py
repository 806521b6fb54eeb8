"""lmms-eval logs in: the model outputs of an lmms-eval run (`--log_samples`) joined onto the items of a crpo bench.

    crpo score --format dybench --data bench.jsonl --lmms-eval-samples out/<model>/<date>_samples_<task>.jsonl

The run is one of a task written by `crpo bench build --lmms-eval-task` (crpo/bench/lmms_task.py). lmms-eval 0.7.3
writes one JSON row per document: doc_id (the document's position in the task's test split), target (str of
doc_to_target: our gold answer), filtered_resps (the output its metrics read; a one-element list is flattened),
resps (the raw output, dropped when equal), and the dict our process_results returned under each metric name,
which carries the item id. The join uses that id; a row without one is joined by doc_id on the bench's item order
(the order the task's docs were written in). A row whose target is not the joined item's answer, a doc_id outside
the bench, or an id the bench lacks is an error naming the file and line: the samples belong to another bench.
The output read is filtered_resps (what lmms-eval itself scored), else resps; a later row for the same item wins.
"""
from __future__ import annotations

import json

from crpo.data.items import DataError, Item


def _first_text(value):
    """A response as lmms-eval logs it: a string, or a list (per request, per repeat) whose first string we take."""
    while isinstance(value, list):
        if not value:
            return None
        value = value[0]
    return value if value is None or isinstance(value, str) else str(value)


def _logged_id(row: dict):
    for value in row.values():
        if isinstance(value, dict) and "id" in value and "output" in value:
            return str(value["id"])
    return None


def read_samples(paths, items: list[Item]) -> dict[str, str | None]:
    """{item id: raw output} from one or more lmms-eval samples files; see the module docstring."""
    by_id = {it.id: it for it in items}
    outputs: dict[str, str | None] = {}
    for path in [paths] if isinstance(paths, (str, bytes)) or not hasattr(paths, "__iter__") else paths:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{where}: invalid JSON ({e.msg})") from None
            if not isinstance(row, dict) or "doc_id" not in row:
                raise DataError(f"{where}: not an lmms-eval sample row (expected a JSON object with 'doc_id')")
            item_id = _logged_id(row)
            if item_id is None:
                doc_id = row["doc_id"]
                if not isinstance(doc_id, int) or not 0 <= doc_id < len(items):
                    raise DataError(f"{where}: doc_id {doc_id!r} is outside the bench's {len(items)} items")
                item_id = items[doc_id].id
            elif item_id not in by_id:
                raise DataError(f"{where}: item id '{item_id}' is not in the bench")
            item = by_id[item_id]
            if "target" in row and str(row["target"]).strip() != str(item.answer).strip():
                raise DataError(f"{where}: target '{row['target']}' is not the answer '{item.answer}' of item "
                                f"'{item_id}': these samples are of another bench")
            output = row["filtered_resps"] if "filtered_resps" in row else row.get("resps")
            outputs[item_id] = _first_text(output)
    return outputs
