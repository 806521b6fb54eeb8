"""CRPO (arXiv 2605.21988): G rollouts on the original clip and G on a counterfactual one, related by CRR.

The counterfactual is the item's question class's transform (crpo/task_class.py: temporal and spatiotemporal
questions are reversed, spatial ones mirrored, static ones mirrored as invariance twins); multiple-choice items
carry "None of the above" as an extra last option on both branches (null_option=auto).

crr_mode=paper (default; label-free, the paper's five terms; formulas in crpo/rewards.py):
    original rollout i:        accuracy_weight * acc_i + format_weight * fmt_i + crr_weight * acc_i * agg_j(behave_j)
    counterfactual rollout j:  behave_weight * behave_j + format_weight * fmt_j + crr_weight * behave_j * agg_i(acc_i)
    behave_j = [y_j readable and y_j != original answer] for dynamic (change) items, [y_j == answer] for static ones
  Needs only the relation class, never the counterfactual answer. Departures, where the paper is silent: R_format
  is scored on both branches (under joint grouping a term on one branch only would rank every original rollout
  above every counterfactual one); "change" is measured against the original's correct answer, not against the
  original rollouts (it is then a property of each counterfactual rollout alone, and a shortcut answer, which
  repeats the original's answer, never earns it); the other branch is aggregated by its mean (crr_aggregate).
crr_mode=mapped / differ (variants that need the router's counterfactual answer for acc on the counterfactual
  branch): both branches earn accuracy against their own truth, and CRR is the fraction of the other branch's
  rollouts standing in the relation (crpo.rewards.counterfactual_relation_reward), mapped following the router's
  option map, gated on correctness where the truth is known.

Advantages: both branches of an item form one group (advantage_grouping=joint), the only scheme under which the
cross-branch terms change the gradient (see benchmarks/advantage_schemes.py).
"""
from __future__ import annotations

from crpo import rewards
from crpo.methods.common import (ItemScores, correctness_only, counterfactual_plan, on_rows,
                                 read, rows_of, trained_groups)


def plan(item_index, item, clip, cfg, cached_class=None, seed=0):
    return counterfactual_plan(item_index, item, clip, cfg, cached_class, needs_answer=cfg.crr_mode != "paper")


def score(plan, texts, cfg) -> ItemScores:
    if plan.relation is None:  # no counterfactual branch: GRPO on 2G original rollouts
        return correctness_only(plan, texts, cfg)
    answers, acc, fmt = read(plan, texts, cfg)
    n, g = len(texts), len(texts) // len(plan.branches)
    groups, in_loss = trained_groups(plan, g, cfg), [True] * n
    o, c = rows_of(plan, g, "orig"), rows_of(plan, g, "cf")
    if cfg.crr_mode == "paper":
        truth = rewards.normalize_answer(plan.item.answer, plan.item.problem_type)
        behave = rewards.behave_reward([answers[r] for r in c], plan.relation, truth)
        crr_o, crr_c = rewards.paper_crr([acc[r] for r in o], behave, cfg.crr_aggregate)
        terms = {"accuracy": on_rows(o, [acc[r] for r in o], n), "behave": on_rows(c, behave, n), "format": fmt,
                 "crr": on_rows(o + c, crr_o + crr_c, n)}
        return ItemScores(answers, acc, terms, groups, in_loss)
    gate = cfg.crr_gate_on_correct
    known_o, known_c = plan.branches[0].truth is not None, plan.branches[1].truth is not None
    crr_o, crr_c = rewards.counterfactual_relation_reward(
        [answers[r] for r in o], [answers[r] for r in c], plan.relation,
        cf_answer_of=plan.cf_answer_of if cfg.crr_mode == "mapped" else None,
        correct_orig=[acc[r] >= 0.5 for r in o] if gate and known_o else None,  # >= 0.5: partial scores
        correct_cf=[acc[r] >= 0.5 for r in c] if gate and known_c else None)    # (ROUGE, MRA) count when mostly right
    return ItemScores(answers, acc, {"accuracy": acc, "format": fmt, "crr": on_rows(o + c, crr_o + crr_c, n)},
                      groups, in_loss)
