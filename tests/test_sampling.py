
import torch

from crpo.sampling import GumbelSampler, rollout_seed, seeded_sampling


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

