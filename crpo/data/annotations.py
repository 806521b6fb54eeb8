"""The counterfactual annotation an item may carry, parsed and checked: part of the item schema.

    {"id": ..., "counterfactual": {"hflip": {"relation": "change", "answer": "B"}, "reverse": {"relation": "same"}}}

`crpo data check` rejects an annotation these functions cannot read; the router (crpo/routing/rules.py) reads a
readable one before any of its rules.
"""
from __future__ import annotations

import re

from crpo.data.items import LETTERS, TRANSFORMS, DataError, Item

RELATIONS = ("change", "same", "unknown")


def norm_text(text: str) -> str:
    """Lower case, every run of non-word characters one space: how option texts are compared."""
    return " ".join(re.sub(r"[\W_]+", " ", text.lower()).split())


def answer_key(item: Item, answer: str) -> str:
    """An answer in the form the maps use: option letter, lower-case yes/no, text as given otherwise."""
    if item.problem_type == "yes_no":
        return answer.strip().lower()
    if item.problem_type == "multiple_choice" and answer not in LETTERS[:len(item.options)]:
        texts = [norm_text(o) for o in item.options]
        if norm_text(answer) not in texts:
            raise DataError(f"item '{item.id}': counterfactual answer '{answer}' is neither an option letter "
                            f"nor an option text")
        return LETTERS[texts.index(norm_text(answer))]
    return answer


def annotated(item: Item, transform: str) -> tuple[str, str | None] | None:
    """(relation, counterfactual answer) that `item.counterfactual[transform]` states, None when it states none; a
    DataError naming the item when the annotation cannot be read (unknown transform or relation, an answer that is
    no option, a relation its answer contradicts). A "change" on a binary question names the other answer."""
    annotation = item.counterfactual or {}
    for name in annotation:
        if name not in TRANSFORMS:
            raise DataError(f"item '{item.id}': counterfactual annotation for unknown transform '{name}' "
                            f"(expected {', '.join(TRANSFORMS)})")
    entry = annotation.get(transform)
    if entry is None:
        return None
    if not isinstance(entry, dict) or ("relation" not in entry and "answer" not in entry):
        raise DataError(f"item '{item.id}': counterfactual['{transform}'] must be an object with 'relation' "
                        f"and/or 'answer'")
    original = answer_key(item, item.answer)
    answer = None if entry.get("answer") is None else answer_key(item, str(entry["answer"]))
    rel = entry.get("relation") or ("same" if answer == original else "change")
    if rel not in RELATIONS:
        raise DataError(f"item '{item.id}': counterfactual['{transform}'] relation '{rel}' is not one of "
                        f"{', '.join(RELATIONS)}")
    if answer is not None and rel != "unknown" and (rel == "same") != (answer == original):
        raise DataError(f"item '{item.id}': counterfactual['{transform}'] says '{rel}' but gives answer '{answer}' "
                        f"for original answer '{original}'")
    if rel == "same":
        return "same", original
    if rel == "change" and answer is None:
        others = [k for k in (answer_keys(item) or ()) if k != original]
        answer = others[0] if len(others) == 1 else None  # a binary question has one other answer
    return rel, answer if rel == "change" else None


def answer_keys(item: Item) -> tuple[str, ...] | None:
    """Every answer an item can have, in `answer_key` form: option letters, yes/no; None for open answers."""
    if item.problem_type == "multiple_choice":
        return tuple(LETTERS[:len(item.options)])
    return ("yes", "no") if item.problem_type == "yes_no" else None


def check_annotation(item: Item) -> None:
    """A DataError naming the item when its annotation cannot be read under some transform."""
    if item.counterfactual:
        for transform in TRANSFORMS:
            annotated(item, transform)
