"""From completions to per-rollout reward terms, totals and advantages, for whichever algorithm runs.

Kept out of the trainer so the loop reads rollout -> score -> advantages -> loss -> step. What an algorithm
rewards lives in its module (crpo/rl/methods/); the maths in crpo/rl/rewards.py (terms), `combine_rewards` (their
weighted sum, unscored terms skipped, NaN when nothing is scored) and crpo/rl/algorithms.py (advantages).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from crpo.rl.algorithms import advantages_by_group
from crpo.rl.methods import METHODS
from crpo.rl.methods.common import ItemPlan
from crpo.rl.rewards import combine_rewards

TERM_ORDER = ("accuracy", "format", "behave", "crr", "tgrpo_bonus", "arrow_reverse")


def term_weights(cfg) -> dict[str, float]:
    """Weight of every reward term; the T-GRPO and ArrowRL terms carry their alpha inside."""
    return {"accuracy": cfg.accuracy_weight, "format": cfg.format_weight, "behave": cfg.behave_weight,
            "crr": cfg.crr_weight, "tgrpo_bonus": 1.0, "arrow_reverse": 1.0}


def advantage_scale(cfg) -> str:
    """scale_rewards=auto: the batch std for tgrpo (its bonus is a per-item constant), the group std otherwise."""
    if cfg.scale_rewards != "auto":
        return cfg.scale_rewards
    return "batch" if cfg.algorithm == "tgrpo" else "group"


@dataclass
class Scores:
    """Per completion row of the step (row r belongs to branch r // G)."""
    answers: list[str | None]
    accuracy: list[float | None]           # against each branch's truth where known: monitoring, not the reward
    terms: dict[str, list[float | None]]   # every reward term by name; None = not part of that row's reward
    total: torch.Tensor                    # [R] weighted sum of the terms (NaN = nothing scored)
    advantages: torch.Tensor               # [R]
    branch: list[str]                      # "orig" | "cf" | "shuffled" | "reversed"
    rollout: list[int]                     # index of the row within its branch
    item_id: list[str]
    in_loss: torch.Tensor                  # [R] bool


def score_rollouts(plans: list[ItemPlan], texts: list[str], g: int, cfg, all_reduce=None) -> Scores:
    """Score every item's rows with its algorithm, combine the terms in a fixed order (TERM_ORDER) and compute the
    advantages; `all_reduce` (summing over processes) makes scale_rewards=batch use the step's std."""
    method = METHODS[cfg.algorithm]
    answers, accuracy, branch, rollout, item_id, in_loss, groups = [], [], [], [], [], [], []
    terms: dict[str, list] = {}
    for plan in plans:
        start, n = len(answers), g * len(plan.branches)
        s = method.score(plan, texts[start:start + n], cfg)
        for name in s.terms:
            terms.setdefault(name, [None] * start)
        for name in terms:
            terms[name].extend(s.terms.get(name, [None] * n))
        answers += s.answers
        accuracy += s.accuracy
        in_loss += s.in_loss
        groups += [[start + r for r in rows] for rows in s.groups]
        seen: dict[str, int] = {}
        for b in plan.branches:  # an item without a counterfactual has "orig" twice: rollouts 0..2G-1
            branch += [b.name] * g
            rollout += list(range(seen.get(b.name, 0), seen.get(b.name, 0) + g))
            seen[b.name] = seen.get(b.name, 0) + g
            item_id += [plan.item.id] * g
    terms = {name: terms[name] for name in sorted(terms, key=TERM_ORDER.index)}  # sums in one order, always
    total = torch.tensor(combine_rewards(terms, term_weights(cfg)), dtype=torch.float32)
    advantages = advantages_by_group(total, groups, advantage_scale(cfg), all_reduce=all_reduce)
    return Scores(answers, accuracy, terms, total, advantages, branch, rollout, item_id, torch.tensor(in_loss))
