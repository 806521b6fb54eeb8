"""The paper's question classes (spatial, temporal, spatiotemporal, static), the transform each gets, and the
counterfactual branch an item trains with: `counterfactual_target`, read from the text alone.

    from crpo.routing.classes import question_class, counterfactual_target, CLASS_TRANSFORM, CLASS_RELATION
    cls = question_class(item)                  # "temporal"
    CLASS_TRANSFORM[cls], CLASS_RELATION[cls]   # ("reverse", "change")
    target = counterfactual_target(item, cached=route_row)   # Target: transform, relation, counterfactual answer

The class tells whether the correct answer changes under the item's transform; the Target adds what it changes to
(crr_mode=answer, the default, pays that answer: crpo/rl/methods/crpo.py), or "None of the above" where the transformed
answer is not listed, or why the item gets no counterfactual branch (Target.skip). No annotation is needed: the
answer is read from the question and options, or from the LLM router's cached option maps (crpo/routing/llm_maps.py),
never over a definite rule of the lexicon. The class comes, in order of precedence, from

1. a route cache written offline by `crpo route --llm` (an LLM classifier, crpo/routing/llm.py), passed in as
   `cached`;
2. the lexicon router's relation under each transform (crpo/routing/rules.py), which knows the relation whenever it can
   map the answer;
3. the item's category when the router knows the class but cannot map the answer. A reversal changes the answer
   of every direction, rotation, reversible-change or order question unless the correct answer is itself a
   "no motion / no change" option or (outside order questions) carries no word a reversal swaps ("slow
   motion"); a mirror changes it when the correct answer names a lateral term. This gives a class, not an answer:
   an item whose options do not close under the transform ("toward the camera" has no listed partner) trains a
   counterfactual branch under crr_mode=any_change or crr_unmapped=change; the default needs the answer too (or to
   know that it is not listed, which makes "None of the above" the answer).
   A correct answer that states a transition ("from blue to orange") changes under a reversal, whatever the
   lexicon makes of its words (it reads colour words as static).

                     hflip    reverse   training counterfactual
    spatial          change   same      hflip    (relation change)
    temporal         same     change    reverse  (change)
    spatiotemporal   change   change    reverse  (change; hflip+reverse would undo a left/right motion twice)
    static           same     same/?    hflip    (same: the answer must stay; "?" = the router cannot tell
                                                  how a reversal acts, which a mirror does not depend on)
    unknown          (anything else)    no counterfactual branch: never guess
"""
from __future__ import annotations

from dataclasses import dataclass

from crpo.data.items import LETTERS, Item
from crpo.routing import llm_maps
from crpo.routing import phrases as phrases
from crpo.routing.rules import categorize, choose_transform, option_map, relation, unlisted
from crpo.routing.text import _TABLES, _norm, _scan, _terms

QUESTION_CLASSES = ("spatial", "temporal", "spatiotemporal", "static")
CLASS_TRANSFORM = {"spatial": "hflip", "temporal": "reverse", "spatiotemporal": "reverse", "static": "hflip"}
CLASS_RELATION = {"spatial": "change", "temporal": "change", "spatiotemporal": "change", "static": "same"}

# Categories whose correct answer a reversal changes (unless the answer says nothing moves or changes).
_REVERSIBLE = ("moving_direction", "rotation", "reversible_dynamics", "event_sequence")


def _answer_text(item: Item) -> str | None:
    if item.problem_type == "multiple_choice":
        i = LETTERS.index(item.answer) if item.answer in LETTERS else -1
        return item.options[i] if 0 <= i < len(item.options or ()) else None
    if item.problem_type == "free_form":
        return item.answer
    return None  # yes/no and numbers: only the rules know whether they flip


def relation_class(item: Item, transform: str) -> str:
    """"change" | "same" | "unknown": does the correct answer of `item` change under `transform` (hflip | reverse)?

    The router's relation when it knows one; else the category fallback of the module docstring."""
    rel, _ = relation(item, transform)
    answer = _answer_text(item)
    text = _norm(answer) if answer is not None else ""
    if transform == "reverse" and rel == "unknown" and answer is not None and (
            phrases.transition(text) or phrases.asks_end_state(_norm(item.question))):
        return "change"  # "from blue to orange", "what is the final colour?": a reversal swaps the two ends
    if rel != "unknown" or answer is None:
        return rel
    if transform == "reverse":
        category = categorize(item)
        # Outside order questions (whose answers name events) the answer must itself carry a word a reversal
        # swaps: "slow motion" or "normal speed" in a direction-like question stays what it is on a reversed clip.
        # a term every option carries ("race down the street" / "ride down the street") is not what is asked
        common = set.intersection(*({t.text for t in _terms(_scan(_norm(o), "reverse", True))}
                                    for o in item.options)) if item.problem_type == "multiple_choice" else set()
        swappable = category == "event_sequence" or bool({t.text for t in _terms(_scan(text, "reverse", True))}
                                                         - common)
        return "change" if category in _REVERSIBLE and swappable and not phrases.says_no_change(text) else "unknown"
    if transform == "hflip":
        lateral = [t for t in _terms(_scan(text, "hflip", True)) if t.text in _TABLES["hflip"]]
        return "change" if lateral and not phrases.says_no_change(text) else "unknown"
    return "unknown"


