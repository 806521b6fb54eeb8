"""Phrase-family rules the router (crpo/routing/rules.py) applies on top of its word swaps, read off real benchmark options.

- Transitions: "from X to Y", "changing colour from green to red", "turning cubes into spheres". A reversal swaps
  the two ends (X and Y are kept as written: "from closed to open" becomes "from open to closed", not a word swap of
  "closed" and "open", which would turn it back); a mirror leaves the construction alone.
- Poles of an axis: options name the same change in different words ("rising" / "going down", "growing in size" /
  "shrinking", "zooming in" / "moving backward"). Every lexicon term has an axis and a pole (crpo/routing/lexicon.py AXES);
  where no option's text is the transformed answer's, the one option on the other pole of the answer's axes is it.
- Which options an answer could hide behind: "None of the above" is claimed (router.unlisted) only for a motion in
  space (left/right, up/down, towards/away, rotation), when no other option lies on the answer's axes and every
  other option is a motion in space or a "no change" phrase; an option the lexicon cannot read, or a change of
  state (whose synonyms cross groups: "growing" / "appearing"), may be the transformed answer in other words.
- Prefix opposites: options that differ only in "un"/"dis" before one word ("connecting" / "disconnecting") swap
  under a reversal.
- End states: a question about one end of a change ("the final colour", "what is it turning into") changes its
  answer under a reversal, to the other end, which the text does not tell.

Pure functions of normalised text (lower case, words separated by single spaces).
"""
from __future__ import annotations

import re

from crpo.routing.lexicon import (ACTION_CUE, ASKS_STATE, AXES, BECOMES_VALUE, CHANGE_LEXICON, END_STATE, HFLIP_LEXICON,
                                  MOTION_CUE, MOTION_LEXICON, NO_CHANGE, NOT_PREFIX_OPPOSITES, REVERSAL_PREFIXES,
                                  SPATIAL_AXES)

# "from X to Y" anywhere (X stops at the first " to "/" into "); "turning X into Y" after a change verb.
_FROM_TO = re.compile(r"^(.*?\b)?from (.+?) (to|into) (.+)$")
_X_INTO_Y = re.compile(r"^(.*?\b(?:turn|turns|turning|turned|chang\w*|transform\w*|morph\w*|convert\w*)) "
                       r"(?!into\b|from\b)(.+?) into (.+)$")


def transition(norm: str) -> tuple[str, str, str, str] | None:
    """(prefix, X, joiner, Y) of a transition in normalised text, or None."""
    m = _FROM_TO.match(norm)
    if m and m[2] != m[4]:
        return (m[1] or "") + "from ", m[2], f" {m[3]} ", m[4]
    m = _X_INTO_Y.match(norm)
    if m and m[2] != m[3]:
        return m[1] + " ", m[2], " into ", m[3]
    return None


def reverse_transition(norm: str) -> str | None:
    """The text with its transition's ends swapped (what a reversed clip shows), or None without a transition."""
    t = transition(norm)
    return None if t is None else f"{t[0]}{t[3]}{t[2]}{t[1]}"


def prefix_opposites(a: str, b: str) -> bool:
    """Two normalised texts that differ only in "un"/"dis" before one word: "folding a map" / "unfolding a map"."""
    ta, tb = a.split(), b.split()
    diff = [(x, y) for x, y in zip(ta, tb) if x != y]
    if len(ta) != len(tb) or len(diff) != 1:
        return False
    x, y = diff[0]
    for plain, prefixed in ((x, y), (y, x)):
        if prefixed not in NOT_PREFIX_OPPOSITES and len(plain) >= 3 and any(
                prefixed == p + plain for p in REVERSAL_PREFIXES):
            return True
    return False


def _poles() -> dict[str, tuple[str, int]]:
    """term -> (axis, pole). Within an axis the first pair seen fixes which side is 0; every later pair is placed
    by a term already placed (so "exit": "enter" puts "exit" opposite "enter"), else its key is 0."""
    axis_of = {group: axis for axis, groups in AXES.items() for group in groups}
    poles: dict[str, tuple[str, int]] = {}
    for lexicon in (HFLIP_LEXICON, MOTION_LEXICON, CHANGE_LEXICON):
        for group, pairs in lexicon.items():
            axis = axis_of.get(group, group)
            for a, b in pairs.items():
                if a in poles and b not in poles:
                    poles[b] = (axis, 1 - poles[a][1])
                elif b in poles and a not in poles:
                    poles[a] = (axis, 1 - poles[b][1])
                elif a not in poles:
                    poles[a], poles[b] = (axis, 0), (axis, 1)
    return poles


POLES = _poles()


UNRESOLVED = -1  # the pole of a direction word whose motion/position sense the text does not tell


def signature(terms: list[tuple[str, bool]]) -> frozenset[tuple[str, int]] | None:
    """The (axis, pole) pairs an option's (term, resolved) pairs name, pole UNRESOLVED for an unresolved term; None
    when it names both poles of one axis ("rises then falls") or a term without a pole."""
    sig = set()
    for text, resolved in terms:
        if text not in POLES:
            return None
        sig.add(POLES[text] if resolved else (POLES[text][0], UNRESOLVED))
    axes = [a for a, _ in sig]
    return None if len(axes) != len(set(axes)) else frozenset(sig)


def opposite_pole(answer: frozenset | None, options: list[frozenset | None]) -> int | None:
    """Index of the one option on the other pole of every axis the answer names (on those axes it names nothing
    else), or None when there is no such option, more than one, or an option whose pole there is unresolved."""
    if not answer or any(p == UNRESOLVED for _, p in answer):
        return None
    axes = {a for a, _ in answer}
    want = {(a, 1 - p) for a, p in answer}
    on_axes = [None if sig is None else {x for x in sig if x[0] in axes} for sig in options]
    if any(sig and any(p == UNRESOLVED for _, p in sig) for sig in on_axes):
        return None
    hits = [j for j, sig in enumerate(on_axes) if sig == want]
    return hits[0] if len(hits) == 1 else None


def axes_of(sig: frozenset | None) -> set[str]:
    return {a for a, _ in sig or ()}


def spatial(axes: set[str]) -> bool:
    """Every axis is a motion in space (lexicon SPATIAL_AXES)."""
    return set(axes) <= set(SPATIAL_AXES)


def says_no_change(norm: str) -> bool:
    return bool(NO_CHANGE.search(norm))


def asks_end_state(norm_question: str) -> bool:
    """A question about the state at one end of a change: "What is the final colour?", "What is it turning into?"."""
    return bool(END_STATE.search(norm_question) and ASKS_STATE.search(norm_question)
                or BECOMES_VALUE.search(norm_question))


def describes_action(norm_question: str) -> bool:
    """The question is about something happening (a motion or change verb), so a reversal may change its answer
    even where the lexicon has no word for it: no "static" default then."""
    return bool(MOTION_CUE.search(norm_question) or ACTION_CUE.search(norm_question))
