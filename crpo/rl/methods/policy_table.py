"""What scripted policies earn under a reward config, computed with the trainer's own plan and score path.

    from crpo.rl.methods.policy_table import policy_rewards, reward_table
    policy_rewards(item, cfg)              # {"tracks": 2.0, "null on cf": 0.5, "blind 50% null": 0.25, ...}
    print(reward_table([item2, item3, item4], cfg))   # markdown, one column per item

A reward design is judged by what it pays behaviours, not by its formula (the DESIGN notes: "every reward design
ships with a table"). Each policy is a fixed list of G answers per clip, the same on every branch that shows the
same clip; its reward is the mean total reward per rollout over the item's 2G rollouts, from
`METHODS[cfg.algorithm].plan` -> `show_null_option` -> `score_rollouts`, exactly as `crpo train` scores them. The
policies (letters of the item as the model sees it, null option included when it is on):

    tracks           the correct answer on the original, the counterfactual answer on the counterfactual clip
    null on cf       correct on the original, "None of the above" on the counterfactual clip
    wrong on cf      correct on the original, a listed option that is wrong on both clips on the counterfactual one
    shortcut         the original's answer on both clips (answers from the question or one frame)
    blind q% null    cannot tell the clips apart: the original's answer, q% of the time "None of the above" instead
    blind q% wrong   the same with a wrong listed option instead of the null option

A policy is left out (None) where the item has no such answer (no null option shown, no wrong option left).
"""
from __future__ import annotations

import numpy as np

from crpo.data.items import LETTERS, Item
from crpo.data.video import Clip
from crpo.rl.methods import METHODS
from crpo.rl.methods.common import null_letter, null_option_on, show_null_option
from crpo.rl.scoring import score_rollouts

SHARES = (0.25, 0.5)


def _completion(letter: str, answer_format: str) -> str:
    return f"<think>...</think><answer>{letter}</answer>" if answer_format == "think" else f"<answer>{letter}</answer>"


def _mix(base: str, other: str | None, share: float, g: int) -> list[str] | None:
    if other is None:
        return None
    k = round(share * g)
    return [other] * k + [base] * (g - k)


def policy_rewards(item: Item, cfg, cf_answer: str | None = None, g: int | None = None) -> dict[str, float | None]:
    """Mean reward per rollout of every policy of the module docstring on `item` under `cfg`.

    `cf_answer`: the correct answer (letter) on the counterfactual clip, for the "tracks" policy and for telling
    wrong options apart; default: the plan's own counterfactual truth (the router's). An item that gets no
    counterfactual branch is scored as the trainer scores it (2G original rollouts): then a policy's answers on the
    original clip are its only ones."""
    g = g or cfg.num_generations
    clip = Clip(np.zeros((2, 8, 8, 3), np.uint8), 2.0, np.arange(2), (8, 8), 1.0)
    plan = METHODS[cfg.algorithm].plan(0, item, clip, cfg, None, 0)
    if null_option_on(cfg):
        plan = show_null_option(plan)
    shown = plan.item
    truth = item.answer
    cf_branch = next((b for b in plan.branches if b.name == "cf"), None)
    cf_truth = cf_answer or (cf_branch.truth if cf_branch else None)
    null = null_letter(shown)
    wrong = next((x for x in LETTERS[:len(shown.options)] if x not in (truth, cf_truth, null)), None)
    policies = {"tracks": ([truth] * g, [cf_truth] * g if cf_truth else None),
                "null on cf": ([truth] * g, [null] * g if null else None),
                "wrong on cf": ([truth] * g, [wrong] * g if wrong else None),
                "shortcut": ([truth] * g, [truth] * g)}
    for share in SHARES:
        for name, other in (("null", null), ("wrong", wrong)):
            mixed = _mix(truth, other, share, g)
            policies[f"blind {share:.0%} {name}"] = (mixed, mixed)
    out = {}
    for name, (on_orig, on_cf) in policies.items():
        if on_orig is None or on_cf is None:
            out[name] = None
            continue
        texts = [_completion(a, cfg.answer_format)
                 for b in plan.branches for a in (on_cf if b.name == "cf" else on_orig)]
        out[name] = float(score_rollouts([plan], texts, g, cfg).total.nanmean())
    return out


def reward_table(columns: dict[str, tuple[Item, object]], cf_answers: dict[str, str] | None = None,
                 g: int | None = None) -> str:
    """Markdown: one row per policy, one column per (item, cfg) named by the dict's keys; `cf_answers` gives a
    column's counterfactual answer where the router does not know it."""
    results = {name: policy_rewards(item, cfg, (cf_answers or {}).get(name), g=g)
               for name, (item, cfg) in columns.items()}
    policies = list(next(iter(results.values())))
    lines = ["| policy | " + " | ".join(results) + " |", "|---|" + "---:|" * len(results)]
    for p in policies:
        cells = ["-" if results[c][p] is None else f"{results[c][p]:.2f}" for c in results]
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
