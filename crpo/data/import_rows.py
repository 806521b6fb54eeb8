"""Reading the rows of peer files, shared by both importer modules (crpo/data/importers.py, importers_tables.py):
JSON / JSONL rows with where they came from, video paths relative to a root, and option letters.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from crpo.data.items import LETTERS, DataError

LETTERED = re.compile(r"^\s*\(?([A-Z])[.):]\s*(.*)$")
ANSWER_TAG = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.S)

def rel_path(path: str, video_root) -> str:
    p = Path(path)
    if video_root and p.is_absolute():
        try:
            return str(p.relative_to(Path(video_root).resolve()))
        except ValueError:
            return str(p)
    return str(p).removeprefix("./")


def strip_letters(options: list[str]) -> list[str]:
    return [m.group(2).strip() if (m := LETTERED.match(o)) else o.strip() for o in options]


_LETTER_ONLY = re.compile(r"^\(?([A-Za-z])\)?[.:]?$")
_LETTER_THEN_TEXT = re.compile(r"^\(?([A-Za-z])(?:\)|[.:]|\s)\s*(.+)$", re.S)


def _same_text(a: str, b: str) -> bool:
    norm = lambda t: " ".join(t.lower().split()).rstrip(".")  # noqa: E731
    return norm(a) == norm(b)


def option_letter(answer, options: list[str], where: str, field: str = "answer") -> str:
    """The option letter an answer names: the text of exactly one option, "B", "(B)", "B.", or "B. <option B's
    text>". Anything else is refused: the first letter of "Cyclists move right to left" is not option C, and
    "B. <another option's text>" is not B."""
    text, letters = str(answer).strip(), LETTERS[: len(options)]
    if options.count(text) == 1:
        return letters[options.index(text)]
    if (m := _LETTER_ONLY.match(text)) and m.group(1).upper() in letters:
        return m.group(1).upper()
    matches = [letters[i] for i, option in enumerate(options) if _same_text(text, option)]
    if len(matches) == 1:
        return matches[0]
    if (m := _LETTER_THEN_TEXT.match(text)) and m.group(1).upper() in letters \
            and _same_text(m.group(2), options[letters.index(m.group(1).upper())]):
        return m.group(1).upper()
    raise DataError(f"{where}: {field} '{text}' is neither an option letter ({letters}) nor the text of exactly one "
                    f"of the options {options}")


def read_rows(src: Path) -> list[tuple[str, dict]]:
    """(where, row) of a JSON list or JSONL file."""
    text = src.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
        rows = data if isinstance(data, list) else [data]
        return [(f"{src}:row {i + 1}", r) for i, r in enumerate(rows)]
    except json.JSONDecodeError:
        out = []
        for i, line in enumerate(text.split("\n"), 1):
            if line.strip():
                try:
                    out.append((f"{src}:{i}", json.loads(line)))
                except json.JSONDecodeError as e:
                    raise DataError(f"{src}:{i}: invalid JSON ({e.msg})") from None
        return out
