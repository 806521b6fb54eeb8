"""Which advantage scheme lets CRPO's cross-branch terms change the gradient? Measured side by side on one set.

    .venv/bin/python benchmarks/advantage_schemes.py [--groups 500] [--seed 0]

Rollouts of a mostly-shortcut policy on dynamic 2-option items (G = 8 per branch): the original answer is right
(plus a few slips); on the reversed clip most rollouts repeat it (the shortcut) and 1-3 switch to the right
counterfactual answer. For each scheme the script scores the SAME answers with crpo (its default rewards) and
with grpo_cf_aug (counterfactual labels, no cross-branch term) through crpo.rl.scoring.score_rollouts, and prints

    max|dA|   mean over groups of max_r |A_crpo - A_cf_aug|   (about 1e-4 or less: the terms vanish)
    up        share of groups where every counterfactual rollout that changed its answer gets a higher advantage (by 1e-3)
              under crpo than under cf-aug
    down      share where every original-branch shortcut rollout gets a lower one

GDPO (one group-normalised advantage per reward term, summed) is computed here with the same functions for
comparison; it is not a trainer option because it did not satisfy both directions (see its row).
"""
from __future__ import annotations

import argparse
import random

import torch

from crpo.data.items import Item
from crpo.rl.algorithms import advantages_by_group
from crpo.rl.methods import METHODS
from crpo.rl.methods.common import Branch, ItemPlan
from crpo.rl.scoring import score_rollouts, term_weights
from crpo.training.config import TrainConfig

G = 8
ITEM = Item(id="d", video="v.mp4", question="Which way does the ball move?", options=["left", "right"], answer="A",
            category="moving_direction")


def sample(rng):
    orig = ["A"] * G
    for i in rng.sample(range(G), rng.randint(0, 2)):
        orig[i] = "B"
    cf = ["A"] * G
    for i in rng.sample(range(G), rng.randint(1, 3)):
        cf[i] = "B"
    return orig, cf


def gdpo(plan, texts, cfg):
    s = METHODS[cfg.algorithm].score(plan, texts, cfg)
    out = torch.zeros(len(texts))
    for name, values in s.terms.items():
        w = term_weights(cfg)[name]
        if w:
            v = torch.tensor([float("nan") if x is None else x for x in values])
            out += w * advantages_by_group(v, s.groups, "group")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--groups", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    data = [sample(rng) for _ in range(a.groups)]
    plan = ItemPlan(ITEM, [Branch(0, ITEM, "orig", None, "A"), Branch(0, ITEM, "cf", None, "B")], relation="change",
                    cf_answer_of={"A": "B", "B": "A"})
    schemes = [(g, s) for g in ("per_branch", "joint") for s in ("group", "batch", "none")] + [("gdpo", "")]
    print(f"{'scheme':22s} {'max|dA|':>8s} {'up':>6s} {'down':>6s}")
    for grouping, scale in schemes:
        diff, up, down = 0.0, 0, 0
        for orig, cf in data:
            texts = [f"<answer>{x}</answer>" for x in orig + cf]
            if grouping == "gdpo":
                ca, aa = (gdpo(plan, texts, TrainConfig(algorithm=alg, num_generations=G, advantage_grouping="joint"))
                          for alg in ("crpo", "grpo_cf_aug"))
            else:
                ca, aa = (score_rollouts([plan], texts, G, TrainConfig(
                    algorithm=alg, num_generations=G, advantage_grouping=grouping, scale_rewards=scale)).advantages
                    for alg in ("crpo", "grpo_cf_aug"))
            changed = [G + j for j, y in enumerate(cf) if y == "B"]
            shortcut = [i for i, x in enumerate(orig) if x == "A"]
            diff += float((ca - aa).abs().max()) / len(data)
            up += bool((ca[changed] > aa[changed] + 1e-3).all())
            down += bool((ca[shortcut] < aa[shortcut] - 1e-3).all())
        name = "gdpo (joint, per term)" if grouping == "gdpo" else f"{grouping} + {scale}"
        print(f"{name:22s} {diff:8.4f} {up / len(data):6.2f} {down / len(data):6.2f}")


if __name__ == "__main__":
    main()
