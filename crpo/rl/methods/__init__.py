"""The algorithms, one module each; the trainer knows none of them by name.

    method = METHODS[cfg.algorithm]
    plan = method.plan(item_index, item, clip, cfg, cached, seed)   # branches of one item
    item_scores = method.score(plan, texts, cfg)                           # reward terms by name, groups

Every algorithm generates 2G completions per item, so comparisons are at equal rollout budget:
    grpo          original x 2G, one group
    grpo_cf_aug   original x G + counterfactual x G, each against its own truth (needs counterfactual answers)
    crpo          original x G + counterfactual x G, plus the cross-branch relation terms (no labels: the
                  counterfactual answer is read from the question text)
    tgrpo         original x G (trained) + shuffled frames x G (decide the T-GRPO bonus)
    arrowrl       original x G (trained) + reversed clip x G (decide ArrowRL's reverse reward)
"""
from crpo.rl.methods import arrowrl, cf_aug, crpo, grpo, tgrpo

METHODS = {"grpo": grpo, "grpo_cf_aug": cf_aug, "crpo": crpo, "tgrpo": tgrpo, "arrowrl": arrowrl}
