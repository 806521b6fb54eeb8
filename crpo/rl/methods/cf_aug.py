"""GRPO with counterfactual clips as plain data augmentation (`grpo_cf_aug`): the ablation that isolates CRR.

G rollouts on the original clip and G on the counterfactual one; each branch is scored against its own ground
truth, which on the counterfactual clip is the router's counterfactual *answer* (a label crpo's default rewards do
not need): an item whose counterfactual answer the router cannot give trains on the original clip only (2G).

    reward_i = accuracy_weight * acc_i + format_weight * fmt_i      on both branches, no cross-branch term
Grouped like crpo (advantage_grouping, joint by default), so the two differ only in their rewards.
"""
from __future__ import annotations

from crpo.rl.methods.common import correctness_only, counterfactual_plan


def plan(item_index, item, clip, cfg, cached=None, seed=0):
    return counterfactual_plan(item_index, item, clip, cfg, cached, needs_answer=True)


score = correctness_only  # each branch against its own truth, which on the counterfactual clip is the label
