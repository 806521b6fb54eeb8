"""Where a trainer step's memory goes: one CRPO loss pass of a random 306M Qwen3-VL, measured part by part.

    .venv/bin/python benchmarks/step_memory.py [--max-new-tokens 256] [--large-layers 24]

The batch is a trainer step's: 2 branches (bikes.mp4 and its reversal, 16 frames) x G = 8 rows, each the prompt
plus --max-new-tokens completion tokens (random ids: memory does not depend on which), one micro-batch, the vision
tower frozen, full fine-tuning with AdamW, beta 0 (no reference model). Each variant runs in a child process of its
own, and the process's resident set is read at each point (VmHWM reset through /proc/self/clear_refs, so every
peak is that part's own):

    loaded      the policy's weights (and the processor, torch, Python)
    forward     the loss pass's forward: activations kept for backward + the logits + the log-prob graph
    backward    the gradient pass: the forward's saved tensors + the logits' gradient + weight gradients
    adamw       the first optimizer step: AdamW's two moment buffers appear (2 x 4 bytes x trainable parameters)

Variants: `plain` computes log-probs with the autograd graph crpo used before (tempered copy, suppressed copy,
per-row log-softmax: several [B, T, V] tensors alive in backward); `ours` with crpo.models.logprobs.token_logprobs
(what the trainer runs); `+gc` adds gradient checkpointing (the user's lever: activations are recomputed per
layer in backward). Printed with the analytic sizes: weights, gradients, AdamW state, one fp32 logits copy.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from rollout_engine import CLIP, G, MAX_PIXELS, NUM_FRAMES, QUESTION, build_large_model  # noqa: E402

GIB = 2 ** 30
VARIANTS = ("plain", "ours", "plain+gc", "ours+gc")


def reset_peak() -> None:
    """VmHWM := the current resident set (crpo.training.step_profile's reset); Linux only."""
    from crpo.training.step_profile import reset_peak_rss
    if not reset_peak_rss():
        raise SystemExit("needs Linux (/proc/self/clear_refs)")


def peak() -> float:
    """The resident set's peak since the last reset, GiB."""
    from crpo.training.step_profile import peak_rss_bytes
    return peak_rss_bytes() / GIB


def plain_token_logprobs(logits, ids, temperature=1.0, suppress=None):
    """The graph crpo used before crpo.models.logprobs (benchmark-only, for the comparison)."""
    import torch
    logits = logits[:, :-1]
    if temperature not in (0, 1):
        logits = logits / temperature
    if suppress:
        logits = logits.index_fill(-1, torch.tensor(suppress, device=logits.device), float("-inf"))
    rows = [row.float().gather(-1, r_ids[:, None]).squeeze(-1) - row.float().logsumexp(-1)
            for row, r_ids in zip(logits, ids)]
    return torch.stack(rows)


def worker(model_dir: str, variant: str, new_tokens: int) -> dict:
    import torch

    from crpo.data.counterfactual import counterfactual
    from crpo.data.video import load_clip
    from crpo.models import VideoLM
    from crpo.models import adapter as adapter_module
    from crpo.models.batching import share_videos

    torch.manual_seed(0)
    if variant.startswith("plain"):
        adapter_module.token_logprobs = plain_token_logprobs
    lm = VideoLM.load(model_dir)
    model = lm.model
    for p in model.model.visual.parameters():
        p.requires_grad_(False)
    if variant.endswith("+gc"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    clip = load_clip(str(CLIP), num_frames=NUM_FRAMES, max_pixels=MAX_PIXELS)
    inputs = lm.encode([lm.prompt(QUESTION)] * 2, [clip, counterfactual(clip, "reverse")])
    inputs = share_videos(inputs, [i for i in range(2) for _ in range(G)], [0, 1])
    features = lm.video_features(inputs)
    vocab = model.config.text_config.vocab_size
    ids = torch.randint(vocab // 4, vocab // 2, (2 * G, new_tokens))  # ordinary text tokens
    mask = torch.ones_like(ids)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-6)
    out = {"prompt_tokens": int(inputs["input_ids"].shape[1]), "vocab": vocab,
           "params": sum(p.numel() for p in model.parameters()), "trainable": sum(p.numel() for p in trainable)}
    model.train()
    reset_peak()
    out["loaded"] = peak()  # right after a reset the peak is the current resident set
    reset_peak()
    t0 = time.perf_counter()
    logp = lm.logprobs(inputs, ids, mask, temperature=1.0, video_features=features)
    out["forward"], out["forward_s"] = peak(), time.perf_counter() - t0
    reset_peak()
    t0 = time.perf_counter()
    (-(logp * mask).sum() / mask.sum()).backward()
    out["backward"], out["backward_s"] = peak(), time.perf_counter() - t0
    del logp
    reset_peak()
    optimizer.step()
    out["adamw"] = peak()
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--large-layers", type=int, default=24)
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=["plain", "ours", "ours+gc"])
    p.add_argument("--vocab", type=int, help="embedding rows (default the tiny tokenizer's 1,540; Qwen3-VL's "
                                             "checkpoints have 151,936: where the logits' copies count)")
    p.add_argument("--model-dir", type=Path, help="keep the built model here (reused when present)")
    p.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        print(json.dumps(worker(a.worker[0], a.worker[1], int(a.worker[2]))))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = (a.model_dir or Path(tmp)) / (f"large{a.large_layers}" + (f"-vocab{a.vocab}" if a.vocab else ""))
        if not (path / "config.json").exists():
            build_large_model(path, a.large_layers, a.vocab)
        rows = {}
        for variant in a.variants:
            proc = subprocess.run([sys.executable, __file__, "--worker", str(path), variant, str(a.max_new_tokens)],
                                  capture_output=True, text=True)
            if proc.returncode:
                from rollout_engine import child_failure
                print(f"{variant}: {child_failure(proc.returncode, proc.stderr)}", flush=True)
                continue
            rows[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    if not rows:
        return 1
    r = next(iter(rows.values()))
    rows_n, cols = 2 * G, a.max_new_tokens + 1
    logits = rows_n * cols * r["vocab"] * 4 / GIB
    print(f"{r['params'] / 1e6:.0f}M parameters ({r['trainable'] / 1e6:.0f}M trainable), {rows_n} rows x "
          f"({r['prompt_tokens']} prompt + {a.max_new_tokens} completion tokens), vocabulary {r['vocab']}")
    print(f"analytic: weights {r['params'] * 4 / GIB:.2f} GiB, gradients {r['trainable'] * 4 / GIB:.2f}, "
          f"AdamW state {r['trainable'] * 8 / GIB:.2f}, one fp32 logits copy [{rows_n}, {cols}, {r['vocab']}] "
          f"{logits:.2f} GiB")
    print(f"{'variant':8} {'loaded':>7} {'forward':>8} {'backward':>9} {'adamw':>7} {'fwd s':>6} {'bwd s':>6}  "
          "(GiB resident: each part's own peak)")
    for variant, r in rows.items():
        print(f"{variant:8} {r['loaded']:>7.2f} {r['forward']:>8.2f} {r['backward']:>9.2f} {r['adamw']:>7.2f} "
              f"{r['forward_s']:>6.1f} {r['backward_s']:>6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
