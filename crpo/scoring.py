"""From completions to per-rollout rewards and advantages, for every algorithm.

Kept out of the trainer so the loop reads rollout -> score -> advantages -> loss -> step. The reward maths
itself (answer extraction, accuracy, format, CRR, T-GRPO bonus) lives in crpo/rewards.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from crpo import rewards
from crpo.algorithms import group_advantages
from crpo.rollout import ItemPlan, Rollouts


@dataclass
class Scores:
    """Per completion row: extracted answer, reward components, total reward, advantage."""
    answers: list[str | None]
    accuracy: list[float | None]
    format: list[float]
    crr: list[float | None]        # None where CRR does not apply (not crpo, or relation unknown)
    bonus: list[float]             # T-GRPO bonus
    total: torch.Tensor            # [R]
    advantages: torch.Tensor       # [R]
    branch: list[str]              # "orig" | "cf" | "shuffled" per row
    in_loss: torch.Tensor          # [R] bool


def score_rollouts(plans: list[ItemPlan], ro: Rollouts, cfg) -> Scores:
    g = ro.num_generations
    n = len(ro.texts)
    answers, accuracy, fmt = [None] * n, [None] * n, [0.0] * n
    crr, bonus = [None] * n, [0.0] * n
    branch, in_loss, groups = [""] * n, [False] * n, []
    start = 0
    for plan in plans:
        spans = []
        for b in plan.branches:
            rows = list(range(start, start + g))
            start += g
            spans.append(rows)
            texts = [ro.texts[r] for r in rows]
            got = [rewards.extract_answer(t, b.item.problem_type, b.item.options) for t in texts]
            acc = rewards.accuracy_reward(got, [b.truth] * g, b.item.problem_type)
            for r, a, s, f in zip(rows, got, acc, rewards.format_reward(texts, cfg.answer_format)):
                answers[r], accuracy[r], fmt[r], branch[r], in_loss[r] = a, s, f, b.name, b.in_loss
        names = [b.name for b in plan.branches]
        if plan.relation is not None and cfg.algorithm == "crpo":
            o, c = spans
            gate = cfg.crr_gate_on_correct
            orig_crr, cf_crr = rewards.counterfactual_relation_reward(
                [answers[r] for r in o], [answers[r] for r in c], plan.relation,
                cf_answer_of=plan.cf_answer_of if cfg.crr_mode == "mapped" else None,
                correct_orig=[bool(accuracy[r]) for r in o] if gate else None,
                correct_cf=[bool(accuracy[r]) for r in c] if gate else None)
            for r, v in zip(o + c, list(orig_crr) + list(cf_crr)):
                crr[r] = v
        if names == ["orig", "shuffled"]:
            o, s = spans
            for r, v in zip(o, rewards.tgrpo_bonus([accuracy[r] or 0.0 for r in o], [accuracy[r] or 0.0 for r in s],
                                                     mu=cfg.tgrpo_mu, alpha=cfg.tgrpo_alpha)):
                bonus[r] = v
        # Two original branches are one group of 2G (grpo, unknown relation); T-GRPO groups the ordered rollouts.
        joint = names == ["orig", "orig"] or cfg.advantage_grouping == "joint" and names == ["orig", "cf"]
        groups += [spans[0] + spans[1]] if joint else [rows for rows, b in zip(spans, plan.branches) if b.in_loss]
    total = torch.tensor([cfg.accuracy_weight * (accuracy[r] or 0.0) + cfg.format_weight * fmt[r]
                          + cfg.crr_weight * (crr[r] or 0.0) + bonus[r] for r in range(n)])
    advantages = torch.zeros(n)
    for rows in groups:
        idx = torch.tensor(rows)
        advantages[idx] = group_advantages(total[idx][None], scale=cfg.scale_rewards)[0]
    return Scores(answers, accuracy, fmt, crr, bonus, total, advantages, branch, torch.tensor(in_loss))
