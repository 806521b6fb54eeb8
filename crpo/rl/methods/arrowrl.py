"""ArrowRL (Xue, Luo, Grauman, "Seeing the Arrow of Time in Large Multimodal Models", NeurIPS 2025).

G rollouts on the forward clip (trained) and G on the time-reversed clip (not trained: they only define o_rev):

    reward_i = accuracy_weight * acc_i + format_weight * fmt_i + r_rev_i
    r_rev_i  = arrow_alpha * (1 - sim(o_i, o_rev)), dropped when the reversed answers match the target > arrow_gamma
(crpo.rl.rewards.arrow_reverse_reward; alpha 0.25, gamma 0.75 as in the paper). The paper trains G = 8 forward
rollouts; here the reversed rollouts take the other half of the 2G budget every algorithm gets.
"""
from __future__ import annotations

from crpo.data.counterfactual import counterfactual
from crpo.rl import rewards
from crpo.rl.answers import normalize_answer
from crpo.rl.methods.common import Branch, ItemPlan, ItemScores, on_rows, read, rows_of, trained_groups


def plan(item_index, item, clip, cfg, cached=None, seed=0):
    return ItemPlan(item, [Branch(item_index, item, "orig", clip, item.answer),
                           Branch(item_index, item, "reversed", counterfactual(clip, "reverse"), None,
                                  in_loss=False)])


def score(plan, texts, cfg) -> ItemScores:
    answers, acc, fmt = read(plan, texts, cfg)
    n, g = len(texts), len(texts) // len(plan.branches)
    o, v = rows_of(plan, g, "orig"), rows_of(plan, g, "reversed")
    truth = normalize_answer(plan.item.answer, plan.item.problem_type)
    rev = rewards.arrow_reverse_reward([answers[r] for r in o], [answers[r] for r in v], truth,
                                       alpha=cfg.arrow_alpha, gamma=cfg.arrow_gamma)
    terms = {"accuracy": on_rows(o, [acc[r] for r in o], n), "format": on_rows(o, [fmt[r] for r in o], n),
             "arrow_reverse": on_rows(o, rev, n)}
    return ItemScores(answers, acc, terms, trained_groups(plan, g, cfg), [r in o for r in range(n)])
