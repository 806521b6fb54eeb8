"""Checks that need a GPU (none is on the CI machine): run them where one is lent, and record the output.

    .venv/bin/python benchmarks/gpu_checks.py

1. Sampling noise: crpo.training.sampling's counter-based noise bits are integer arithmetic, so the GPU's must equal the
   CPU's exactly; the Gumbel noise built from them may differ only by the device's log (<= 1e-6), and the
   sampled token (the argmax) must not differ.
"""
import torch

from crpo.training.sampling import GumbelSampler, rollout_seed, uniform_bits


def sampling_noise_matches_the_cpu():
    seeds = torch.tensor([rollout_seed(0, 1, i, 0) for i in range(8)])
    bits_equal = torch.equal(uniform_bits(seeds.cuda(), 4, 5000).cpu(), uniform_bits(seeds, 4, 5000))
    scores = torch.randn(8, 5000)
    cpu = GumbelSampler(seeds.tolist())(None, scores.clone())
    gpu = GumbelSampler(seeds.tolist())(None, scores.cuda()).cpu()
    print(f"noise bits equal: {bits_equal}; max |gumbel gpu - cpu| {(gpu - cpu).abs().max().item():.2e}; "
          f"same samples: {torch.equal(gpu.argmax(-1), cpu.argmax(-1))}")
    return bits_equal and (gpu - cpu).abs().max().item() <= 1e-6 and torch.equal(gpu.argmax(-1), cpu.argmax(-1))


if __name__ == "__main__":
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: these checks need a GPU")
    ok = sampling_noise_matches_the_cpu()
    raise SystemExit(0 if ok else 1)
