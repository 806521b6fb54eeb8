"""The numbers of `crpo audit`, as pure functions of items, the router's reading and the model's answers.

    records = [item_record(item, row, route) for ...]   # one per item
    metrics = audit_metrics(records)                    # overall, per category, per question class

A row (crpo/bench/audit.py writes them) holds, per clip ("original", "hflip", "reverse"), the greedy output, the
answer extracted from it, and `logp`: the log-probabilities of the item's choices (option letters; "yes"/"no")
at the answer position, renormalised over the choices (None for other problem types). A route is what the router
reads from the text alone (crpo.routing.classes.counterfactual_target, crpo.routing.rules.relation): the question class, the
counterfactual transform with its relation ("change" / "same"), the counterfactual answer when the text tells it,
and the other transform ("control") with its relation.

Definitions (fractions in [0, 1]; None where the denominator is 0):
- acc            greedy answer on the original clip equals the gold answer.
- change_rate    over dynamic items (relation "change" under the routed transform): the answer on the
                 counterfactual clip differs from the answer on the original. Label-free, like DyBench's dynamic
                 change rate; an unreadable answer on either clip counts as not changed.
- keep_rate      over static items (relation "same"): the two answers are equal (unreadable: not kept).
- p_acc          over items whose counterfactual answer the router reads from the text: right on the original AND
                 the counterfactual answer on the counterfactual clip (DyBench's P-Acc, the twin made on the fly).
- divergence     mean over items with a distribution of KL(p_original || p_counterfactual), in nats. This is
                 ArrowRL's temporal divergence score (Xue, Luo, Grauman 2025: TDS_i = KL[p_i || p~_i] over the
                 answer options of the first output token, forward vs reversed video) with two departures: the
                 distribution is read at the answer position of crpo's answer template (after "<answer>"; the
                 first token when the template puts the answer first), and the transform is the item's routed one
                 (a mirror for spatial and static questions) rather than always the reversal; `reverse_divergence`
                 is ArrowRL's own choice, over every item with a distribution, whatever its class.
- control_keep_rate / control_divergence: the same under the other transform, over items whose relation under
                 it is "same" (a temporal question mirrored): a model that is merely unstable changes its answer
                 there too, one that tracks the video keeps it.
A model that does not look at the video has divergence 0 and change rate 0; one that answers from the video as
the world's truth says has change rate 1 and keep rate 1 (tests/test_audit_metrics.py).
"""
from __future__ import annotations

import math

from crpo.bench.predictions import canonical

CLIPS = ("original", "hflip", "reverse")
CONTROL = {"hflip": "reverse", "reverse": "hflip"}


def kl_divergence(logp: list[float], logq: list[float]) -> float:
    """KL(p || q) in nats of two distributions given as log-probabilities over the same choices."""
    if len(logp) != len(logq):
        raise ValueError(f"distributions over {len(logp)} and {len(logq)} choices")
    return sum(math.exp(a) * (a - b) for a, b in zip(logp, logq) if a > -math.inf)


def _same(problem_type: str, a, b) -> bool | None:
    """Whether two answers are equal; None when either is unreadable."""
    a, b = canonical(problem_type, a), canonical(problem_type, b)
    return None if a is None or b is None else a == b


def item_record(item, row: dict, route: dict) -> dict:
    """One item's audit: its route, and what the model did on each clip, as the booleans and numbers
    `audit_metrics` averages (None where an item is outside a metric's denominator)."""
    kind = item.problem_type
    transform, relation, control = route["transform"], route["relation"], route["control"]
    clip = row["clips"]
    orig = clip["original"]
    correct = _same(kind, orig["answer"], item.answer) is True
    rec = {"id": item.id, "category": route["category"], "class": route["question_class"],
           "transform": transform, "relation": relation, "control": control,
           "control_relation": route["control_relation"], "correct": correct,
           "changed": None, "kept": None, "pair_right": None, "divergence": None,
           "control_kept": None, "control_divergence": None, "reverse_divergence": None}

    def kl(name):
        p, q = orig.get("logp"), clip[name].get("logp")
        return None if p is None or q is None else kl_divergence(p, q)

    rec["reverse_divergence"] = kl("reverse")
    if transform is not None:
        same = _same(kind, orig["answer"], clip[transform]["answer"])
        if relation == "change":
            rec["changed"] = same is False
        elif relation == "same":
            rec["kept"] = same is True
        if route["cf_answer"] is not None:
            rec["pair_right"] = correct and _same(kind, clip[transform]["answer"], route["cf_answer"]) is True
        rec["divergence"] = kl(transform)
    if control is not None:
        rec["control_divergence"] = kl(control)
        if route["control_relation"] == "same":
            rec["control_kept"] = _same(kind, orig["answer"], clip[control]["answer"]) is True
    return rec


def _mean(values) -> tuple[float | None, int]:
    values = [float(v) for v in values if v is not None]
    return (sum(values) / len(values) if values else None), len(values)


def summarize(records: list[dict]) -> dict:
    """The audit numbers of a set of item records (see the module docstring), with each denominator."""
    out = {"items": len(records), "unknown_class": sum(r["transform"] is None for r in records)}
    out["acc"], _ = _mean(r["correct"] for r in records)
    for key, field in (("change_rate", "changed"), ("keep_rate", "kept"), ("p_acc", "pair_right"),
                       ("divergence", "divergence"), ("control_keep_rate", "control_kept"),
                       ("control_divergence", "control_divergence"), ("reverse_divergence", "reverse_divergence")):
        out[key], out[f"{key}_n"] = _mean(r[field] for r in records)
    return out


def audit_metrics(records: list[dict]) -> dict:
    """{"overall": summary, "per_category": {category: summary}, "per_class": {question class: summary}}."""
    def grouped(key):
        groups: dict[str, list[dict]] = {}
        for r in records:
            groups.setdefault(r[key] or "unknown", []).append(r)
        return {name: summarize(rs) for name, rs in sorted(groups.items())}

    return {"overall": summarize(records), "per_category": grouped("category"), "per_class": grouped("class")}
