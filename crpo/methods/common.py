"""What every algorithm shares: branches and plans, the null option, the counterfactual choice, reading answers.

An algorithm (one module per algorithm in this package) is two functions:

    plan(item_index, item, clip, cfg, cached_class, seed) -> ItemPlan    which branches an item is rolled out on
    score(plan, texts, cfg) -> ItemScores                                 reward terms by name, groups, in_loss

Rows of an item are its branches' rollouts in branch order: row b * G + j is rollout j of branch b.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from crpo import rewards
from crpo.counterfactual import counterfactual
from crpo.data import Item
from crpo.router import choose_transform, option_map, relation
from crpo.task_class import CLASS_RELATION, CLASS_TRANSFORM, question_class, relation_class
from crpo.video import Clip

NULL_OPTION = "None of the above"


@dataclass
class Branch:
    """One (item, clip) prompt that is rolled out G times."""
    item_index: int          # position of the item in the step's local batch
    item: Item               # as the model sees it (with the null option when it is on)
    name: str                # "orig" | "cf" | "shuffled" | "reversed"
    clip: Clip
    truth: str | None        # correct answer on this clip when known (rewards or monitoring); None = unknown
    in_loss: bool = True     # T-GRPO's shuffled and ArrowRL's reversed rollouts only inform a reward


@dataclass
class ItemPlan:
    """The branches of one item and what relates them."""
    item: Item
    branches: list[Branch]
    relation: str | None = None          # "change" | "same" when a counterfactual branch exists
    cf_answer_of: dict | None = None     # router's option map, for crr_mode=mapped
    notes: list[str] = field(default_factory=list)


@dataclass
class ItemScores:
    """Per row of one item: extracted answer, monitoring accuracy (against the branch's truth when known), every
    reward term by name (None = not part of this row's reward), trained groups (lists of row indices)."""
    answers: list[str | None]
    accuracy: list[float | None]
    terms: dict[str, list[float | None]]
    groups: list[list[int]]
    in_loss: list[bool]


def null_option_on(cfg) -> bool:
    return cfg.null_option == "on" or (cfg.null_option == "auto" and cfg.algorithm == "crpo")


def with_null_option(item: Item) -> Item:
    """The item with "None of the above" as its last option (multiple choice only, never twice). The answer letter
    is unchanged: the null option is appended, so every original option keeps its letter."""
    if item.problem_type != "multiple_choice" or any(
            rewards.normalize_text(o) == rewards.normalize_text(NULL_OPTION) for o in item.options):
        return item
    return replace(item, options=[*item.options, NULL_OPTION])


def original_twice(item_index: int, item: Item, clip: Clip, note: str | None = None) -> ItemPlan:
    """2G rollouts on the original clip (GRPO, and any item without a usable counterfactual)."""
    plan = ItemPlan(item, [Branch(item_index, item, "orig", clip, item.answer),
                           Branch(item_index, item, "orig", clip, item.answer)])
    if note:
        plan.notes.append(note)
    return plan


@dataclass
class CounterfactualChoice:
    transform: str
    relation: str                 # "change" | "same"
    question_class: str | None    # None when cfg.counterfactual names the transform
    cf_truth: str | None          # the router's counterfactual answer, when it can map the answer
    cf_answer_of: dict | None     # the router's option map, when it has one


def choose_counterfactual(item: Item, cfg, cached_class: str | None, needs_answer: bool
                          ) -> CounterfactualChoice | None:
    """The item's counterfactual, or None when it cannot have one (a pure function of the text: no clip).

    The transform: `cfg.counterfactual`, or with "auto" the one of the item's question class (crpo/task_class.py:
    an LLM router's cached class first, then the lexicon). The relation: the class's ("change" or "same"). The
    counterfactual answer (the router's, when it can map the answer) is required only when `needs_answer`
    (grpo_cf_aug, and crpo with crr_mode mapped/differ); otherwise it only feeds the acc/cf metric.
    """
    if cfg.counterfactual == "auto":
        cls = question_class(item, cached_class)
        transform, rel = CLASS_TRANSFORM.get(cls), CLASS_RELATION.get(cls)
    else:
        transform, cls = cfg.counterfactual, None
        rel = relation(item, transform)[0] if "+" in transform else relation_class(item, transform)
    if transform is None or rel in (None, "unknown"):
        return None
    mapped_rel, cf_truth = relation(item, transform)
    agree = mapped_rel == rel  # the class and the lexicon disagree: no label to trust
    if needs_answer and not (agree and cf_truth is not None):
        # A label is required: the lexicon router's own pick (a reversal that changes the answer, else a mirror).
        transform = choose_transform(item) if cfg.counterfactual == "auto" else None
        if transform is None:
            return None
        (rel, cf_truth), agree = relation(item, transform), True
        if cf_truth is None:  # an annotation that says "change" without naming the answer
            return None
    return CounterfactualChoice(transform, rel, cls, cf_truth if agree else None,
                                option_map(item, transform) if agree else None)


def counterfactual_plan(item_index: int, item: Item, clip: Clip, cfg, cached_class: str | None,
                        needs_answer: bool) -> ItemPlan:
    """Original + counterfactual branch (`choose_counterfactual`), or `original_twice` noted "no_counterfactual"."""
    choice = choose_counterfactual(item, cfg, cached_class, needs_answer)
    if choice is None:
        return original_twice(item_index, item, clip, "no_counterfactual")
    return ItemPlan(item, [Branch(item_index, item, "orig", clip, item.answer),
                           Branch(item_index, item, "cf", counterfactual(clip, choice.transform), choice.cf_truth)],
                    relation=choice.relation, cf_answer_of=choice.cf_answer_of)


def read(plan: ItemPlan, texts: list[str], cfg) -> tuple[list[str | None], list[float | None], list[float]]:
    """Answers, accuracy against each branch's truth and format reward of every row of the item."""
    g = len(texts) // len(plan.branches)
    answers, accuracy, fmt = [], [], []
    for b, branch in enumerate(plan.branches):
        chunk = texts[b * g:(b + 1) * g]
        got = [rewards.extract_answer(t, branch.item.problem_type, branch.item.options) for t in chunk]
        answers += got
        accuracy += rewards.accuracy_reward(got, [branch.truth] * g, branch.item.problem_type)
        fmt += rewards.format_reward(chunk, cfg.answer_format)
    return answers, accuracy, fmt


def rows_of(plan: ItemPlan, g: int, name: str) -> list[int]:
    return [b * g + j for b, branch in enumerate(plan.branches) if branch.name == name for j in range(g)]


def trained_groups(plan: ItemPlan, g: int, cfg) -> list[list[int]]:
    """One group of 2G when both trained branches are original rollouts or grouping is joint, else one per branch."""
    trained = [b for b, branch in enumerate(plan.branches) if branch.in_loss]
    spans = [list(range(b * g, (b + 1) * g)) for b in trained]
    names = {plan.branches[b].name for b in trained}
    if len(spans) > 1 and (names == {"orig"} or cfg.advantage_grouping == "joint"):
        return [sum(spans, [])]
    return spans


def on_rows(rows: list[int], values: list, n: int) -> list:
    """A term of some rows' reward only, as one entry per row of the item: values[k] on rows[k], None elsewhere."""
    out = [None] * n
    for r, v in zip(rows, values):
        out[r] = v
    return out


def correctness_only(plan: ItemPlan, texts: list[str], cfg) -> ItemScores:
    """accuracy (against each branch's truth) + format on every row: GRPO, cf-aug, and crpo without a branch."""
    answers, acc, fmt = read(plan, texts, cfg)
    return ItemScores(answers, acc, {"accuracy": acc, "format": fmt},
                      trained_groups(plan, len(texts) // len(plan.branches), cfg), [True] * len(texts))


def show_null_option(plan: ItemPlan) -> ItemPlan:
    """Append the null option to what every branch shows the model (routing already ran on the item as given)."""
    for branch in plan.branches:
        branch.item = with_null_option(branch.item)
    plan.item = with_null_option(plan.item)
    return plan
