"""Sampling that is reproducible per rollout, whatever batch, process, device or chunk the rollout lands in.

Each completion row gets its own seed (from run seed, step, item and rollout index). At every decoding step the
row's logits are tempered and nucleus-filtered with transformers' own warpers, then Gumbel noise is added and the
argmax taken: the Gumbel-max trick, an exact sample from softmax(logits / T) restricted to the nucleus.

The noise is a counter-based generator: the uniform of (row seed, decoding position, vocabulary index) is a hash of
those three integers, computed with int64 tensor ops on the logits' device, for all rows at once. Nothing is drawn
from a stateful RNG, so a row's samples depend on its seed and position only: a batch split over 2 processes, a
run resumed after a crash, rows generated in chunks (`generation_batch_size`) or a prompt left-padded to a wider
batch all draw the same completions. The integer hash is bit-identical on every device; only the float transform
(two logs in float64, rounded to float32) is left to the device's math library, whose last-bit differences can
change a sample only through a near-exact tie in the argmax.
"""
from __future__ import annotations

import torch
from transformers import LogitsProcessor, LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

M32 = 0xFFFF_FFFF


def rollout_seed(seed: int, step: int, item_index: int, rollout: int) -> int:
    """A 63-bit seed for one completion; distinct inputs give unrelated streams."""
    x = (seed * 1_000_003 + step) * 1_000_033 + item_index
    x = (x * 1_000_037 + rollout) & 0x7FFF_FFFF_FFFF_FFFF
    # splitmix64 finaliser: neighbouring (step, item, rollout) triples must not give correlated generators.
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFF_FFFF_FFFF_FFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFF_FFFF_FFFF_FFFF
    return (x ^ (x >> 31)) & 0x7FFF_FFFF_FFFF_FFFF


def mul32(x, c: int):
    """x * c mod 2^32 for x in [0, 2^32) (a Python int or an int64 tensor) and a 32-bit constant c.

    c is split into 16-bit halves so that no intermediate exceeds 2^49: int64 products never overflow, so the result
    does not rest on wrap-around semantics (which torch does not promise on every backend), and every value stays
    non-negative, so `>>` is a logical shift.
    """
    return (x * (c & 0xFFFF) + (((x * (c >> 16)) & 0xFFFF) << 16)) & M32


def mix32(x):
    """lowbias32 (C. Wellons): a bijection of [0, 2^32) with full avalanche; ints and int64 tensors alike."""
    x = x ^ (x >> 16)
    x = mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def noise_keys(seeds: torch.Tensor, position: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two 32-bit keys per row [R] for one decoding position, from the rows' 63-bit seeds.

    Both halves of the seed feed both keys, and the position is mixed before it meets them, so neighbouring seeds
    or positions give unrelated keys; two keys (64 bits) per row make a repeated noise vector a 2^-64 event.
    """
    hi, lo = seeds >> 32, seeds & M32  # seeds are non-negative (63 bits): hi < 2^31
    p = mix32((position & M32) ^ 0xC2B2AE35)
    k1 = mix32(mix32(lo ^ mix32(hi ^ 0x9E3779B9)) ^ p)
    k2 = mix32(mix32(hi ^ mix32(lo ^ 0x85EBCA6B)) ^ mix32(p ^ 0x27D4EB2F))
    return k1, k2


def uniform_bits(seeds: torch.Tensor, position: int, vocab: int) -> torch.Tensor:
    """32 random bits per (row, vocabulary index) [R, V] int64: a keyed hash of the index, keys from noise_keys.

    For one row and position, index -> bits is a bijection (two rounds of mix32, each keyed by xor), so a row's
    values never collide; the second key makes rows with related first keys unrelated.
    """
    k1, k2 = noise_keys(seeds, position)
    index = torch.arange(vocab, device=seeds.device, dtype=torch.int64)
    return mix32(mix32(index[None, :] ^ k1[:, None]) ^ k2[:, None])


def gumbel_noise(seeds: torch.Tensor, position: int, vocab: int) -> torch.Tensor:
    """Standard Gumbel noise [R, V] float32 for rows with `seeds` at one decoding position, on the seeds' device.

    u = (bits + 1/2) / 2^32 lies strictly inside (0, 1), so both logs are finite; the largest noise is about 22.9,
    which a draw exceeds with probability 1e-10 (an argmax it would change is rarer still).
    """
    u = (uniform_bits(seeds, position, vocab).double() + 0.5) * 2.0 ** -32
    return (-torch.log(-torch.log(u))).float()


class GumbelSampler(LogitsProcessor):
    """Adds per-row Gumbel noise; use with greedy decoding (`do_sample=False`) to sample reproducibly.

    `prompt_length` is the width of the (left-padded) prompts of the batch this sampler decodes: the decoding
    position is input_ids.shape[1] - prompt_length, the number of tokens generated so far, whatever the padding.
    Called without input_ids (tests), the position is 0.
    """

    def __init__(self, seeds: list[int], prompt_length: int = 0):
        self.seeds = torch.tensor(list(seeds), dtype=torch.int64)
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if scores.shape[0] != len(self.seeds):
            raise ValueError(f"GumbelSampler: {scores.shape[0]} rows of logits but {len(self.seeds)} seeds")
        position = 0 if input_ids is None else input_ids.shape[1] - self.prompt_length
        if self.seeds.device != scores.device:  # once per generate call: the seeds follow the logits
            self.seeds = self.seeds.to(scores.device)
        return scores.float() + gumbel_noise(self.seeds, position, scores.shape[-1])


def seeded_sampling(seeds: list[int], temperature: float = 1.0, top_p: float = 1.0,
                    prompt_length: int = 0) -> LogitsProcessorList:
    """Logits processors for `generate(..., do_sample=False, logits_processor=...)` that sample per-row seeded;
    `prompt_length`: the width of the prompts (input_ids.shape[1]) passed to that generate call."""
    processors = []
    if temperature != 1.0:
        processors.append(TemperatureLogitsWarper(temperature))
    if top_p < 1.0:
        processors.append(TopPLogitsWarper(top_p))
    processors.append(GumbelSampler(seeds, prompt_length))
    return LogitsProcessorList(processors)
