"""The router's text machinery: lexicon tables, normalisation, the term scanner and the motion/position context.

    _scan(_norm("moving from left to right"), "reverse", motion=True)   # plain words and _Term objects
    _swap(segments)        # the text with every term replaced by its partner ("moving from right to left")
    _canonical(text)       # a form shared by synonyms ("anticlockwise" == "counter clockwise")

Split out of crpo/routing/rules.py (the rules) so that each file reads on its own; names keep their leading underscore:
they are the router package's internals, used by crpo/routing/rules.py and crpo/routing/classes.py only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from crpo.data.items import Item
from crpo.routing.lexicon import (CHANGE_LEXICON, DETERMINERS, HFLIP_LEXICON, LEAVE_AUXILIARIES, MOTION_CUE,
                                  MOTION_LEXICON, NOUN_HOMOGRAPHS, ORDER_LEXICON, PLAIN_PHRASES, QUESTION_NOUNS,
                                  ROTATION, SEQ_MARK, SEQ_SPLIT, STATIC_CUE, STEP_ADVERB, WEAK_MOTION_CUE)

_ORDER_GROUPS = set(ORDER_LEXICON)
_CHANGE_GROUPS = set(CHANGE_LEXICON)
_DIRECTION_GROUPS = set(MOTION_LEXICON)


def _table(*lexicons: dict, needs_motion: bool = False) -> dict[str, tuple[str, tuple[str, ...], bool]]:
    """word -> (group, partners, needs_motion), both directions of every pair."""
    table: dict[str, tuple[str, tuple[str, ...], bool]] = {}
    for lexicon in lexicons:
        for group, pairs in lexicon.items():
            for a, b in pairs.items():
                for x, y in ((a, b), (b, a)):
                    partners = table[x][1] if x in table else ()
                    if y not in partners:
                        table[x] = (group, partners + (y,), needs_motion)
    return table


_TABLES = {
    "hflip": _table(HFLIP_LEXICON),
    "reverse": {**_table(MOTION_LEXICON, needs_motion=True),
                **_table({"rotation": ROTATION}, CHANGE_LEXICON, ORDER_LEXICON)},
}
# Every term of every transform, for canonical forms; a phrase of any table is read as one unit by all of them
# ("has left" is not a direction even under a mirror).
_TABLES["any"] = {**_TABLES["reverse"], **_TABLES["hflip"]}
_PHRASES = set(PLAIN_PHRASES) | {w for w in _TABLES["any"] if " " in w}
_LONGEST = max(len(w.split()) for w in _PHRASES)


# ---------------------------------------------------------------------------------------------------------------
# Text machinery

@dataclass(frozen=True)
class _Term:
    text: str
    group: str
    partners: tuple[str, ...]
    resolved: bool  # False: a direction word whose motion/position sense is unknown


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[\W_]+", " ", text.lower()).split())


def _verb_left(tokens: list[str], i: int) -> bool:
    return (tokens[i] == "left" and i + 1 < len(tokens) and tokens[i + 1] in DETERMINERS
            and not set(tokens[max(0, i - 4):i]).isdisjoint(LEAVE_AUXILIARIES))


def _scan(norm_text: str, transform: str, motion: bool | None, question: bool = False) -> list[str | _Term]:
    """Split normalised text into plain words and terms (longest phrase first); transform: hflip | reverse | any.
    In a `question` a verb that is also a noun is the noun: questions name things ("the traffic lights")."""
    table, tokens, out, i = _TABLES[transform], norm_text.split(), [], 0
    while i < len(tokens):
        if _verb_left(tokens, i):
            out.append("left")
            i += 1
            continue
        for n in range(_LONGEST, 0, -1):
            phrase = " ".join(tokens[i:i + n])
            if i + n <= len(tokens) and (phrase in _PHRASES or phrase in table):
                break
        else:
            n, phrase = 1, tokens[i]
        noun = (phrase in NOUN_HOMOGRAPHS and i > 0 and tokens[i - 1] in DETERMINERS  # "the leaves"
                or question and phrase in QUESTION_NOUNS)
        entry = None if phrase in PLAIN_PHRASES or noun else table.get(phrase)
        if entry is None or (entry[2] and motion is False):  # a position word is unchanged by reversal
            out.append(phrase)
        else:
            out.append(_Term(phrase, entry[0], entry[1], resolved=not entry[2] or motion is True))
        i += n
    return out


def _terms(segments: list[str | _Term]) -> list[_Term]:
    return [s for s in segments if isinstance(s, _Term)]


def _swap(segments: list[str | _Term]) -> str | None:
    """The text with every term replaced by its first partner; None when a term cannot be resolved."""
    if not all(t.resolved for t in _terms(segments)):
        return None
    return " ".join(s.partners[0] if isinstance(s, _Term) else s for s in segments)


def _canonical(norm_text: str) -> str:
    """A form shared by synonyms: each term becomes "~" + its first partner, so "anticlockwise",
    "counter clockwise" and "counterclockwise" (all partnered first with "clockwise") compare equal."""
    return " ".join("~" + s.partners[0] if isinstance(s, _Term) else s for s in _scan(norm_text, "any", True))


def _steps(text: str, asks_order: bool) -> list[str]:
    """An ordered sequence ("A then B", or "A, B, C" when the question asks for an order) as its normalised steps;
    anything else as one step."""
    low = text.lower()
    if not (SEQ_MARK.search(low) or (asks_order and re.search(r"[,;]", low))):
        return [_norm(text)]
    parts = [_norm(p) for p in SEQ_SPLIT.split(low)]
    if len(parts) > 1 and " and " in f" {parts[-1]} " and re.search(r"[,;]", low):  # "a, b and c"
        parts[-1:] = parts[-1].split(" and ")
    steps = [STEP_ADVERB.sub("", p) for p in parts]
    return [s for s in steps if s] or [_norm(text)]


def _motion_context(item: Item) -> bool | None:
    """True when the item's direction words describe motion, False for position, None when the text cannot tell."""
    text = _norm(" ".join([item.question, *(item.options or [])]))
    static = bool(STATIC_CUE.search(text))
    motion = bool(MOTION_CUE.search(text)) or (bool(WEAK_MOTION_CUE.search(text)) and not static)
    if motion != static:
        return motion
    if motion:  # "which side does it move to": both senses at once
        return None
    if item.category in ("moving_direction", "rotation"):
        return True
    if item.category in ("static_spatial", "static_attribute", "counting"):
        return False
    return None
