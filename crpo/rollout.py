"""Rollouts: which branches each item gets, and all of their completions from one batched `generate` call.

Every algorithm generates the same number of completions per item (2G), so comparisons are at equal budget:

    grpo          original x 2G, one group of 2G
    grpo_cf_aug   original x G + counterfactual x G, each scored against its own ground truth, no CRR
    crpo          original x G + counterfactual x G, plus the Counterfactual Relation Reward across them
    tgrpo         original x G + shuffled frames x G; shuffled rollouts only decide the T-GRPO bonus

An item whose relation under its transform is unknown trains on the original branch only (2G), and is counted.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from crpo.counterfactual import counterfactual
from crpo.data import Item
from crpo.prompts import question_text
from crpo.router import choose_transform, option_map, relation
from crpo.sampling import rollout_seed, seeded_sampling
from crpo.video import Clip

ALGORITHMS = ("grpo", "grpo_cf_aug", "crpo", "tgrpo")


@dataclass
class Branch:
    """One (item, clip) prompt that is rolled out G times."""
    item_index: int          # position of the item in the step's local batch
    item: Item
    name: str                # "orig" | "cf" | "shuffled"
    clip: Clip
    truth: str | None        # ground truth on this clip; None = accuracy unscored
    in_loss: bool = True     # shuffled T-GRPO rollouts only inform the bonus


@dataclass
class ItemPlan:
    """The branches of one item and how its rewards relate them."""
    item: Item
    branches: list[Branch]
    relation: str | None = None              # "change" | "same" for CRR; None when CRR does not apply
    cf_answer_of: dict | None = None         # router's option map, for the mapped CRR
    notes: list[str] = field(default_factory=list)


def plan_item(item_index: int, item: Item, clip: Clip, algorithm: str, transform_choice: str, seed: int) -> ItemPlan:
    orig = Branch(item_index, item, "orig", clip, item.answer)
    if algorithm == "grpo":
        return ItemPlan(item, [orig, Branch(item_index, item, "orig", clip, item.answer)])
    if algorithm == "tgrpo":
        shuffled = counterfactual(clip, "shuffle", seed=seed)
        return ItemPlan(item, [orig, Branch(item_index, item, "shuffled", shuffled, item.answer, in_loss=False)])
    transform = choose_transform(item) if transform_choice == "auto" else transform_choice
    rel, cf_truth = relation(item, transform) if transform else ("unknown", None)
    if rel == "unknown":
        plan = ItemPlan(item, [orig, Branch(item_index, item, "orig", clip, item.answer)])
        plan.notes.append("unknown_relation")
        return plan
    cf = Branch(item_index, item, "cf", counterfactual(clip, transform), cf_truth)
    if algorithm == "grpo_cf_aug":
        return ItemPlan(item, [orig, cf])
    return ItemPlan(item, [orig, cf], relation=rel, cf_answer_of=option_map(item, transform))


@dataclass
class Rollouts:
    """Completions of every branch; row r belongs to branches[r // G]."""
    branches: list[Branch]
    inputs: dict                      # processor outputs, one row per completion
    completion_ids: torch.Tensor      # [R, T]
    completion_mask: torch.Tensor     # [R, T]
    texts: list[str]
    num_generations: int


def generate_rollouts(adapter, plans: list[ItemPlan], cfg, step: int, item_offsets: list[int]) -> Rollouts:
    """One processor call per branch, rows repeated G times, one batched generate for everything.

    `item_offsets[i]` is the global index of local item i in the step's batch: it seeds the rollouts, so they do
    not depend on how the batch is split over processes.
    """
    from crpo.batching import take_rows

    g = cfg.num_generations
    branches = [b for plan in plans for b in plan.branches]
    prompts = [adapter.prompt(question_text(b.item, cfg.answer_format)) for b in branches]
    inputs = adapter.encode(prompts, [b.clip for b in branches], max_prompt_length=cfg.max_prompt_length or None,
                            ids=[b.item.id for b in branches])
    inputs = take_rows(inputs, [i for i in range(len(branches)) for _ in range(g)])
    seeds, per_item_count = [], {}
    for b in branches:
        k = per_item_count.get(b.item_index, 0)
        seeds += [rollout_seed(cfg.seed, step, item_offsets[b.item_index], k * g + j) for j in range(g)]
        per_item_count[b.item_index] = k + 1
    sampling = {} if cfg.temperature == 0 else {"logits_processor": seeded_sampling(seeds, cfg.temperature, cfg.top_p)}
    ids, mask, texts = adapter.generate(inputs, max_new_tokens=cfg.max_new_tokens, do_sample=False, **sampling)
    return Rollouts(branches, inputs, ids, mask, texts, g)
