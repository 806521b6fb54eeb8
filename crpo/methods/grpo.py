"""GRPO (DeepSeekMath): 2G rollouts on the original clip, one group, correctness (+ format) only.

    reward_i = accuracy_weight * acc_i + format_weight * fmt_i
"""
from __future__ import annotations

from crpo.methods.common import ItemScores, original_twice, read, trained_groups


def plan(item_index, item, clip, cfg, cached_class=None, seed=0):
    return original_twice(item_index, item, clip)


def score(plan, texts, cfg) -> ItemScores:
    answers, acc, fmt = read(plan, texts, cfg)
    g = len(texts) // len(plan.branches)
    return ItemScores(answers, acc, {"accuracy": acc, "format": fmt}, trained_groups(plan, g, cfg),
                      [True] * len(texts))
