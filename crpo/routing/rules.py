"""Task router: per item, its category and, per transform, the relation and the counterfactual answer.

    from crpo.routing.rules import route, relation, option_map
    relation(item, "reverse")   # ("change", "B"): on the reversed clip the correct option is B
    option_map(item, "hflip")   # {"A": "B", "B": "A", "C": "C"}: where every option goes under a mirror
    route(item)                 # everything at once; `crpo route items.jsonl` prints one such row per item

The router reads text only and never opens a video. Precedence, per (item, transform):
1. the explicit annotation `item.counterfactual[transform]` = {"relation": ..., "answer": ...};
2. rules on the question and options, driven by the lexicon (crpo/routing/lexicon.py): a mirror (hflip) swaps lateral words
   (left/right, clockwise/counterclockwise); a reversal swaps motion and change words (opening/closing,
   appear/disappear, first/last, ...) and reverses ordered sequences ("X then Y", or "A, B, C" when the question
   asks for an order). left/right/up/down swap under reversal only when they describe motion, never position;
3. category defaults: a question the transform cannot touch (no lexicon word at all) keeps its answer only when
   its category says so (static items under reversal; any known category under a mirror).
hflip+reverse is the composition: the hflip mapping, then the reverse mapping.
The text machinery (tables, scanner, motion context) is crpo/routing/text.py; the phrase families read off real
benchmark options (transitions, poles of an axis, prefix opposites, end states) are crpo/routing/phrases.py.

"unknown" is an answer, never a guess: an ambiguous motion/position context, a swapped option that is not among
the options, a question that asserts a term while the options also carry terms, a yes/no question mixing
term groups, all give ("unknown", None). Precision over recall: a wrong counterfactual answer trains the policy to
give a wrong answer (the reward pays it), no answer only costs the item its counterfactual branch. Conventions:
- yes/no: a question asserting a single term group flips a "yes" (the clip showed the term, the transformed clip
  shows its partner); a "no" stays unknown ("Is the ball moving left?" no: it may move up, which a mirror keeps),
  except where two things stand under a mirror ("Is the cup left of the plate?": one side or the other);
- order questions ("Which object appears first?", "In what order do they appear?"): the event verbs of the
  question name the events and are not swapped; only the order flips (two options swap under first/last).
"""
from __future__ import annotations

from dataclasses import dataclass

from crpo.data.annotations import RELATIONS, annotated, answer_key, answer_keys  # noqa: F401  (RELATIONS: public)
from crpo.data.items import LETTERS, TRANSFORMS, Item
from crpo.routing import phrases as phrases
from crpo.routing.lexicon import (ASKS_ORDER, ATTRIBUTE, ATTRIBUTE_VALUE, COUNT, ROTATION_WORDS, SEQ_MARK, STATIC_CUE,
                                  WEAK_MOTION_CUE)
from crpo.routing.text import (_CHANGE_GROUPS, _DIRECTION_GROUPS, _ORDER_GROUPS, _canonical, _motion_context, _norm,
                               _scan, _steps, _swap, _Term, _terms)

CATEGORIES = ("moving_direction", "rotation", "reversible_dynamics", "event_sequence", "static_attribute",
              "static_spatial", "counting", "other")


@dataclass
class _Question:
    asserted: list[_Term]  # terms the question asserts under the transform
    any_terms: bool        # the question had terms at all (asserted, event names or "X or Y" alternatives)
    asks_order: bool       # ordered steps in options are reversed by `reverse`


def _question(item: Item, transform: str, motion: bool | None) -> _Question:
    q = _norm(item.question)
    terms = _terms(_scan(q, transform, motion, question=True))
    if terms and q.endswith(" " + terms[-1].text) and terms[-1].group == "depth":
        terms = terms[:-1]  # "which direction is it moving towards?": the question names no target
    if transform == "reverse" and SEQ_MARK.search(item.question.lower()):
        terms.append(_Term("then", "sequence", (), resolved=False))
    asks_order = bool(ASKS_ORDER.search(q))
    any_terms = bool(terms)
    if transform == "reverse" and (asks_order or any(t.group in _ORDER_GROUPS for t in terms)):
        terms = [t for t in terms if t.group not in _CHANGE_GROUPS]  # event names in an order question
    if " or " in f" {q} ":  # "growing or shrinking": alternatives offered, nothing asserted
        present = {t.text for t in terms}
        terms = [t for t in terms if present.isdisjoint(t.partners)]
    return _Question(terms, any_terms, asks_order)


