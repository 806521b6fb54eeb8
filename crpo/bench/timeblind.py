"""TimeBlind scoring (Acc, Q_Acc, V_Acc, I_Acc), reproducing the benchmark's own evaluation.

    crpo score --format timeblind --data TimeBlind/data.jsonl --predictions predictions.json

Source of the definitions: github.com/Baiqi-Li/TimeBlind, utils.py (`extract_answer`, `build_answers`,
`get_scores`, commit 229b25a). Reimplemented here, not copied; what it does:

- Rows form instances of four: instance `index // 4`, role `index % 4` = q0_i0, q0_i1, q1_i0, q1_i1 (two questions
  x two videos). The expected answers are fixed by that design: q0_i0 = yes/A, q0_i1 = no/B, q1_i0 = no/B,
  q1_i1 = yes/A; the `answer` column is not read.
- Each output is mapped to 1 (yes/A), 0 (no/B) or -1 (unparseable) by `extract_choice`, the official regex rules
  for the row's `type` ("yes_no" or "multiple_choice").
- An instance missing one of its four rows, or with an index outside the data or an unknown type, is scored -1 on
  all four (all wrong). As officially, the denominators count the instances that have at least one prediction;
  `num_data_instances` says how many the data holds, so a partial run is visible.
- Acc = right rows / (4 n); Q_Acc = questions right on both videos / (2 n); V_Acc = videos right on both questions
  / (2 n); I_Acc = instances with all four right / n. Fractions in [0, 1], as the official `get_scores` returns.

Inputs: the official data.jsonl (index, video_path, question, answer, type; JSONL or a JSON list) or our items JSONL
(index from an `index` field, `extra.index`, or the trailing integer of `id`; type from `problem_type`), and the
official prediction file (a JSON list of {index, model_output}) or ours (JSONL rows with id and output or answer; the
raw output is read when present, so our extraction never stands in for the official one).
"""
from __future__ import annotations

import json
import re
import unicodedata

from crpo.data.items import DataError

ROLES = ("q0_i0", "q0_i1", "q1_i0", "q1_i1")
_KEY = r"(?:final(?: answer)?|answer|prediction)"


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text or "")).strip()


def extract_choice(output, task_type: str) -> int:
    """1 for yes/A, 0 for no/B, -1 when unparseable, with the official TimeBlind rules (first rule that matches)."""
    if not output or not str(output).strip():
        return -1
    if task_type not in ("yes_no", "multiple_choice"):
        raise ValueError(f"unknown TimeBlind task type '{task_type}'")
    text = _normalize(str(output))
    if task_type == "yes_no":
        for pattern in (rf"(?i){_KEY}\s*[:：]\s*(yes|no)\b", r"(?i)\b(yes|no)\b(?=[\s\.\,\!\?\)]|$)"):
            m = re.search(pattern, text)
            if m:
                return int(m.group(1).lower() == "yes")
        return -1
    anchored = rf"(?i){_KEY}\s*[:：]\s*([AB])\b"
    for pattern in (anchored, r"(?i)(?:option|choice)\s*[:：]?\s*([AB])\b", r"(?i)[\(\[\{]\s*([AB])\s*[\)\]\}]",
                    r"(?i)\b([AB])\s*[\.\)]\b"):
        m = re.search(pattern, text)
        if m:
            return int(m.group(1).upper() == "A")
    # Last resort: a bare A/B, preferring one before the answer keyword, then one after it, then any.
    bare = r"(?i)(?<![A-Za-z0-9/])([AB])(?![A-Za-z0-9/])"
    keyword = re.search(rf"(?i)\b{_KEY}\b", text)
    spans = [text[:keyword.start()], text[keyword.end():]] if keyword else []
    for span in spans + [text]:
        m = re.search(bare, span)
        if m:
            return int(m.group(1).upper() == "A")
    return -1


