"""Rollouts: all completions of every branch of the step's items, generated in chunks of rows.

Which branches an item gets is its algorithm's choice (crpo/rl/methods/); this module only turns branches into
prompts, seeds every rollout from (run seed, step, global item position, rollout index) so that samples do not
depend on the batch split, the process count, a resume or the chunk size (`generation_batch_size`), and
generates. The G rows of a branch share its clip: stored once (crpo.models.batching.share_videos) and encoded once by the
vision tower per step; later passes reuse those features where the vision weights are the same.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from crpo.data.prompts import question_text
from crpo.rl.methods.common import Branch, ItemPlan
from crpo.training.sampling import rollout_seed, seeded_sampling


@dataclass
class Rollouts:
    """Completions of every branch; row r belongs to branches[r // G]."""
    branches: list[Branch]
    inputs: dict                      # shared-video processor outputs: a row per completion, a video per clip
    completion_ids: torch.Tensor      # [R, T]
    completion_mask: torch.Tensor     # [R, T]
    texts: list[str]
    num_generations: int
    video_features: object = None     # the policy's vision output per video, encoded once at generation
    vision_frozen: bool = True        # then video_features hold for the reference and policy passes too
    sampler_logprobs: torch.Tensor | None = None  # [R, T] the vLLM engine's log-prob of each sampled token

    def frozen_features(self):
        """video_features where they stay valid all step (frozen vision tower), else None: encode in the pass."""
        return self.video_features if self.vision_frozen else None


def generate_rollouts(adapter, plans: list[ItemPlan], cfg, step: int, item_offsets: list[int],
                      generate_kwargs: dict | None = None, engine=None) -> Rollouts:
    """One processor call per branch, rows repeated G times (the clip stored and encoded once), then generation
    in chunks of `generation_batch_size` rows.

    `generate_kwargs` go to `model.generate` (e.g. synced_gpus on sharded launchers).
    `item_offsets[i]` is the global index of local item i in the step's batch: it seeds the rollouts, so they do
    not depend on how the batch is split over processes. `engine` (rollout_engine=vllm, crpo/training/vllm_engine.py)
    samples the same prompts with the same seeds instead of `adapter.generate`.
    """
    from crpo.models.adapter import vision_trainable
    from crpo.models.batching import share_videos

    g = cfg.num_generations
    branches = [b for plan in plans for b in plan.branches]
    prompts = [adapter.prompt(question_text(b.item, cfg.answer_format)) for b in branches]
    inputs = adapter.encode(prompts, [b.clip for b in branches], max_prompt_length=cfg.max_prompt_length or None,
                            ids=[b.item.id for b in branches])
    # Branches showing the same clip object (GRPO's 2 x G on the original) share one copy of it.
    first = {}
    same_clip = [first.setdefault(id(b.clip), i) for i, b in enumerate(branches)]
    inputs = share_videos(inputs, [i for i in range(len(branches)) for _ in range(g)], same_clip)
    features = adapter.video_features(inputs)
    seeds, per_item_count = [], {}
    for b in branches:
        k = per_item_count.get(b.item_index, 0)
        seeds += [rollout_seed(cfg.seed, step, item_offsets[b.item_index], k * g + j) for j in range(g)]
        per_item_count[b.item_index] = k + 1
    sampler_logp = None
    if engine is not None:
        ids, mask, texts, sampler_logp = engine.generate(prompts, [b.clip for b in branches], seeds, inputs)
    else:
        ids, mask, texts = generate_in_chunks(adapter, inputs, seeds, cfg, features, generate_kwargs)
    return Rollouts(branches, inputs, ids, mask, texts, g, features, not vision_trainable(adapter.model),
                    sampler_logprobs=sampler_logp)


def generate_in_chunks(adapter, inputs: dict, seeds: list[int], cfg, video_features=None,
                       generate_kwargs: dict | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Completions of every row of `inputs`, `cfg.generation_batch_size` rows per generate call (0: all at once),
    right-padded to one width. A row's sample depends only on its seed: its chunk's prompt width and companions do
    not enter it (crpo.training.sampling), so any chunk size gives the same rollouts."""
    from crpo.models.batching import take_rows

    rows = inputs["input_ids"].shape[0]
    size = cfg.generation_batch_size or rows
    chunks = [list(range(start, min(start + size, rows))) for start in range(0, rows, size)]
    # Sharded launchers: a process with fewer chunks (a skipped item) repeats its first one, output discarded.
    real = len(chunks)
    chunks += [chunks[0]] * (peer_chunk_count(real, generate_kwargs, inputs["input_ids"].device) - real)
    ids, masks, texts = [], [], []
    for chunk in chunks:
        part = take_rows(inputs, chunk)  # drops left padding that only other chunks' prompts need
        sampling = {} if cfg.temperature == 0 else {"logits_processor": seeded_sampling(
            [seeds[r] for r in chunk], cfg.temperature, cfg.top_p, prompt_length=part["input_ids"].shape[1])}
        out = adapter.generate(part, max_new_tokens=cfg.max_new_tokens, do_sample=False, video_features=video_features,
                               **sampling, **(generate_kwargs or {}))
        ids.append(out[0])
        masks.append(out[1])
        texts += out[2]
    ids, masks, texts = ids[:real], masks[:real], texts[:rows]
    return pad_right(ids, adapter.pad_id), pad_right(masks, 0), texts


def peer_chunk_count(chunks: int, generate_kwargs: dict | None, device) -> int:
    """The most generate calls any process makes this step, where they must all make as many.

    With `synced_gpus` (FSDP / ZeRO-3 over several processes) every forward joins collectives, and generate keeps
    a finished process stepping until its peers finish: that covers rows of different lengths within a call, not
    a process that makes fewer calls, whose peers would wait in their extra call forever.
    """
    if not (generate_kwargs or {}).get("synced_gpus") or not torch.distributed.is_initialized():
        return chunks
    count = torch.tensor([chunks], device=device)
    torch.distributed.all_reduce(count, op=torch.distributed.ReduceOp.MAX)
    return int(count)


def pad_right(parts: list[torch.Tensor], value) -> torch.Tensor:
    """[n_i, T_i] tensors stacked into [sum n_i, max T_i], each right-padded with `value` (a chunk whose rows all
    stopped early is narrower)."""
    width = max(p.shape[1] for p in parts)
    return torch.cat([torch.nn.functional.pad(p, (0, width - p.shape[1]), value=value) for p in parts])