def question_class(item: Item, cached: str | dict | None = None) -> str:
    """One of QUESTION_CLASSES or "unknown"; `cached` (an LLM router decision: its class, or its whole route-cache
    row) wins when it is a known class."""
    if isinstance(cached, dict):
        cached = cached.get("class")
    if cached in QUESTION_CLASSES:
        return cached
    h, r = relation_class(item, "hflip"), relation_class(item, "reverse")
    if r == "change":
        return "spatiotemporal" if h == "change" else "temporal"
    if h == "change":
        return "spatial"  # r unknown: a mirror still changes the answer, whatever a reversal does
    if h == "same" and r in ("same", "unknown"):
        return "static"  # a mirror keeps the answer: the invariance twin is valid whatever a reversal does
    return "unknown"


@dataclass(frozen=True)
class Target:
    """An item's counterfactual branch as the router reads it from the text (no clip, no label).

    skip is set (and the other fields may be None) when the item gets no counterfactual branch:
      "unknown_class"  the class, or the relation under the chosen transform, cannot be told
      "no_answer"      an answer is required (needs_answer) and the text does not tell it
      "llm_conflict"   the LLM router's cached class or option map contradicts a definite lexicon relation or
                       answer: neither is trusted
    """
    transform: str | None
    relation: str | None          # "change" | "same"
    question_class: str | None    # None when the config names the transform
    answer: str | None = None     # the correct answer on the transformed clip (letter, yes/no, value, text)
    unlisted: bool = False        # multiple choice: that answer is known and is none of the options
    option_map: dict | None = None
    source: str = "lexicon"       # where the class came from: "llm" (the route cache) | "lexicon"
    skip: str | None = None
    answer_source: str | None = None  # where answer / unlisted came from: "lexicon" | "llm" (its option map)

    @property
    def answer_known(self) -> bool:
        return self.answer is not None or self.unlisted


def llm_conflicts(item: Item, cls: str) -> bool:
    """True when the lexicon's rules give a definite relation, under the transform class `cls` trains with, other
    than the one the class implies ("Which way does the ball move? left": a mirror changes it; a cached "static"
    says it keeps, which would pay the shortcut). Only what training uses is compared: "temporal" on that item
    trains a reversal, whose change the rules agree with."""
    rel = relation(item, CLASS_TRANSFORM[cls])[0]
    return rel in ("change", "same") and rel != CLASS_RELATION[cls]


def counterfactual_target(item: Item, counterfactual: str = "auto", cached=None, needs_answer: bool = False,
                          null_option: bool = True) -> Target:
    """The item's counterfactual (a pure function of the text and the route cache). The transform:
    `counterfactual`, or with "auto" the one of the item's question class (an LLM router's cached class first, then
    the lexicon). The relation: the class's. The answer: the rules' counterfactual answer when they agree with the
    class's relation; `unlisted` when they know the transformed answer and no option holds it, which is an answer
    only where "None of the above" is shown (`null_option`). Where the rules cannot map and the cached row's option
    map (crpo/routing/llm_maps.py) can, consistently with the class, its answer (answer_source "llm"); where both map and
    differ, or the cached class contradicts a definite rule, no branch ("llm_conflict"): never the LLM's word over a
    rule. With `needs_answer` (labels are required: grpo_cf_aug) an item whose class transform gives no answer falls
    back to the lexicon's own pick (`choose_transform`).

    `cached`: a route-cache row ({"class", "maps", ...}: crpo.routing.llm.load_route_cache) or just its class."""
    row = cached if isinstance(cached, dict) else None
    cached = row.get("class") if row is not None else cached
    source = "llm" if cached in QUESTION_CLASSES else "lexicon"
    if counterfactual == "auto":
        cls = question_class(item, cached)
        transform, rel = CLASS_TRANSFORM.get(cls), CLASS_RELATION.get(cls)
        if source == "llm" and llm_conflicts(item, cls):
            return Target(None, None, cls, source=source, skip="llm_conflict")
    else:
        transform, cls = counterfactual, None
        rel = relation(item, transform)[0] if "+" in transform else relation_class(item, transform)
    if transform is None or rel in (None, "unknown"):
        return Target(None, None, cls, source=source, skip="unknown_class")
    mapped_rel, answer = relation(item, transform)
    agree = mapped_rel == rel  # the class and the rules disagree: no answer to trust
    is_unlisted = rel == "change" and null_option and unlisted(item, transform)
    mapping = option_map(item, transform) if agree else None
    answer_source = "lexicon"
    llm = llm_maps.llm_answer(item, row, transform) if transform in llm_maps.TRANSFORM_WORDS else None
    if llm is not None:
        rules = answer if answer is not None else llm_maps.NONE if unlisted(item, transform) else None
        if rules is not None and rules != llm:
            return Target(None, None, cls, source=source, skip="llm_conflict")
        llm_rel = "same" if llm == llm_maps.original_key(item) else "change"
        if rules is None and llm_rel == rel:  # the rules cannot map, the LLM can, as the class says
            answer, agree, is_unlisted = (None if llm == llm_maps.NONE else llm), True, llm == llm_maps.NONE
            is_unlisted = is_unlisted and null_option
            full = row["maps"][transform]
            mapping, answer_source = (None if llm_maps.NONE in full.values() else dict(full)), "llm"
    if needs_answer and not ((agree and answer is not None) or is_unlisted):
        transform = choose_transform(item) if counterfactual == "auto" else None
        if transform is None:
            return Target(None, None, cls, source=source, skip="no_answer")
        (rel, answer), agree, is_unlisted, answer_source = relation(item, transform), True, False, "lexicon"
        mapping = option_map(item, transform)
        if answer is None:  # an annotation that says "change" without naming the answer
            return Target(None, None, cls, source=source, skip="no_answer")
    known = (agree and answer is not None) or is_unlisted
    return Target(transform, rel, cls, answer if agree else None, is_unlisted, mapping, source,
                  answer_source=answer_source if known else None)
