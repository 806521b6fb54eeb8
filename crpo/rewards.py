"""Answer extraction and the rewards of CRPO and its baselines, as plain functions over lists.

    answers = [extract_answer(text, item.problem_type, item.options) for text in completions]
    acc = accuracy_reward(answers, [item.answer] * G, [item.problem_type] * G)
    fmt = format_reward(completions)
    crr_orig, crr_cf = counterfactual_relation_reward(answers_orig, answers_cf, "change", cf_answer_of={"A": "B", ...})
    weights = {"accuracy": 1.0, "format": 0.5, "crr": 1.0}
    reward_orig = combine_rewards({"accuracy": acc, "format": fmt, "crr": crr_orig}, weights)  # -> group_advantages

Conventions. An answer is the normalised string `extract_answer` returns (an option letter, "yes"/"no", a number
such as "3" or "2.5", or normalised free text) or None when nothing can be read. A reward is a float, or None when
the rollout cannot be scored (its ground truth is unknown, e.g. the counterfactual answer of an item the router
could not decide): unscored is not wrong, and `combine_rewards` keeps the two apart.

Counterfactual Relation Reward (CRR). The paper (arXiv, May 2026) states what CRR asks -- the answer should change
under the counterfactual for dynamic questions and stay for static ones -- but does not publish a formula, so this
module defines one. Each item is rolled out G_o times on the original clip and G_c times on the counterfactual one.
A rollout's CRR is the fraction of the OTHER branch's rollouts whose answer stands in the item's relation to its own:

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

from crpo.data import LETTERS, PROBLEM_TYPES

# ---------------------------------------------------------------------------------------------------------------
# Answer extraction

_ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_OPEN_THINK = re.compile(r"<think>.*", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"</?(?:think|answer)>", re.IGNORECASE)

# The whole answer is one letter: "B", "b", "(B)", "B.", "B)", "B:".
_BARE_LETTER = re.compile(r"\(?([A-Za-z])\)?[.):]?")
# Letters explicitly marked as a choice inside longer text. Upper case only: "a" and "I" are English words.
_MARKED_LETTER = re.compile(
    r"(?i:answer|option|choice)\s*(?:is\s*)?[:\-]?\s*\(?([A-Z])(?![\w])"  # "Answer: B", "the answer is (B"
    r"|\(([A-Z])\)"                                                      # "(B)"
    r"|(?<![\w(])([A-Z])[.):](?![\w])"                                   # "B.", "B)", "B:" ("U.S." does not match U)
)
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
# Integers, decimals and 1,000-style groups; "2-3" reads 2 and 3, "3rd" reads nothing.
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?!\w)")
_NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                      "ninety": 90, "hundred": 100})
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)


def normalize_text(text: str) -> str:
    """SQuAD-style normalisation: lower case, punctuation to spaces, articles dropped, whitespace collapsed."""
    text = re.sub(r"[^0-9a-z]+", " ", text.lower())
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


def format_number(value: float) -> str:
    """Canonical text of a number: "3" for 3.0, "2.5" for 2.50 (shortest round-trip form)."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:  # a 400-digit answer parses to inf
        return str(int(value))
    return repr(value)


def _answer_span(text: str) -> str:
    # The last closed <answer> block is authoritative (models sometimes draft one inside <think>). Without one, read
    # what is left once thoughts are removed -- closed <think> blocks and an unclosed one up to the end, since a
    # completion truncated mid-thought has committed to nothing -- and stray tags ("<answer>B" cut before its end).
    blocks = _ANSWER_BLOCK.findall(text)
    if blocks:
        return blocks[-1]
    return _TAG.sub(" ", _OPEN_THINK.sub(" ", _THINK_BLOCK.sub(" ", text)))


def _choice(span: str, options: Sequence[str]) -> str | None:
    letters = LETTERS[: len(options)]
    bare = _BARE_LETTER.fullmatch(span.strip())
    if bare:
        letter = bare.group(1).upper()
        return letter if letter in letters else None
    marked = {next(g for g in m.groups() if g) for m in _MARKED_LETTER.finditer(span)}
    padded = f" {normalize_text(span)} "
    by_text = {letters[i] for i, option in enumerate(options)
               if normalize_text(option) and f" {normalize_text(option)} " in padded}
    if len(marked) > 1:
        return None  # "(A) or (B)": two letters, no verdict
    if marked:
        letter = marked.pop()
        # "(B) left" where "left" is option A contradicts itself: refuse rather than pick one.
        return letter if letter in letters and (not by_text or letter in by_text) else None
    exact = [letters[i] for i, option in enumerate(options) if normalize_text(option) == padded.strip()]
    if exact:
        return exact[0] if len(exact) == 1 else None
    return by_text.pop() if len(by_text) == 1 else None


def _number(span: str) -> str | None:
    values = {float(m.replace(",", "")) for m in _NUMBER.findall(span)}
    values |= {float(_NUMBER_WORDS[w.lower()]) for w in _NUMBER_WORD.findall(span)}
    return format_number(values.pop()) if len(values) == 1 else None