def _static_under(item: Item, transform: str) -> bool:
    """Category default for text the transform cannot touch."""
    category = categorize(item)
    if transform == "hflip":
        return category != "other"  # a mirror changes only laterality; "other" may hide text or handedness
    # "Is the chef putting the bread on top of the burger?" is about an action the lexicon has no pair for
    return category in ("static_attribute", "static_spatial", "counting") and (
        category == "counting" or not phrases.describes_action(_norm(item.question)))


# ---------------------------------------------------------------------------------------------------------------
# Rules per problem type: partial maps {answer on the clip: answer on the transformed clip}

@dataclass
class _Options:
    question: _Question
    letters: list[str]
    canon: list[str]            # each option's canonical text
    swapped: list[str | None]   # each option's canonical text on the transformed clip (None: a term is unresolved)
    touched: list[bool]         # the transform changes the option's text
    poles: list[frozenset | None]  # each option's (axis, pole) pairs (router_phrases.signature)


def _mc_options(item: Item, transform: str) -> _Options:
    motion = _motion_context(item)
    q = _question(item, transform, motion)
    steps = [_steps(o, q.asks_order) for o in item.options]
    canon = [" then ".join(_canonical(s) for s in st) for st in steps]
    swapped, touched, poles = [], [], []
    for st in steps:
        segs = [_scan(s, transform, motion) for s in st]
        terms = _terms(segs[0]) if len(st) == 1 else []
        poles.append(phrases.signature([(t.text, t.resolved) for t in terms]))
        ends = phrases.reverse_transition(st[0]) if transform == "reverse" and len(st) == 1 else None
        if ends is not None:  # "from X to Y" -> "from Y to X", X and Y as written
            swapped.append(_canonical(ends))
            touched.append(True)
            continue
        if transform == "reverse":
            st, segs = st[::-1], segs[::-1]
        parts = [_swap(s) for s in segs]
        swapped.append(None if None in parts else " then ".join(_canonical(p) for p in parts))
        touched.append(any(_terms(s) for s in segs) or (transform == "reverse" and len(st) > 1))
    if transform == "reverse":  # "connecting" / "disconnecting": each is the other's reversal
        for i, j in ((i, j) for i in range(len(canon)) for j in range(len(canon)) if not touched[i] and i != j):
            if phrases.prefix_opposites(canon[i], canon[j]):
                swapped[i], touched[i] = canon[j], True
    return _Options(q, LETTERS[:len(item.options)], canon, swapped, touched, poles)


def _mc_rules(item: Item, transform: str) -> dict[str, str]:
    o = _mc_options(item, transform)
    q, letters, canon, swapped, touched = o.question, o.letters, o.canon, o.swapped, o.touched
    if q.asserted:
        if len(letters) == 2 and not any(touched) and all(t.group == "selector" for t in q.asserted):
            return {letters[0]: letters[1], letters[1]: letters[0]}
        return {}
    if not q.any_terms and not any(touched):
        return dict(zip(letters, letters)) if _static_under(item, transform) else {}
    mapping = {}
    for i, (letter, text) in enumerate(zip(letters, swapped)):
        hits = [j for j, c in enumerate(canon) if text is not None and c == text]
        if not hits and text is not None and touched[i]:  # the same change in other words: match by pole
            others = [None if j == i else p for j, p in enumerate(o.poles)]
            hits = [j for j in [phrases.opposite_pole(o.poles[i], others)] if j is not None]
        if len(hits) == 1:
            mapping[letter] = letters[hits[0]]
    mapping = {a: b for a, b in mapping.items() if mapping.get(b, a) == a}  # a transform is an involution
    if len(mapping) < len(letters):  # an untouched option keeps its place only in an option set closed under t
        mapping = {a: b for a, b in mapping.items() if touched[LETTERS.index(a)]}
    return mapping


def _yes_no_rules(item: Item, transform: str) -> dict[str, str]:
    """Only "yes" flips: the clip showed the asserted term, so the transformed clip shows its partner. A "no" says
    only that the clip showed something else, which the transform may or may not turn into the term."""
    q = _question(item, transform, _motion_context(item))
    norm = _norm(item.question)
    if transform == "reverse" and (phrases.transition(norm) or phrases.asks_end_state(norm)):
        return {} if phrases.says_no_change(norm) else {"yes": "no"}  # "turning from green to yellow?"
    groups = {t.group for t in q.asserted}
    if len(groups) == 1 and all(t.resolved for t in q.asserted) and not groups & {"locator", "sequence"}:
        if phrases.says_no_change(norm):
            return {}  # "is the door remaining closed?" stays what it is
        # where two things stand ("is the cup left of the plate?") one side or the other is the rule: "no" flips too
        return {"yes": "no", "no": "yes"} if transform == "hflip" and _motion_context(item) is False else {"yes": "no"}
    if not q.any_terms and _static_under(item, transform):
        return {"yes": "yes", "no": "no"}
    return {}


