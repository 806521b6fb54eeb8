"""The LLM router's option maps: per transform, which option each option becomes (or "none": not listed).

    Mirrored: A=B, B=A, C=C          <- asked for after the class line (crpo/routing/llm.py build_messages)
    Reversed: A=A, B=C, C=B
    parse_maps(reply_body, ("A", "B", "C"))  # {"hflip": {"A": "B", "B": "A", "C": "C"}, "reverse": {...}}

Why: the lexicon cannot map "What is the woman doing? sitting down / standing up / dancing", which a language
model reads at once; the reward pays a counterfactual rollout for giving the mapped answer, so a wrong map trains a
wrong answer. A map is therefore kept only when it is whole and consistent:
- every option appears once as a source, and each target is an option or "none" (also "not listed", "n/a");
- a transform is its own inverse: if A becomes B, B becomes A (so no option maps to an option that maps to "none").
Anything else is None for that transform, never a partial guess. Where the lexicon gives a definite answer the map
contradicts, the item gets no counterfactual branch (crpo.routing.classes.counterfactual_target, "llm_conflict").
"""
from __future__ import annotations

import re

from crpo.data.items import LETTERS, Item

NONE = "none"
TRANSFORM_WORDS = {"hflip": "Mirrored", "reverse": "Reversed"}

_LINE = {"hflip": re.compile(r"^\W*(?:mirror\w*|hflip|h-?flip\w*|flipped|reflected)\W*(?:[:=-]|$)", re.I),
         "reverse": re.compile(r"^\W*(?:revers\w*|backwards?|rewound|time[- ]reversed)\W*(?:[:=-]|$)", re.I)}
_PAIR = re.compile(r"\b(yes|no|[A-Z])\b\W{0,3}(?:=|->|→|:|to|becomes)\W{0,3}"
                   r"(none|not listed|n/a|null|yes|no|[A-Z])\b", re.I)


def option_keys(item: Item) -> tuple[str, ...] | None:
    """The answers a map covers: option letters, or yes / no; None for numbers and free text."""
    if item.problem_type == "multiple_choice" and item.options:
        return tuple(LETTERS[:len(item.options)])
    return ("yes", "no") if item.problem_type == "yes_no" else None


def instructions(item: Item) -> list[str]:
    """Prompt lines asking for the maps, or [] for items without options. The reply ends with the class line and
    then these two lines."""
    keys = option_keys(item)
    if keys is None:
        return []
    example = ", ".join(f"{k}=?" for k in keys)
    return ["Also say, for each transform, which answer would be correct on the transformed video if each answer "
            "were the correct one on the original video: every answer once, \"none\" where the changed answer is "
            "not among them. After the Class line, end with exactly two more lines:",
            f"Mirrored: {example}", f"Reversed: {example}"]


def _canonical(token: str, keys: tuple[str, ...]) -> str | None:
    low = token.lower()
    if low in ("none", "not listed", "n/a", "null"):
        return NONE
    if keys == ("yes", "no"):
        return low if low in keys else None
    return token.upper() if token.upper() in keys and token.isupper() else None


def parse_map(line: str, keys: tuple[str, ...]) -> dict[str, str] | None:
    """{answer: answer or "none"} from one "Reversed: A=B, B=A" line, or None unless whole and consistent."""
    mapping: dict[str, str] = {}
    for src, dst in _PAIR.findall(line.split(":", 1)[-1] if ":" in line else line):
        src, dst = _canonical(src, keys), _canonical(dst, keys)
        if src is None or src == NONE or dst is None or mapping.get(src, dst) != dst:
            return None
        mapping[src] = dst
    if set(mapping) != set(keys):
        return None
    if any(dst != NONE and mapping[dst] != src for src, dst in mapping.items()):
        return None  # not its own inverse
    return mapping


def parse_maps(body: str, keys: tuple[str, ...] | None) -> dict[str, dict | None] | None:
    """The maps of a reply body (thinking already removed): the last line per transform wins."""
    if keys is None:
        return None
    maps: dict[str, dict | None] = {t: None for t in TRANSFORM_WORDS}
    for line in body.splitlines():
        for transform, pattern in _LINE.items():
            if pattern.match(line):
                maps[transform] = parse_map(line, keys)
    return maps


def check_maps(maps, where: str) -> str | None:
    """Why a cache row's "maps" field is malformed, or None when it is fine (absent is fine: older caches)."""
    if maps is None:
        return None
    if not isinstance(maps, dict) or not set(maps) <= set(TRANSFORM_WORDS):
        return f"{where}: 'maps' must be an object with keys {', '.join(TRANSFORM_WORDS)}"
    for transform, mapping in maps.items():
        if mapping is not None and not (isinstance(mapping, dict)
                                        and all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())):
            return f"{where}: maps['{transform}'] must be null or an object of answer -> answer or \"none\""
    return None


def llm_answer(item: Item, cached, transform: str) -> str | None:
    """The cached LLM map's answer for the item's correct answer under `transform`: an answer key, "none", or None
    when the cache has no map for it (older rows, unparsed maps, another item's answers)."""
    maps = cached.get("maps") if isinstance(cached, dict) else None
    mapping = (maps or {}).get(transform)
    keys = option_keys(item)
    if not mapping or keys is None or set(mapping) != set(keys):
        return None
    return mapping.get(original_key(item))


def original_key(item: Item) -> str:
    return item.answer.strip().lower() if item.problem_type == "yes_no" else item.answer