def extract_answer(text: str, problem_type: str, options: Sequence[str] | None = None) -> str | None:
    """The answer a completion commits to, normalised for comparison, or None when it cannot be read unambiguously.

    Reads the last `<answer>...</answer>` block, else the text outside `<think>` blocks, then by problem type:
      multiple_choice: an option letter valid for `options` ("B", "(B)", "B.", "Answer: B", or the text of
        exactly one option); two different letters, or a letter contradicted by the option text, give None;
      yes_no: "yes" or "no" when exactly one of the two words occurs;
      numerical: the canonical text of the only number present ("3", "2.5", "1000"; "three" counts);
      free_form: `normalize_text` of the span (None when empty).
    """
    if problem_type not in PROBLEM_TYPES:
        raise ValueError(f"unknown problem_type '{problem_type}' (expected one of {', '.join(PROBLEM_TYPES)})")
    span = _answer_span(text)
    if problem_type == "multiple_choice":
        if not options:
            raise ValueError("extract_answer: a multiple_choice question needs its options")
        return _choice(span, options)
    if problem_type == "yes_no":
        words = {w.lower() for w in _YES_NO.findall(span)}
        return words.pop() if len(words) == 1 else None
    if problem_type == "numerical":
        return _number(span)
    return normalize_text(span) or None


# ---------------------------------------------------------------------------------------------------------------
# Accuracy and format

def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 between two normalised texts, over whitespace tokens (longest common subsequence)."""
    p, r = prediction.split(), reference.split()
    if not p or not r:
        return 0.0
    prev = [0] * (len(r) + 1)
    for a in p:
        cur = [0]
        for j, b in enumerate(r):
            cur.append(prev[j] + 1 if a == b else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def answer_score(predicted: str | None, truth: str | None, problem_type: str, rel_tol: float = 1e-6,
                 rouge: bool = False) -> float | None:
    """Accuracy of one extracted answer: 1.0 or 0.0 (ROUGE-L in [0, 1] for free text with `rouge`); None when
    `truth` is None (unknown ground truth).

    `truth` is the item's raw answer (a letter, yes/no, a number, free text); it is normalised here.
    An unreadable prediction (None) is wrong, not unscored.
    """
    if truth is None:
        return None
    if predicted is None:
        return 0.0
    if problem_type == "multiple_choice":
        return float(predicted == truth.strip().upper())
    if problem_type == "yes_no":
        return float(predicted == truth.strip().lower())
    if problem_type == "numerical":
        return float(math.isclose(float(predicted), float(truth), rel_tol=rel_tol, abs_tol=1e-9))
    if problem_type == "free_form":
        reference = normalize_text(truth)
        return rouge_l(predicted, reference) if rouge else float(predicted == reference)
    raise ValueError(f"unknown problem_type '{problem_type}' (expected one of {', '.join(PROBLEM_TYPES)})")


def accuracy_reward(predicted: Sequence[str | None], truth: Sequence[str | None], problem_type: str | Sequence[str],
                    rel_tol: float = 1e-6, rouge: bool = False) -> list[float | None]:
    """Per-rollout accuracy (see `answer_score`): lists aligned one entry per rollout; a single `problem_type`
    string applies to all of them (the G rollouts of one item), a list gives one per rollout (TRL-style columns)."""
    kinds = [problem_type] * len(predicted) if isinstance(problem_type, str) else problem_type
    if not len(predicted) == len(truth) == len(kinds):
        raise ValueError(f"accuracy_reward: {len(predicted)} answers, {len(truth)} truths, {len(kinds)} problem types")
    return [answer_score(p, t, k, rel_tol, rouge) for p, t, k in zip(predicted, truth, kinds)]


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


def counterfactual_relation_reward(
    orig: Sequence[str | None],
    cf: Sequence[str | None],
    relation: str,
    cf_answer_of: Mapping[str, str] | None = None,
    correct_orig: Sequence[bool] | None = None,
    correct_cf: Sequence[bool] | None = None,
) -> tuple[list[float | None], list[float | None]]:
    """CRR of the rollouts of one item on both branches.

    orig, cf: extracted answers of the original-branch and counterfactual-branch rollouts (lengths may differ).
    relation: "change" | "same" | "unknown"; "unknown" leaves every rollout unscored (None).
    cf_answer_of: original answer -> expected counterfactual answer (the router's option map); read for "change",
        where a rollout pair must then both differ and follow the map.
    correct_orig, correct_cf: optional gates, one bool per rollout of that branch (e.g. accuracy == 1.0); a gated
        rollout that is not correct earns 0. Each branch is gated independently, so a branch whose truth is
        unknown can stay ungated.
    Returns (orig_rewards, cf_rewards), each in [0, 1].
    """
    if relation not in RELATIONS:
        raise ValueError(f"unknown relation '{relation}' (expected one of {', '.join(RELATIONS)})")
    if relation == "unknown":
        return [None] * len(orig), [None] * len(cf)
    if not orig or not cf:
        raise ValueError(f"CRR needs rollouts on both branches, got {len(orig)} original and {len(cf)} counterfactual")

    def related(x: str | None, y: str | None) -> bool:
        if x is None or y is None:
            return False
        if relation == "same":
            return x == y
        return x != y and (cf_answer_of is None or cf_answer_of.get(x) == y)

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

    A rollout with no scored component at all gets NaN, which `crpo.algorithms.group_advantages` leaves out of its
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
        scored = [weights[name] * values[i] for name, values in components.items() if values[i] is not None]
        out.append(sum(scored) if scored else math.nan)
    return out