def _yes_no_options(item: Item) -> tuple[str, str] | None:
    """The letters of "yes" and "no" when a multiple-choice item's options are exactly those two words."""
    texts = [_norm(o) for o in item.options or ()]
    return (LETTERS[texts.index("yes")], LETTERS[texts.index("no")]) if sorted(texts) == ["no", "yes"] else None


def _text_rules(item: Item, transform: str, answer: str) -> str | None:
    """Numerical and free-form answers: the answer on the transformed clip, or None."""
    motion = _motion_context(item)
    q = _question(item, transform, motion)
    if q.asserted:
        return None
    if item.problem_type in ("numerical", "regression"):
        return answer  # a count or a quantity is not changed by mirroring or reversal
    if item.problem_type == "ocr":
        return answer if transform == "reverse" else None  # text is not reversed by time; a mirror garbles it
    segs = _scan(_norm(answer), transform, motion)
    terms = _terms(segs)
    if len(terms) == 1 and terms[0].resolved:
        return _swap(segs)
    if not terms and not q.any_terms and _static_under(item, transform):
        return answer
    return None


def _rules(item: Item, transform: str) -> dict[str, str]:
    """Partial rule map for a single transform (hflip | reverse)."""
    yes_no = _yes_no_options(item) if item.problem_type == "multiple_choice" else None
    if transform == "reverse" and item.problem_type != "yes_no" and not yes_no \
            and phrases.asks_end_state(_norm(item.question)):
        return {}  # "what is the final colour?": the other end of the change, which the text does not tell
    if yes_no:
        letter = dict(zip(("yes", "no"), yes_no))  # a yes/no question written as options yes / no
        return {letter[a]: letter[b] for a, b in _yes_no_rules(item, transform).items()}
    if item.problem_type == "multiple_choice":
        return _mc_rules(item, transform)
    if item.problem_type == "yes_no":
        return _yes_no_rules(item, transform)
    cf = _text_rules(item, transform, item.answer)
    return {} if cf is None else {item.answer: cf}


# ---------------------------------------------------------------------------------------------------------------
# Explicit annotations

# ---------------------------------------------------------------------------------------------------------------
# Public API

def categorize(item: Item) -> str:
    """The item's category: `item.category` when it is one of CATEGORIES, else from the question and options."""
    if item.category in CATEGORIES:
        return item.category
    q = _norm(item.question)
    if item.problem_type in ("numerical", "regression") or COUNT.search(q):
        return "counting"
    if ATTRIBUTE.search(q):
        return "static_attribute"
    free_answer = [item.answer] if item.problem_type == "free_form" else []
    text = _norm(" ".join([item.question, *(item.options or []), *free_answer]))
    groups = {t.group for t in _terms(_scan(text, "reverse", True))}
    asks_order = bool(ASKS_ORDER.search(q))
    if asks_order or groups & _ORDER_GROUPS or any(len(_steps(o, False)) > 1 for o in item.options or ()):
        return "event_sequence"
    if ROTATION_WORDS.search(text):
        return "rotation"
    motion = _motion_context(item)
    if motion and (groups & _DIRECTION_GROUPS or WEAK_MOTION_CUE.search(q)):  # "which way does it move"
        return "moving_direction"
    if groups & _CHANGE_GROUPS:
        return "reversible_dynamics"
    if (groups & _DIRECTION_GROUPS and motion is False) or STATIC_CUE.search(text):
        return "static_spatial"
    if ATTRIBUTE_VALUE.search(q):
        return "static_attribute"
    return "other"


