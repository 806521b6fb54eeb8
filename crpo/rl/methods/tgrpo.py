"""T-GRPO (Video-R1, arXiv 2503.21776): G rollouts on ordered frames (trained) + G on shuffled frames (not trained).

    reward_i = accuracy_weight * acc_i + format_weight * fmt_i + bonus_i
    bonus_i  = tgrpo_alpha if acc_i > 0.1 and mean(acc_ordered) >= tgrpo_mu * mean(acc_shuffled), else 0
(crpo.rl.rewards.tgrpo_bonus, following Video-R1's code). The bonus is decided per item, so within the item's group
it multiplies the accuracy spread by (1 + alpha): a per-group std removes it, which is why tgrpo's default
advantage scale (scale_rewards=auto) is the batch std, under which items that pass the temporal test weigh more.
"""
from __future__ import annotations

from crpo.data.counterfactual import counterfactual
from crpo.rl import rewards
from crpo.rl.methods.common import Branch, ItemPlan, ItemScores, on_rows, read, rows_of, trained_groups


def plan(item_index, item, clip, cfg, cached=None, seed=0):
    shuffled = counterfactual(clip, "shuffle", seed=seed)
    return ItemPlan(item, [Branch(item_index, item, "orig", clip, item.answer),
                           Branch(item_index, item, "shuffled", shuffled, item.answer, in_loss=False)])


def score(plan, texts, cfg) -> ItemScores:
    answers, acc, fmt = read(plan, texts, cfg)
    n, g = len(texts), len(texts) // len(plan.branches)
    o, s = rows_of(plan, g, "orig"), rows_of(plan, g, "shuffled")
    bonus = rewards.tgrpo_bonus([acc[r] for r in o], [acc[r] for r in s], mu=cfg.tgrpo_mu, alpha=cfg.tgrpo_alpha)
    terms = {"accuracy": on_rows(o, [acc[r] for r in o], n), "format": on_rows(o, [fmt[r] for r in o], n),
             "tgrpo_bonus": on_rows(o, bonus, n)}
    return ItemScores(answers, acc, terms, trained_groups(plan, g, cfg), [r in o for r in range(n)])
