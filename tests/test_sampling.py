
import numpy as np
import pytest
import torch

from crpo.training.sampling import M32, GumbelSampler, mix32, mul32, rollout_seed, seeded_sampling, uniform_bits


def test_rows_do_not_depend_on_the_batch_they_are_in():
    scores = torch.randn(4, 50)
    seeds = [rollout_seed(0, 1, i, 0) for i in range(4)]
    full = GumbelSampler(seeds)(None, scores.clone()).argmax(-1)
    half = GumbelSampler(seeds[2:])(None, scores[2:].clone()).argmax(-1)
    assert torch.equal(full[2:], half)


def test_gumbel_max_samples_the_softmax():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    counts = torch.zeros(4)
    for s in range(4000):
        counts[GumbelSampler([s])(None, logits.clone()).argmax()] += 1
    freq = counts / counts.sum()
    assert torch.allclose(freq, logits.softmax(-1)[0], atol=0.03)


def test_temperature_and_top_p_restrict_to_the_nucleus():
    logits = torch.tensor([[5.0, 4.9, -5.0, -6.0]])
    procs = seeded_sampling([rollout_seed(1, 0, 0, k) for k in range(1)], temperature=0.7, top_p=0.5)
    picks = {int(seeded_sampling([s], temperature=0.7, top_p=0.9)(None, logits.clone()).argmax()) for s in range(200)}
    assert picks == {0, 1}
    assert len(procs) == 3


def test_seeds_are_distinct_and_stable():
    seeds = {rollout_seed(0, s, i, r) for s in range(5) for i in range(5) for r in range(5)}
    assert len(seeds) == 125 and all(0 <= x < 2**63 for x in seeds)
    assert rollout_seed(7, 3, 2, 1) == rollout_seed(7, 3, 2, 1)



# --- the counter-based noise: integer hashing on the logits' device, keyed by (seed, position, vocabulary index)

def reference_bits(seed: int, position: int, index: int) -> int:
    """uniform_bits for one entry in plain Python integers (arbitrary precision: no overflow to get wrong)."""
    hi, lo = seed >> 32, seed & M32
    p = mix32((position & M32) ^ 0xC2B2AE35)
    k1 = mix32(mix32(lo ^ mix32(hi ^ 0x9E3779B9)) ^ p)
    k2 = mix32(mix32(hi ^ mix32(lo ^ 0x85EBCA6B)) ^ mix32(p ^ 0x27D4EB2F))
    return mix32(mix32(index ^ k1) ^ k2)


def test_mul32_is_multiplication_mod_2_32_without_overflow():
    rng = np.random.default_rng(0)
    xs = [0, 1, M32, *rng.integers(0, 2**32, 200, dtype=np.uint64).tolist()]
    for c in (0x7FEB352D, 0x846CA68B, M32):
        got = mul32(torch.tensor(xs, dtype=torch.int64), c).tolist()
        assert got == [(x * c) % 2**32 for x in xs]


def test_noise_bits_are_the_python_integer_hash_for_any_seed():
    seeds = [0, 1, 2**32 - 1, 2**32, 2**63 - 1, rollout_seed(3, 7, 11, 5)]
    bits = uniform_bits(torch.tensor(seeds), position=9, vocab=300)
    assert bits.dtype == torch.int64 and bits.min() >= 0 and bits.max() < 2**32
    for r, s in enumerate(seeds):
        for v in (0, 1, 2, 137, 299):
            assert int(bits[r, v]) == reference_bits(s, 9, v)
    assert len(set(bits[0].tolist())) == 300  # index -> bits is a bijection per row and position


def test_noise_follows_the_decoding_position_not_the_prompt_width():
    seeds = [rollout_seed(0, 2, i, 1) for i in range(3)]
    scores = torch.zeros(3, 64)
    narrow = GumbelSampler(seeds, prompt_length=10)(torch.zeros(3, 10 + 4, dtype=torch.long), scores.clone())
    wide = GumbelSampler(seeds, prompt_length=25)(torch.zeros(3, 25 + 4, dtype=torch.long), scores.clone())
    assert torch.equal(narrow, wide)  # 4 tokens generated in both batches
    later = GumbelSampler(seeds, prompt_length=10)(torch.zeros(3, 10 + 5, dtype=torch.long), scores.clone())
    assert not torch.equal(narrow, later)  # the next position draws new noise
    with pytest.raises(ValueError, match="3 rows of logits but 2 seeds"):
        GumbelSampler(seeds[:2])(None, scores)


def test_noise_bits_are_uniform_and_unrelated_across_index_position_and_seed():
    seeds = torch.tensor([rollout_seed(1, 0, i, 0) for i in range(64)])
    u = (uniform_bits(seeds, 0, 4096).double() + 0.5) / 2**32
    counts = torch.histc(u.float(), bins=64, min=0, max=1)
    expected = u.numel() / 64
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 120  # 63 degrees of freedom: p < 1e-5 above ~115
    later = (uniform_bits(seeds, 1, 4096).double() + 0.5) / 2**32
    n = u.numel()
    for a, b in [(u[:, :-1], u[:, 1:]), (u[:-1], u[1:]), (u, later)]:  # next index, next seed, next position
        corr = np.corrcoef(a.flatten().numpy(), b.flatten().numpy())[0, 1]
        assert abs(corr) < 5 / n ** 0.5


def test_gumbel_max_samples_the_softmax_along_one_rollout():
    """One seed, consecutive decoding positions (what one completion draws): frequencies match the softmax."""
    logits = torch.tensor([[1.5, 1.0, 0.0, -0.5, -3.0]])
    sampler = GumbelSampler([rollout_seed(0, 0, 0, 0)])
    counts = torch.zeros(5)
    for t in range(4000):
        counts[sampler(torch.zeros(1, t, dtype=torch.long), logits.clone()).argmax()] += 1
    assert torch.allclose(counts / counts.sum(), logits.softmax(-1)[0], atol=0.025)