def relation(item: Item, transform: str) -> tuple[str, str | None]:
    """(relation, counterfactual answer) of `item` under `transform`: ("change" | "same", the correct answer on
    the transformed clip: option letter, yes/no, number or text), or ("unknown", None)."""
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transform '{transform}' (expected one of {', '.join(TRANSFORMS)})")
    explicit = annotated(item, transform)
    if explicit is not None:
        return explicit
    original = answer_key(item, item.answer)
    if transform == "hflip+reverse":
        h, r = relation(item, "hflip"), relation(item, "reverse")
        if "unknown" in (h[0], r[0]):
            return "unknown", None
        if h[0] == "same":
            return r
        if r[0] == "same":
            return h
        if item.problem_type == "yes_no" or _yes_no_options(item):
            cf = original  # both flip the one asserted term: yes -> no -> yes
        else:  # both change: follow the hflip answer through the reverse rules (or the other way round; they commute)
            cf = _after(item, "reverse", h[1]) or _after(item, "hflip", r[1])
    else:
        cf = _rules(item, transform).get(original)
    if cf is None:
        return "unknown", None
    same = _canonical(_norm(cf)) == _canonical(_norm(original)) if item.problem_type == "free_form" else cf == original
    return ("same" if same else "change"), cf


def _after(item: Item, transform: str, answer: str) -> str | None:
    """The rule-based answer on the transformed clip given that `answer` is correct on the untransformed one."""
    if item.problem_type in ("numerical", "regression", "ocr", "free_form"):
        return _text_rules(item, transform, answer)
    return _rules(item, transform).get(answer)


def option_map(item: Item, transform: str) -> dict[str, str] | None:
    """Where every answer goes under `transform`: option letter -> letter for multiple choice, {"yes": .., "no": ..}
    for yes/no; None when any of them cannot be mapped, and for numerical and free-form items."""
    keys = answer_keys(item)
    if keys is None:
        return None
    explicit = annotated(item, transform)
    if transform == "hflip+reverse" and explicit is None:
        h, r = option_map(item, "hflip"), option_map(item, "reverse")
        return None if h is None or r is None else {k: r[h[k]] for k in keys}
    if transform == "hflip+reverse":
        h, r = _rules(item, "hflip"), _rules(item, "reverse")
        mapping = {k: r[h[k]] for k in keys if h.get(k) in r}
    else:
        mapping = _rules(item, transform)
    if explicit is not None:
        rel, cf = explicit
        if cf is None:
            return None
        original = answer_key(item, item.answer)
        forced = {original: cf, cf: original}  # transforms are involutions
        if len(keys) == 2:
            forced.update({k: k if rel == "same" else original for k in keys if k not in forced})
        if any(mapping.get(k, v) != v for k, v in forced.items()):
            mapping = {}  # the rules disagree with the annotation: trust the annotation alone
        mapping = {**mapping, **forced}
    return mapping if set(mapping) == set(keys) else None


def unlisted(item: Item, transform: str) -> bool:
    """True when the rules know the correct answer's text on the transformed clip and no option carries it (a
    multiple-choice item whose options do not close under the transform: "left" among left / up / down under a
    mirror). Where "None of the above" is shown, it is then the correct counterfactual answer. False whenever the
    rules cannot tell (an annotation, a question that asserts a term, an unresolved motion/position sense)."""
    if item.problem_type != "multiple_choice" or transform not in ("hflip", "reverse") \
            or annotated(item, transform) is not None or relation(item, transform)[0] != "unknown":
        return False
    o = _mc_options(item, transform)
    i = LETTERS.index(answer_key(item, item.answer))
    text = o.swapped[i]
    if o.question.asserted or not o.touched[i] or text is None or text == o.canon[i] or text in o.canon:
        return False
    # Any other option might name the transformed answer in other words: claim "none of them" only for a motion in
    # space, when every other option is read (a motion in space or "no change") and none lies on an axis the
    # answer moves along.
    axes = phrases.axes_of(o.poles[i])
    if not axes or not phrases.spatial(axes):
        return False
    for j, option in enumerate(item.options):
        norm = _norm(option)
        read = bool(o.poles[j]) and phrases.spatial(phrases.axes_of(o.poles[j])) or phrases.says_no_change(norm)
        if j != i and (not read or axes & phrases.axes_of(o.poles[j])):
            return False
    return True


def choose_transform(item: Item) -> str | None:
    """The counterfactual branch for training and bench twins: a transform that changes the answer (reverse first:
    temporal sensitivity is the point), else hflip as an invariance twin when its relation is "same", else None."""
    reverse, hflip = relation(item, "reverse")[0], relation(item, "hflip")[0]
    if reverse == "change":
        return "reverse"
    if hflip in ("change", "same"):
        return "hflip"
    return None


def route(item: Item) -> dict:
    row = {"id": item.id, "category": categorize(item)}
    for t in TRANSFORMS:
        rel, answer = relation(item, t)
        row[t] = {"relation": rel, "answer": answer}
    row["transform"] = choose_transform(item)
    return row
