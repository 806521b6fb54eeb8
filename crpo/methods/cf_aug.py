"""GRPO with counterfactual clips as plain data augmentation (`grpo_cf_aug`): the ablation that isolates CRR.

G rollouts on the original clip and G on the counterfactual one; each branch is scored against its own ground
truth, which on the counterfactual clip is the router's counterfactual *answer* (a label crpo's default rewards do
not need): an item whose counterfactual answer the router cannot give trains on the original clip only (2G).

    reward_i = accuracy_weight * acc_i + format_weight * fmt_i      on both branches, no cross-branch term
Grouped like crpo (advantage_grouping, joint by default), so the two differ only in their rewards.
"""
from __future__ import annotations

from crpo.methods.common import ItemScores, counterfactual_plan, read, trained_groups


def plan(item_index, item, clip, cfg, cached_class=None, seed=0):
    return counterfactual_plan(item_index, item, clip, cfg, cached_class, needs_answer=True)


def score(plan, texts, cfg) -> ItemScores:
    answers, acc, fmt = read(plan, texts, cfg)
    g = len(texts) // len(plan.branches)
    return ItemScores(answers, acc, {"accuracy": acc, "format": fmt}, trained_groups(plan, g, cfg),
                      [True] * len(texts))
