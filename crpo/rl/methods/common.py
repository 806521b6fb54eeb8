"""What every algorithm shares: branches and plans, the null option, the counterfactual choice, reading answers.

An algorithm (one module per algorithm in this package) is two functions:

    plan(item_index, item, clip, cfg, cached, seed) -> ItemPlan        which branches an item is rolled out on
    score(plan, texts, cfg) -> ItemScores                                 reward terms by name, groups, in_loss

Rows of an item are its branches' rollouts in branch order: row b * G + j is rollout j of branch b.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from crpo.data.counterfactual import counterfactual
from crpo.data.items import LETTERS, Item
from crpo.data.video import Clip
from crpo.rl import rewards
from crpo.rl.answers import extract_answer, normalize_text
from crpo.routing.classes import Target, counterfactual_target

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
    target: Target | None = None         # how the router read the counterfactual (None: no such branch)


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
            normalize_text(o) == normalize_text(NULL_OPTION) for o in item.options):
        return item
    return replace(item, options=[*item.options, NULL_OPTION])


def original_twice(item_index: int, item: Item, clip: Clip, note: str | None = None) -> ItemPlan:
    """2G rollouts on the original clip (GRPO, and any item without a usable counterfactual)."""
    plan = ItemPlan(item, [Branch(item_index, item, "orig", clip, item.answer),
                           Branch(item_index, item, "orig", clip, item.answer)])
    if note:
        plan.notes.append(note)
    return plan


def null_letter(item: Item) -> str | None:
    """The letter of "None of the above" when `item` shows it (the last option), else None."""
    if item.problem_type != "multiple_choice" or not item.options:
        return None
    last = item.options[-1]
    return LETTERS[len(item.options) - 1] if normalize_text(last) == normalize_text(NULL_OPTION) \
        else None


# Why an item has no counterfactual branch (Target.skip) -> the note the trainer counts (crpo/training/train_log.py COUNTERS).
SKIP_NOTES = {"unknown_class": "no_counterfactual", "no_answer": "no_cf_answer", "llm_conflict": "llm_conflict"}


def counterfactual_plan(item_index: int, item: Item, clip: Clip, cfg, cached=None, needs_answer: bool = False
                        ) -> ItemPlan:
    """Original + counterfactual branch, or `original_twice` noted with why there is none.

    The router reads the branch from the text (crpo/routing/classes.py `counterfactual_target`). Its truth is the
    counterfactual answer the text tells: the rules' answer, or the null option's letter where the transformed
    answer is none of the options and the null option is shown (`null_option_on`). With `needs_answer`, an item
    whose counterfactual answer the text does not tell gets no counterfactual branch (noted "no_cf_answer")."""
    null = null_option_on(cfg) or null_letter(item) is not None  # shown by us, or among the item's own options
    target = counterfactual_target(item, cfg.counterfactual, cached, needs_answer, null_option=null)
    if target.skip:
        return original_twice(item_index, item, clip, SKIP_NOTES[target.skip])
    shown = with_null_option(item) if null else item
    truth = null_letter(shown) if target.unlisted else target.answer
    if needs_answer and truth is None:
        return original_twice(item_index, item, clip, "no_cf_answer")
    return ItemPlan(item, [Branch(item_index, item, "orig", clip, item.answer),
                           Branch(item_index, item, "cf", counterfactual(clip, target.transform), truth)],
                    relation=target.relation, cf_answer_of=target.option_map, target=target)


def read(plan: ItemPlan, texts: list[str], cfg) -> tuple[list[str | None], list[float | None], list[float]]:
    """Answers, accuracy against each branch's truth and format reward of every row of the item."""
    g = len(texts) // len(plan.branches)
    answers, accuracy, fmt = [], [], []
    for b, branch in enumerate(plan.branches):
        chunk = texts[b * g:(b + 1) * g]
        got = [extract_answer(t, branch.item.problem_type, branch.item.options) for t in chunk]
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