def instance_codes(types: dict[int, str], predictions: list[tuple[int, object]]) -> dict[int, tuple[int, ...]]:
    """{instance: (q0_i0, q0_i1, q1_i0, q1_i1) codes} from {index: type} and (index, output) predictions."""
    groups: dict[int, dict[int, object]] = {}
    for index, output in predictions:
        groups.setdefault(index // 4, {})[index % 4] = output  # a later row for the same index wins
    codes = {}
    for sample, group in groups.items():
        indices = [sample * 4 + role for role in range(4)]
        try:
            if len(group) != 4 or any(i not in types for i in indices):
                raise ValueError("incomplete instance")
            codes[sample] = tuple(extract_choice(group[role], types[i]) for role, i in enumerate(indices))
        except ValueError:
            codes[sample] = (-1, -1, -1, -1)
    return codes


def timeblind_metrics(codes: dict[int, tuple[int, ...]]) -> dict:
    """Acc, Q_Acc, V_Acc, I_Acc from per-instance codes, as the official `get_scores` defines them."""
    n = len(codes)
    acc = q_acc = v_acc = i_acc = 0
    for r0, r1, r2, r3 in codes.values():
        q = (r0 == 1 and r1 == 0) + (r3 == 1 and r2 == 0)   # each question right on both videos
        v = (r0 == 1 and r2 == 0) + (r3 == 1 and r1 == 0)   # each video right on both questions
        acc += (r0 == 1) + (r1 == 0) + (r2 == 0) + (r3 == 1)
        q_acc += q
        v_acc += v
        i_acc += q == 2 and v == 2
    if n == 0:
        return {"Acc": None, "Q_Acc": None, "V_Acc": None, "I_Acc": None, "num_instances": 0}
    return {"Acc": acc / (4 * n), "Q_Acc": q_acc / (2 * n), "V_Acc": v_acc / (2 * n), "I_Acc": i_acc / n,
            "num_instances": n}


def _load_rows(path) -> list[dict]:
    """A JSON list or JSONL file, like the official loader."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        if text.lstrip().startswith("["):
            return json.loads(text)
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: invalid JSON at line {e.lineno} ({e.msg})") from None


def _index_of(row: dict, where: str) -> int:
    for value in (row.get("index"), (row.get("extra") or {}).get("index")):
        if value is not None:
            return int(value)
    m = re.search(r"(\d+)$", str(row.get("id", "")))
    if m:
        return int(m.group(1))
    raise DataError(f"{where}: no TimeBlind index (expected 'index', 'extra.index' or an id ending in a number)")


def load_timeblind_data(path) -> tuple[dict[int, str], dict[str, int]]:
    """{index: type} and {our item id: index} from the official data.jsonl or our items JSONL."""
    types, ids = {}, {}
    for n, row in enumerate(_load_rows(path), 1):
        where = f"{path}:{n}"
        index = _index_of(row, where)
        if index in types:
            raise DataError(f"{where}: duplicate TimeBlind index {index}")
        types[index] = row.get("type") or row.get("problem_type")
        if row.get("id") is not None:
            ids[str(row["id"])] = index
    return types, ids


def load_timeblind_predictions(path, ids: dict[str, int]) -> list[tuple[int, object]]:
    """(index, output) pairs from the official list of {index, model_output} or our {id, output|answer} rows."""
    preds = []
    for n, row in enumerate(_load_rows(path), 1):
        where = f"{path}:{n}"
        if row.get("index") is not None:
            preds.append((int(row["index"]), row.get("model_output", row.get("output", row.get("answer")))))
        elif row.get("id") is not None:
            if str(row["id"]) not in ids:
                raise DataError(f"{where}: prediction id '{row['id']}' matches no TimeBlind row")
            # the raw output when there is one: the official rules, not ours, must read it
            preds.append((ids[str(row["id"])], row["output"] if "output" in row else row.get("answer")))
        # as officially, a row without an index is skipped
    return preds


def score_timeblind(data, predictions) -> dict:
    types, ids = load_timeblind_data(data)
    preds = load_timeblind_predictions(predictions, ids)
    out = timeblind_metrics(instance_codes(types, preds))
    rows_per_instance: dict[int, set[int]] = {}
    for index, _ in preds:
        rows_per_instance.setdefault(index // 4, set()).add(index)
    out["num_data_instances"] = len({i // 4 for i in types})
    out["incomplete_instances"] = sum(len(rows) != 4 for rows in rows_per_instance.values())
    return out
