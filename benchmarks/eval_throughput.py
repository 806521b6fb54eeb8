"""Evaluation throughput: batched greedy inference vs one item at a time, side by side in one run.

    .venv/bin/python benchmarks/eval_throughput.py [--items 64] [--batch-size 8] [--max-new-tokens 16] [--repeats 3]

Builds a tiny random Qwen3-VL (`crpo model tiny`) and a synthetic bench of --items items (`crpo synth`) in a
temporary directory, loads every clip once, then times `crpo.bench.evaluate.predict` (prompt, processor, greedy
generate, answer extraction: everything `crpo eval` does per batch) over the same items with batches of
--batch-size and with batches of 1. Clip decoding is excluded from both sides (clips are decoded before timing); the
model is loaded once and warmed up on both paths. The two contenders alternate within every repeat and medians are
compared, so load from other processes hits both alike. Target: batched / one-at-a-time items per second >= 3.

A random model rarely emits an end-of-turn token, so every row decodes --max-new-tokens tokens on both sides; where
one does stop early, only the one-at-a-time side saves the rest of that row's steps, so the ratio errs low.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def timed_pass(adapter, items, clips, batch_size, max_new_tokens) -> tuple[float, list[dict]]:
    from crpo.bench.evaluate import predict

    rows = []
    t0 = time.perf_counter()
    for start in range(0, len(items), batch_size):
        rows += predict(adapter, items[start:start + batch_size], clips[start:start + batch_size], "dybench",
                        max_new_tokens)
    return time.perf_counter() - t0, rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--items", type=int, default=64, help="bench items (even: pairs of the synthetic world)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--num-frames", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: stable on a shared CPU)")
    a = p.parse_args(argv)

    import torch

    from crpo.bench.evaluate import load_item_clip
    from crpo.data.items import load_items
    from crpo.models import VideoLM
    from crpo.models.tiny import build_tiny_model
    from crpo.synth import generate

    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build_tiny_model("qwen3_vl", tmp / "model", seed=0)
        generate(out=tmp / "world", train=2, bench_pairs=a.items // 2, seed=0, num_frames=a.num_frames)
        items = load_items(tmp / "world" / "bench.jsonl")
        clips = [load_item_clip(it, tmp / "world", a.num_frames) for it in items]
        adapter = VideoLM.load(tmp / "model")

        for batch_size in (a.batch_size, 1):  # warm-up: first calls allocate buffers and fill caches
            timed_pass(adapter, items[:a.batch_size], clips[:a.batch_size], batch_size, a.max_new_tokens)
        batched, single = [], []
        for r in range(a.repeats):
            t_b, rows_b = timed_pass(adapter, items, clips, a.batch_size, a.max_new_tokens)
            t_s, rows_s = timed_pass(adapter, items, clips, 1, a.max_new_tokens)
            batched.append(len(items) / t_b)
            single.append(len(items) / t_s)
            print(f"repeat {r + 1}: batch {a.batch_size} {batched[-1]:.2f} items/s, batch 1 {single[-1]:.2f} "
                  "items/s", file=sys.stderr)

    same = sum(x["output"] == y["output"] for x, y in zip(rows_b, rows_s))
    ratio = statistics.median(batched) / statistics.median(single)
    height, width = clips[0].frames.shape[1:3]
    print(f"{len(items)} items, {a.num_frames} frames of {height}x{width}, max_new_tokens {a.max_new_tokens}, greedy, "
          f"{a.threads} thread(s), clip decoding excluded from both sides")
    print(f"batch {a.batch_size}: {statistics.median(batched):.2f} items/s (median of {a.repeats})")
    print(f"batch 1: {statistics.median(single):.2f} items/s (median of {a.repeats})")
    print(f"ratio: {ratio:.2f}x (target >= 3)")
    print(f"identical outputs, batched vs one at a time: {same}/{len(items)}")
    return 0 if ratio >= 3 else 1

if __name__ == "__main__":
    sys.exit(main())
