"""Sampling that is reproducible per rollout, whatever batch or process the rollout lands in.

Each completion row gets its own seed (from run seed, step, item and rollout index). At every decoding step
the row's logits are tempered and nucleus-filtered with transformers' own warpers, then Gumbel noise drawn from
the row's private generator is added and the argmax taken: the Gumbel-max trick, an exact sample from
softmax(logits / T) restricted to the nucleus. Because no row touches a shared RNG, a batch split over 2
processes, or a run resumed after a crash, draws the same completions as one uninterrupted process.
"""
from __future__ import annotations

import torch
from transformers import LogitsProcessor, LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper


def rollout_seed(seed: int, step: int, item_index: int, rollout: int) -> int:
    """A 63-bit seed for one completion; distinct inputs give unrelated streams."""
    x = (seed * 1_000_003 + step) * 1_000_033 + item_index
    x = (x * 1_000_037 + rollout) & 0x7FFF_FFFF_FFFF_FFFF
    # splitmix64 finaliser: neighbouring (step, item, rollout) triples must not give correlated generators.
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFF_FFFF_FFFF_FFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFF_FFFF_FFFF_FFFF
    return (x ^ (x >> 31)) & 0x7FFF_FFFF_FFFF_FFFF


class GumbelSampler(LogitsProcessor):
    """Adds per-row Gumbel noise; use with greedy decoding (`do_sample=False`) to sample reproducibly."""

    def __init__(self, seeds: list[int]):
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        vocab = scores.shape[-1]
        # Noise is drawn on the CPU (one generator per row) so it is identical on every device and process.
        u = torch.stack([torch.rand(vocab, generator=g, dtype=torch.float64) for g in self.generators])
        gumbel = -torch.log(-torch.log(u.clamp_min(1e-300)))
        return scores.float() + gumbel.to(scores.device, torch.float32)


def seeded_sampling(seeds: list[int], temperature: float = 1.0, top_p: float = 1.0) -> LogitsProcessorList:
    """Logits processors for `generate(..., do_sample=False, logits_processor=...)` that sample per-row seeded."""
    processors = []
    if temperature != 1.0:
        processors.append(TemperatureLogitsWarper(temperature))
    if top_p < 1.0:
        processors.append(TopPLogitsWarper(top_p))
    processors.append(GumbelSampler(seeds))
    return LogitsProcessorList(processors)
