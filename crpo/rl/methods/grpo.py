"""GRPO (DeepSeekMath): 2G rollouts on the original clip, one group, correctness (+ format) only.

    reward_i = accuracy_weight * acc_i + format_weight * fmt_i
"""
from __future__ import annotations

from crpo.rl.methods.common import correctness_only, original_twice


def plan(item_index, item, clip, cfg, cached=None, seed=0):
    return original_twice(item_index, item, clip)


score = correctness_only
