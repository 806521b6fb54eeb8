"""CRPO (arXiv 2605.21988): G rollouts on the original clip and G on a counterfactual one, related by CRR.

The counterfactual is the item's question class's transform (crpo/routing/classes.py: temporal and spatiotemporal
questions are reversed, spatial ones mirrored, static ones mirrored as invariance twins); multiple-choice items
carry "None of the above" as an extra last option on both branches (null_option=auto).

The paper's five terms (formulas in crpo/rl/rewards.py), for every crr_mode:
    original rollout i:        accuracy_weight * acc_i + format_weight * fmt_i + crr_weight * acc_i * agg_j(behave_j)
    counterfactual rollout j:  behave_weight * behave_j + format_weight * fmt_j + crr_weight * behave_j * agg_i(acc_i)
The modes differ in what "behaves as expected" means on the counterfactual clip:

crr_mode=answer (default): behave_j is the accuracy of y_j against the counterfactual answer the question text
  tells (the router: "left" -> "right" under a mirror, "opening" -> "closing" under a reversal; the answer itself
  for static questions; "None of the above" exactly where the transformed answer is none of the listed options),
  scored by the problem type's own score (ROUGE, MRA, WER for partial types). No annotation is needed, and neither
  "None of the above" nor a wrong option earns what the right change earns. An item whose counterfactual answer
  the text does not tell follows `crr_unmapped`: skip (default) gives it no counterfactual branch (2G original
  rollouts, as GRPO; noted no_cf_answer and counted), change scores it by the literal rule below. Why skip: under
  "change" a policy that cannot see the video earns more by moving answers off the correct one (the table in the
  README, computed by crpo/rl/methods/policy_table.py); under skip it never does.
crr_mode=any_change (the paper read literally, kept for ablations): behave_j = 1 - score(y_j, original answer) for
  dynamic items (any readable answer other than the original's correct one: 1 for letters), score(y_j, answer)
  for static ones. It needs only the relation, and it pays "None of the above" and every wrong option as much as
  the right change.
crr_mode=mapped: both branches earn accuracy against their own truth, and CRR is the fraction of the other
  branch's rollouts standing in the relation, following the router's option map (crpo.rl.rewards.
  counterfactual_relation_reward), gated on correctness; items without a counterfactual answer get no branch.

Departures, where the paper is silent: R_format is scored on both branches (under joint grouping a term on one
branch only would rank every original rollout above every counterfactual one); the other branch is aggregated by
its mean (crr_aggregate).

Advantages: both branches of an item form one group (advantage_grouping=joint), the only scheme under which the
cross-branch terms change the gradient (see benchmarks/advantage_schemes.py).
"""
from __future__ import annotations

from crpo.rl import rewards
from crpo.rl.methods.common import (ItemScores, correctness_only, counterfactual_plan, on_rows, read, rows_of,
                                    trained_groups)


def needs_answer(cfg) -> bool:
    """Does an item need its counterfactual answer for a counterfactual branch under this config?"""
    return cfg.crr_mode == "mapped" or (cfg.crr_mode == "answer" and cfg.crr_unmapped == "skip")


def plan(item_index, item, clip, cfg, cached=None, seed=0):
    return counterfactual_plan(item_index, item, clip, cfg, cached, needs_answer=needs_answer(cfg))


def score(plan, texts, cfg) -> ItemScores:
    if plan.relation is None:  # no counterfactual branch: GRPO on 2G original rollouts
        return correctness_only(plan, texts, cfg)
    answers, acc, fmt = read(plan, texts, cfg)
    n, g = len(texts), len(texts) // len(plan.branches)
    groups, in_loss = trained_groups(plan, g, cfg), [True] * n
    o, c = rows_of(plan, g, "orig"), rows_of(plan, g, "cf")
    if cfg.crr_mode == "mapped":
        return _mapped(plan, answers, acc, fmt, o, c, groups, cfg)
    if cfg.crr_mode == "answer" and plan.branches[1].truth is not None:
        behave = [acc[r] for r in c]  # against the counterfactual answer, by the problem type's own score
    else:  # any_change, or crr_unmapped=change on an item whose counterfactual answer the text does not tell
        behave = rewards.behave_reward([answers[r] for r in c], plan.relation, plan.item.answer,
                                       plan.item.problem_type)
    crr_o, crr_c = rewards.paper_crr([acc[r] for r in o], behave, cfg.crr_aggregate)
    terms = {"accuracy": on_rows(o, [acc[r] for r in o], n), "behave": on_rows(c, behave, n), "format": fmt,
             "crr": on_rows(o + c, crr_o + crr_c, n)}
    return ItemScores(answers, acc, terms, groups, in_loss)


def _mapped(plan, answers, acc, fmt, o, c, groups, cfg) -> ItemScores:
    n = len(answers)
    gate = cfg.crr_gate_on_correct
    crr_o, crr_c = rewards.counterfactual_relation_reward(
        [answers[r] for r in o], [answers[r] for r in c], plan.relation, cf_answer_of=plan.cf_answer_of,
        correct_orig=[acc[r] >= 0.5 for r in o] if gate else None,  # >= 0.5: partial scores (ROUGE, MRA)
        correct_cf=[acc[r] >= 0.5 for r in c] if gate else None,    # count when mostly right
        problem_type=plan.item.problem_type)
    return ItemScores(answers, acc, {"accuracy": acc, "format": fmt, "crr": on_rows(o + c, crr_o + crr_c, n)},
                      groups, [True] * n)
