"""The canonical item schema (one JSON object per line), JSONL io and validation.

An item is one video question. `crpo data check` (crpo/data/check.py) and `crpo data import` (crpo/data/importers.py,
crpo/data/importers_tables.py) live on top of this module.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

# regression (a quantity scored by relative error) and ocr (a transcription scored by word error rate) keep the
# reward types of Video-R1 data; crpo/rl/rewards.py `answer_score` says how each is scored.
PROBLEM_TYPES = ("multiple_choice", "yes_no", "numerical", "free_form", "regression", "ocr")
TRANSFORMS = ("hflip", "reverse", "hflip+reverse")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class DataError(ValueError):
    """Bad input: the message is one line naming the file, the row and the reason."""


class ConfigError(ValueError):
    """A bad config value or launch: the message is one line naming the key (and the YAML file or override)."""


@dataclass
class Item:
    id: str
    video: str                       # path relative to a video root
    question: str
    answer: str                      # option letter | yes/no | a number (numerical, regression) | text
    problem_type: str = "multiple_choice"
    options: list[str] | None = None  # option texts, no letters; multiple choice only
    category: str | None = None
    start: float | None = None        # seconds
    end: float | None = None
    pair_id: str | None = None        # shared by an item and its counterfactual twin
    transform: str | None = None      # apply this transform to `video` when loading (twins that are not materialised)
    counterfactual: dict | None = None  # explicit annotation {"hflip": {"relation", "answer"}, "reverse": {...}}
    extra: dict = field(default_factory=dict)  # anything else the source carried, passed through untouched

    def to_json(self) -> dict:
        row = {k: v for k, v in asdict(self).items() if v is not None and v != {}}
        return row


_FIELDS = {f.name for f in fields(Item)}


def item_from_json(row: dict, where: str = "<row>") -> Item:
    """Build and validate an Item; raises DataError naming `where` (file:line) and the reason."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for key in ("id", "video", "question", "answer"):
        if row.get(key) in (None, ""):
            raise DataError(f"{where}: missing required field '{key}'")
    known = {k: v for k, v in row.items() if k in _FIELDS}
    extra = dict(known.pop("extra", None) or {})
    extra.update({k: v for k, v in row.items() if k not in _FIELDS})
    item = Item(**{**known, "id": str(known["id"]), "answer": str(known["answer"]), "extra": extra})
    validate_item(item, where)
    return item


def validate_item(item: Item, where: str = "<row>") -> None:
    if item.problem_type not in PROBLEM_TYPES:
        raise DataError(f"{where}: unknown problem_type '{item.problem_type}' (expected one of {', '.join(PROBLEM_TYPES)})")
    if item.problem_type == "multiple_choice":
        if not item.options:
            raise DataError(f"{where}: multiple_choice item '{item.id}' has no options")
        letters = LETTERS[: len(item.options)]
        if item.answer not in letters:
            raise DataError(f"{where}: answer '{item.answer}' of item '{item.id}' is not among the option letters {letters}")
    if item.problem_type == "yes_no" and item.answer.lower() not in ("yes", "no"):
        raise DataError(f"{where}: yes_no item '{item.id}' has answer '{item.answer}'")
    if item.problem_type in ("numerical", "regression"):
        try:
            float(item.answer)
        except ValueError:
            raise DataError(f"{where}: {item.problem_type} item '{item.id}' has non-numeric answer "
                            f"'{item.answer}'") from None
    if item.transform is not None and item.transform not in TRANSFORMS:
        raise DataError(f"{where}: unknown transform '{item.transform}' (expected one of {', '.join(TRANSFORMS)})")


def open_text(path):
    """`path` opened for reading as UTF-8; a missing, unreadable or non-file path is a one-line DataError."""
    try:
        return open(path, encoding="utf-8")
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None


def read_jsonl(path) -> list[tuple[int, object]]:
    """Parse a JSONL file into (line number, object) rows; a bad line is a DataError naming file and line."""
    rows = []
    with open_text(path) as f:
        try:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rows.append((lineno, json.loads(line)))
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}:{lineno}: invalid JSON ({e.msg})") from None
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start} of a line)") from None
    return rows


def load_items(path, allow_empty: bool = False) -> list[Item]:
    """Read items from JSONL; the first bad row raises DataError('file:line: reason').

    Ids must be unique (predictions, pairs, route caches and rollout logs are keyed by id: a repeated id would be
    evaluated twice, scored once, or paired with the wrong twin). A file with no item is an error unless
    `allow_empty`: every command that reads items would otherwise run, write outputs and report nothing.
    """
    items, first_line = [], {}
    for lineno, row in read_jsonl(path):
        item = item_from_json(row, f"{path}:{lineno}")
        if item.id in first_line:
            raise DataError(f"{path}:{lineno}: duplicate id '{item.id}' (first on line {first_line[item.id]}); "
                            "ids must be unique")
        first_line[item.id] = lineno
        items.append(item)
    if not items and not allow_empty:
        raise DataError(f"{path}: no items (the file is empty)")
    return items


def write_jsonl(path, rows) -> None:
    """Write rows atomically (temp file + rename) so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row.to_json() if isinstance(row, Item) else row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
