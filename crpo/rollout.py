"""Rollouts: all completions of every branch of the step's items, from one batched `generate` call.

Which branches an item gets is its algorithm's choice (crpo/methods/); this module only turns branches into
prompts, seeds every rollout from (run seed, step, global item position, rollout index) so that samples do not
depend on the batch split, the process count or a resume, and generates.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from crpo.methods.common import Branch, ItemPlan
from crpo.prompts import question_text
from crpo.sampling import rollout_seed, seeded_sampling


@dataclass
class Rollouts:
    """Completions of every branch; row r belongs to branches[r // G]."""
    branches: list[Branch]
    inputs: dict                      # processor outputs, one row per completion
    completion_ids: torch.Tensor      # [R, T]
    completion_mask: torch.Tensor     # [R, T]
    texts: list[str]
    num_generations: int


def generate_rollouts(adapter, plans: list[ItemPlan], cfg, step: int, item_offsets: list[int],
                      generate_kwargs: dict | None = None) -> Rollouts:
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
    ids, mask, texts = adapter.generate(inputs, max_new_tokens=cfg.max_new_tokens, do_sample=False, **sampling,
                                        **(generate_kwargs or {}))
    return Rollouts(branches, inputs, ids, mask, texts, g)
