"""The rewards of CRPO and its baselines, as plain functions over lists (answers read by crpo/rl/answers.py).

    answers = [extract_answer(text, item.problem_type, item.options) for text in completions]  # crpo.rl.answers
    acc = accuracy_reward(answers, [item.answer] * G, [item.problem_type] * G)
    fmt = format_reward(completions)
    crr_orig, crr_cf = counterfactual_relation_reward(answers_orig, answers_cf, "change", cf_answer_of={"A": "B", ...})
    weights = {"accuracy": 1.0, "format": 0.5, "crr": 1.0}
    reward_orig = combine_rewards({"accuracy": acc, "format": fmt, "crr": crr_orig}, weights)  # -> group_advantages

Conventions. An answer is the normalised string `extract_answer` returns (an option letter, "yes"/"no", a number
such as "3" or "2.5", or free text) or None when nothing can be read. Accuracy is 0/1 for letters, yes/no and
numbers, continuous in [0, 1] for regression, OCR and free-form answers (Video-R1's scores, `answer_score`). A
reward is a float, or None when the rollout cannot be scored (its ground truth is unknown, e.g. the counterfactual
answer of an item the router could not decide): unscored is not wrong, and `combine_rewards` keeps the two apart.

Counterfactual Relation Reward (CRR). The paper (arXiv, May 2026) states what CRR asks -- the answer should change
under the counterfactual for dynamic questions and stay for static ones -- but does not publish a formula, so this
module defines its forms. The default (crr_mode=answer) and the literal rule (any_change) are the gated terms of
`paper_crr` at the end of this module, with `behave_reward` for the literal rule. crr_mode=mapped uses the pairwise
form below, `counterfactual_relation_reward`. Each item is rolled out G_o times on the original clip and G_c times
on the counterfactual one. A rollout's pairwise CRR is the fraction of the OTHER branch's rollouts whose answer
stands in the item's relation to its own:

    same:   x == y
    change: x != y, and cf_answer_of[x] == y when the router knows which answer the transform maps x to
            (option_map); x != y is kept even then because a map may have fixed points ("not moving" under
            hflip) and a constant answer on a fixed point would otherwise earn CRR on a dynamic item
    an unreadable answer (None) on either side never stands in any relation.

Why this form: it is a Monte-Carlo estimate of the probability that a counterfactual twin of the rollout agrees
with it in the predicted way, it is dense (in [0, 1], not a 0/1 pair verdict) and symmetric across branches, and it
needs no ground truth, so it also covers items whose counterfactual answer is unknown but whose relation is known.
A policy that answers from a static shortcut has the same answer distribution p on both branches: deterministic,
it earns CRR 0 on every dynamic item; sampling, it earns only what its noise pairs up (in expectation the sum of
p(x) p(map(x)) over x with map(x) != x, or 1 - sum_x p(x)^2 without a map) whatever the video shows, and it pays
for that noise in accuracy. On static items a policy earns CRR by being consistent, which is what they ask.
Ungated, "consistently wrong" (answering B on both branches of a static item whose answer is A) still earns CRR.
The `correct_orig` / `correct_cf` gates remove that: a gated rollout earns CRR only when it is itself correct. When
the counterfactual answer map is known, every partner that stands in relation to a correct rollout is correct too,
so gated CRR then rewards pairs that are right on both branches (a dense form of the strict pair accuracy).

T-GRPO (Video-R1, arXiv 2503.21776) is the temporal baseline: `tgrpo_bonus` follows its released code.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from crpo.data.items import PROBLEM_TYPES
from crpo.rl.answer_metrics import free_form_score, mean_relative_accuracy, ocr_score, relative_accuracy
from crpo.rl.answers import normalize_answer

# ---------------------------------------------------------------------------------------------------------------
# Accuracy and format (accuracy as Video-R1 scores its problem types: crpo/rl/answer_metrics.py)

REGRESSION_SCORES = ("mra", "relative")


def answer_score(predicted: str | None, truth: str | None, problem_type: str,
                 regression: str = "mra") -> float | None:
    """Accuracy of one extracted answer against the item's raw answer `truth`, in [0, 1]; None when `truth` is None
    (unknown ground truth: unscored, not wrong). An unreadable prediction (None) scores 0.0.

      multiple_choice, yes_no: 1.0 when the normalised answers are equal, else 0.0
      numerical:  1.0 when round(y_hat, 2) == round(y, 2) (Video-R1 grpo.py @ d7399617, "numerical"), else 0.0
      regression: `mean_relative_accuracy` (regression="mra", the issue's choice and Video-R1's evaluation) or
                  `relative_accuracy` (regression="relative", Video-R1's training reward)
      ocr:        `ocr_score`, 1 - word error rate clamped to [0, 1] (grpo.py @ d7399617, "OCR")
      free_form:  `free_form_score`, the mean of ROUGE-1/2/L F1 clamped to [0, 1] (grpo.py @ d7399617, "free-form")

    Not reproduced from Video-R1: its numerical reward first scores 0 when exactly one of the two strings holds a
    "." or "," ("3.0" for 3, "1000" for "1,000"); extraction here reads the value, not the spelling, and scores by it.
    """
    if truth is None:
        return None
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(f"unknown problem_type '{problem_type}' (expected one of {', '.join(PROBLEM_TYPES)})")
    if regression not in REGRESSION_SCORES:
        raise ValueError(f"unknown regression score '{regression}' (expected one of {', '.join(REGRESSION_SCORES)})")
    if predicted is None:
        return 0.0
    if problem_type == "free_form":
        return free_form_score(predicted, truth)
    if problem_type == "ocr":
        return ocr_score(predicted, truth)
    if problem_type in ("numerical", "regression"):
        y_hat, y = float(predicted), float(truth.replace(",", ""))
        if problem_type == "numerical":
            return float(round(y_hat, 2) == round(y, 2))
        return mean_relative_accuracy(y_hat, y) if regression == "mra" else relative_accuracy(y_hat, y)
    return float(predicted == normalize_answer(truth, problem_type))


def accuracy_reward(predicted: Sequence[str | None], truth: Sequence[str | None], problem_type: str | Sequence[str],
                    regression: str = "mra") -> list[float | None]:
    """Per-rollout accuracy (see `answer_score`): lists aligned one entry per rollout; a single `problem_type`
    string applies to all of them (the G rollouts of one item), a list gives one per rollout (TRL-style columns)."""
    kinds = [problem_type] * len(predicted) if isinstance(problem_type, str) else problem_type
    if not len(predicted) == len(truth) == len(kinds):
        raise ValueError(f"accuracy_reward: {len(predicted)} answers, {len(truth)} truths, {len(kinds)} problem types")
    return [answer_score(p, t, k, regression) for p, t, k in zip(predicted, truth, kinds)]


# Blocks whose content holds no tag (no nesting, no repeats), a non-empty answer, nothing else but whitespace.
_NO_TAG = r"(?:(?!</?think>|</?answer>).)"
_ANSWER_ONLY = rf"\s*<answer>{_NO_TAG}*\S{_NO_TAG}*</answer>\s*"
TEMPLATES = {"think": re.compile(rf"\s*<think>{_NO_TAG}*</think>{_ANSWER_ONLY}", re.DOTALL),
             "answer": re.compile(_ANSWER_ONLY, re.DOTALL)}


def format_reward(completions: Sequence[str], answer_format: str = "think") -> list[float]:
    """1.0 when a completion is exactly the template, else 0.0. Templates (whitespace allowed around and between
    the blocks, the answer non-empty): "think" = `<think>...</think><answer>...</answer>`, "answer" =
    `<answer>...</answer>` alone (for models too small to reason first)."""
    if answer_format not in TEMPLATES:
        raise ValueError(f"unknown answer_format '{answer_format}' (expected one of {', '.join(TEMPLATES)})")
    return [float(TEMPLATES[answer_format].fullmatch(text) is not None) for text in completions]


# ---------------------------------------------------------------------------------------------------------------
# Counterfactual Relation Reward (definition and rationale in the module docstring)

RELATIONS = ("change", "same", "unknown")
PARTIAL_TYPES = ("free_form", "ocr", "regression")  # scored in [0, 1], not by equality


def counterfactual_relation_reward(
    orig: Sequence[str | None],
    cf: Sequence[str | None],
    relation: str,
    cf_answer_of: Mapping[str, str] | None = None,
    correct_orig: Sequence[bool] | None = None,
    correct_cf: Sequence[bool] | None = None,
    problem_type: str = "multiple_choice",
) -> tuple[list[float | None], list[float | None]]:
    """Pairwise CRR (crr_mode=mapped) of the rollouts of one item on both branches.

    orig, cf: extracted answers of the original-branch and counterfactual-branch rollouts (lengths may differ).
    relation: "change" | "same" | "unknown"; "unknown" leaves every rollout unscored (None).
    cf_answer_of: original answer -> expected counterfactual answer (the router's option map); read for "change",
        where a rollout pair must then both differ and follow the map.
    correct_orig, correct_cf: optional gates, one bool per rollout of that branch (e.g. accuracy == 1.0); a gated
        rollout that is not correct earns 0. Each branch is gated independently, so a branch whose truth is
        unknown can stay ungated.
    problem_type: two answers of a partial-score type (free_form, ocr, regression) are the same answer when their
        own score (ROUGE, WER, MRA) is at least 0.5, so a paraphrase is no change; other types compare exactly.
    Returns (orig_rewards, cf_rewards), each in [0, 1].
    """
    if relation not in RELATIONS:
        raise ValueError(f"unknown relation '{relation}' (expected one of {', '.join(RELATIONS)})")
    if relation == "unknown":
        return [None] * len(orig), [None] * len(cf)
    if not orig or not cf:
        raise ValueError(f"CRR needs rollouts on both branches, got {len(orig)} original and {len(cf)} counterfactual")

    def equal(x: str, y: str) -> bool:
        if problem_type in PARTIAL_TYPES:
            return answer_score(y, x, problem_type) >= 0.5
        return x == y

    def related(x: str | None, y: str | None) -> bool:
        if x is None or y is None:
            return False
        if relation == "same":
            return equal(x, y)
        return not equal(x, y) and (cf_answer_of is None or cf_answer_of.get(x) == y)

    orig_rewards = [sum(related(x, y) for y in cf) / len(cf) for x in orig]
    cf_rewards = [sum(related(x, y) for x in orig) / len(orig) for y in cf]
    for rewards, gate in ((orig_rewards, correct_orig), (cf_rewards, correct_cf)):
        if gate is not None:
            if len(gate) != len(rewards):
                raise ValueError(f"CRR gate has {len(gate)} entries for {len(rewards)} rollouts")
            rewards[:] = [r if ok else 0.0 for r, ok in zip(rewards, gate)]
    return orig_rewards, cf_rewards


# ---------------------------------------------------------------------------------------------------------------
# T-GRPO (Video-R1) and the weighted sum

def tgrpo_bonus(acc_ordered: Sequence[float | None], acc_shuffled: Sequence[float | None], mu: float = 0.8,
                alpha: float = 0.3) -> list[float]:
    """Video-R1's temporal bonus for the rollouts of one item on ordered frames, given the accuracy of its rollouts
    on shuffled frames: alpha for every ordered rollout with accuracy > 0.1 when
    mean(acc_ordered) >= mu * mean(acc_shuffled), else 0.

    Follows tulerfeng/Video-R1 @59d65c3, src/r1-v/src/open_r1/trainer/grpo_trainer.py (lines 611-622):
        if acc_mean >= 0.8 * shuffled_acc_mean:
            mask = temporal_rewards_per_func[:, 0] > 0.1
            temporal_rewards_per_func[mask, 0] = temporal_rewards_per_func[mask, 0] + 0.3
    i.e. a non-strict >=, plain means over all rollouts (there an unreadable answer scores 0.0 and counts, as our
    accuracy_reward does), and "correct" read as accuracy > 0.1 so partial (ROUGE) accuracies qualify. Video-R1 uses
    G/2 shuffled rollouts. Unscored (None) rollouts are left out of the means and get no bonus; an item with no
    scored rollout on either side gets none.
    """
    ordered = [a for a in acc_ordered if a is not None]
    shuffled = [a for a in acc_shuffled if a is not None]
    if not ordered or not shuffled:
        return [0.0] * len(acc_ordered)
    if sum(ordered) / len(ordered) >= mu * (sum(shuffled) / len(shuffled)):
        return [alpha if a is not None and a > 0.1 else 0.0 for a in acc_ordered]
    return [0.0] * len(acc_ordered)


def combine_rewards(components: Mapping[str, Sequence[float | None]], weights: Mapping[str, float]) -> list[float]:
    """Weighted sum of reward components per rollout; None (unscored) components are skipped, not counted as 0.

    A rollout with no scored component of non-zero weight gets NaN, which `crpo.rl.algorithms.group_advantages` leaves out of its
    group's baseline and gives advantage 0 (TRL's GRPOTrainer does the same). Skipping is unbiased within a group
    because a component is unscored for a whole item (its ground truth or relation is unknown), so every rollout
    of the group misses the same terms and the group-relative advantage is unchanged by the omission.
    """
    missing = [name for name in components if name not in weights]
    if missing:
        raise ValueError(f"combine_rewards: no weight for component(s) {', '.join(missing)}")
    lengths = {name: len(values) for name, values in components.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"combine_rewards: components differ in length {lengths}")
    n = next(iter(lengths.values()), 0)
    out = []
    for i in range(n):
        # A zero-weight term is not part of the reward: it must not turn an unscored rollout into a scored 0.
        scored = [weights[name] * values[i] for name, values in components.items()
                  if values[i] is not None and weights[name] != 0]
        out.append(sum(scored) if scored else math.nan)
    return out


# ---------------------------------------------------------------------------------------------------------------
# The paper's gated CRPO terms (crr_mode answer and any_change) and ArrowRL's reverse reward

AGGREGATES = ("mean", "majority")


def behave_reward(cf: Sequence[str | None], relation: str, truth: str | None, problem_type: str = "multiple_choice",
                  regression: str = "mra") -> list[float | None]:
    """R_behave of crr_mode=any_change (the paper read literally; also crr_mode=answer's items under
    crr_unmapped=change whose counterfactual answer the text does not tell) for the counterfactual rollouts of one
    item:

        change (dynamic): 1 - score(y_j, truth)   any readable answer other than the original's correct one
        same   (static):  score(y_j, truth)       the answer must survive the transform

    score is `answer_score` (exact match for letters, yes/no and numbers; ROUGE, MRA or WER for the partial
    types, so a paraphrase of the original answer is no change); an unreadable answer (None) never behaves.
    `truth` is the item's raw original answer; None (unknown) or relation "unknown" leaves every rollout unscored.
    No counterfactual answer is needed, which is also its flaw: "None of the above" and every wrong option earn
    what the right change earns (crr_mode=answer scores against the counterfactual answer instead).
    """
    if relation not in RELATIONS:
        raise ValueError(f"unknown relation '{relation}' (expected one of {', '.join(RELATIONS)})")
    if relation == "unknown" or truth is None:
        return [None] * len(cf)
    scores = [answer_score(y, truth, problem_type, regression) for y in cf]
    if relation == "change":
        return [0.0 if y is None else 1.0 - s for y, s in zip(cf, scores)]
    return scores


def _aggregate(values: Sequence[float | None], how: str) -> float | None:
    scored = [v for v in values if v is not None]
    if not scored:
        return None
    mean = sum(scored) / len(scored)
    return mean if how == "mean" else float(mean > 0.5)


def paper_crr(acc_orig: Sequence[float | None], behave_cf: Sequence[float | None], aggregate: str = "mean"
              ) -> tuple[list[float | None], list[float | None]]:
    """The two gated Counterfactual Relation Rewards of one item (the paper states them in words only):

        R_CRR^orig_i = acc_i * agg_j(behave_j)    do the counterfactual rollouts behave as expected,
                                                  gated on original rollout i being correct
        R_CRR^aug_j  = behave_j * agg_i(acc_i)    are the original rollouts correct, gated on counterfactual
                                                  rollout j behaving as expected

    agg = "mean" (the rate; a Monte-Carlo estimate of the chance that a twin rollout stands in the relation) or
    "majority" (1 when more than half do). Binary accuracies make acc_i the gate; partial ones (ROUGE, MRA) weight
    it. A gate whose value is None (truth unknown) is not applied: the term is then the aggregate alone. The
    aggregate is a constant within a branch, so under per-branch std normalisation these terms scale the branch's
    own reward and vanish: crpo groups both branches of an item together (see crpo/rl/algorithms.py).
    """
    if aggregate not in AGGREGATES:
        raise ValueError(f"unknown crr aggregate '{aggregate}' (expected one of {', '.join(AGGREGATES)})")
    behave_rate, acc_rate = _aggregate(behave_cf, aggregate), _aggregate(acc_orig, aggregate)

    def gated(gate, rate):
        if rate is None:
            return None
        return rate if gate is None else gate * rate

    return [gated(a, behave_rate) for a in acc_orig], [gated(b, acc_rate) for b in behave_cf]


def arrow_reverse_reward(forward: Sequence[str | None], reverse: Sequence[str | None], truth: str | None,
                         alpha: float = 0.25, gamma: float = 0.75) -> list[float]:
    """ArrowRL's reverse reward (Xue, Luo, Grauman, NeurIPS 2025) for the forward rollouts of one item:

        r_rev_i = alpha * (1 - sim(o_i, o_rev)),   sim = share of the reversed-video rollouts whose answer equals o_i

    so a forward answer the reversed video would also give earns nothing. The term is dropped (0 for every
    rollout) when the reversed-video answers already match the target more often than gamma: the question does not
    depend on the arrow of time. For discrete answers exact match is the similarity (ArrowRL compares free text
    with a judge; on letters that reduces to equality). An unreadable forward answer earns nothing.
    """
    if not reverse:
        return [0.0] * len(forward)
    if truth is not None and sum(y == truth for y in reverse) / len(reverse) > gamma:
        return [0.0] * len(forward)
    return [0.0 if x is None else alpha * (1.0 - sum(x == y for y in reverse) / len(reverse)) for x in forward]
