"""Rollout engines side by side: vLLM vs HF generate, completion tokens per second and trainer step time.

    .venv-vllm/bin/python benchmarks/rollout_engine.py [--max-new-tokens 64] [--steps 2] [--large-layers 24]

In one run, for the tiny Qwen3-VL (`crpo model tiny`) and for a random-weight Qwen3-VL of >= 300M parameters (the
tiny one's tokenizer, processor and vision tower, its text model scaled up to width 1024 x --large-layers layers,
randomly initialised and saved locally; nothing is downloaded): the same prompts, 2 branches (the clip and its
reverse) x G = 8 rollouts of a shared real clip (shared/data/videos/bikes.mp4, 16 frames), the same per-rollout
seeds, sampled at temperature 1 by `VideoLM.generate` (crpo's HF path: seeded Gumbel sampling, one batched call)
and by the vLLM engine (crpo/training/vllm_engine.py). Tokens per second = completion tokens / wall seconds of the
generate call, median of --repeats after one warm-up each. Then `crpo train` on one item of that clip (2 branches
x G = 8, --steps steps, full fine-tuning) with rollout_engine=hf and =vllm: the median seconds per step and
generation seconds per step from metrics.jsonl (engine start excluded: it is not part of a step).

Every measurement runs in a child process of its own (`--worker`): a process holds one vLLM engine, and the model
sizes must not share memory. A random model rarely emits an end-of-turn token, so rows decode the full length on
both sides. Target on CPU: vLLM >= 3x HF tokens/s on the large model.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "bikes.mp4"
NUM_FRAMES, G, MAX_PIXELS = 16, 8, 64 * 64
QUESTION = "In which direction are the cyclists moving?"


def build_large_model(out: Path, layers: int) -> int:
    """A random Qwen3-VL with the tiny model's tokenizer/processor and a 1024-wide text model; returns its size."""
    import torch
    from transformers import AutoModelForImageTextToText, GenerationConfig

    from crpo.models.tiny import build_processor, build_tokenizer, tiny_config
    tokenizer = build_tokenizer()
    processor = build_processor("qwen3_vl", tokenizer)
    config = tiny_config("qwen3_vl", tokenizer)
    text = config.text_config
    text.hidden_size, text.intermediate_size, text.num_hidden_layers = 1024, 3072, layers
    text.num_attention_heads, text.num_key_value_heads, text.head_dim = 16, 8, 64
    text.rope_parameters = {"rope_type": "default", "rope_theta": 500000.0, "mrope_section": [16, 8, 8],
                            "mrope_interleaved": True}
    config.vision_config.out_hidden_size = 1024
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    eos = [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=tokenizer.pad_token_id,
                                               bos_token_id=None, do_sample=False)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return sum(p.numel() for p in model.parameters())


def worker_generate(model_dir: str, engine: str, max_new_tokens: int, repeats: int) -> dict:
    """Completion tokens/s of one engine on 2 branches x G rollouts of the clip (run in its own process)."""
    from crpo.data.counterfactual import counterfactual
    from crpo.data.video import load_clip
    from crpo.models import VideoLM
    from crpo.training.config import TrainConfig
    from crpo.training.rollout import generate_in_chunks
    from crpo.training.sampling import rollout_seed

    cfg = TrainConfig(model=model_dir, rollout_engine=engine, num_generations=G, max_new_tokens=max_new_tokens,
                      temperature=1.0, vllm_kv_cache_gb=1.0, vllm_max_model_len=4096)
    adapter = VideoLM.load(model_dir)
    clip = load_clip(str(CLIP), num_frames=NUM_FRAMES, max_pixels=MAX_PIXELS)
    clips = [clip, counterfactual(clip, "reverse")]
    prompts = [adapter.prompt(QUESTION)] * 2
    inputs = adapter.repeat(adapter.encode(prompts, clips), G)
    t0 = time.perf_counter()
    vllm = None
    if engine == "vllm":
        from crpo.training.vllm_engine import VLLMEngine
        vllm = VLLMEngine(adapter, cfg)
    start_s = time.perf_counter() - t0
    times, tokens = [], 0
    for rep in range(repeats + 1):  # the first is a warm-up
        seeds = [rollout_seed(0, rep, b, j) for b in range(2) for j in range(G)]
        t0 = time.perf_counter()
        if vllm is not None:
            ids, mask, _, _ = vllm.generate(prompts, clips, seeds, inputs, sync=False)
        else:
            ids, mask, _ = generate_in_chunks(adapter, inputs, seeds, cfg)
        if rep:
            times.append(time.perf_counter() - t0)
            tokens = int(mask.sum())
    seconds = statistics.median(times)
    out = {"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds, "engine_start_s": start_s}
    if vllm is not None:  # what one weight sync costs (the trainer pays it once per step)
        t0 = time.perf_counter()
        vllm.sync_weights()
        out["sync_s"] = time.perf_counter() - t0
    return out


def train_step_seconds(model_dir: str, engine: str, data: Path, steps: int, max_new_tokens: int, out: Path) -> dict:
    bin_dir = Path(sys.executable).parent
    args = [str(bin_dir / "crpo"), "train", f"model={model_dir}", f"train_data={data}", f"output_dir={out}",
            f"max_steps={steps}", "prompts_per_step=1", f"num_generations={G}", f"num_frames={NUM_FRAMES}",
            f"max_pixels={MAX_PIXELS}", f"max_new_tokens={max_new_tokens}", "report_to=none", "freeze_vision=true",
            "log_completions_steps=0", f"rollout_engine={engine}", "vllm_kv_cache_gb=1.0", "vllm_max_model_len=4096",
            "algorithm=crpo", "counterfactual=reverse", "learning_rate=1e-6"]
    proc = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if proc.returncode:
        raise SystemExit(f"crpo train ({engine}) failed:\n{proc.stderr[-3000:]}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    keys = [k for k in rows[0] if "gen" in k and "second" in k]
    return {"step_s": statistics.median(r["seconds"] for r in rows),
            "gen_s": statistics.median(r[keys[0]] for r in rows) if keys else float("nan")}


def run_worker(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if proc.returncode:
        raise SystemExit(f"worker {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=2, help="trainer steps per engine (0 = skip the trainer timing)")
    p.add_argument("--large-layers", type=int, default=24)
    p.add_argument("--worker", nargs=4, metavar=("MODEL", "ENGINE", "MAX_NEW_TOKENS", "REPEATS"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        model, engine, n, repeats = a.worker
        print(json.dumps(worker_generate(model, engine, int(n), int(repeats))))
        return 0
    if not CLIP.exists():
        raise SystemExit(f"{CLIP}: the shared real clip is missing")
    from crpo.models.tiny import build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models = {"tiny": tmp / "tiny"}
        build_tiny_model("qwen3_vl", models["tiny"], seed=0)
        models["large"] = tmp / "large"
        size = build_large_model(models["large"], a.large_layers)
        data = tmp / "train.jsonl"
        data.write_text(json.dumps({"id": "bikes", "video": str(CLIP), "question": QUESTION,
                                    "options": ["left", "right"], "answer": "A", "problem_type": "multiple_choice",
                                    "category": "moving_direction"}) + "\n")
        print(f"clip {CLIP.name}, {NUM_FRAMES} frames, 2 branches x G={G}, {a.max_new_tokens} new tokens, "
              f"temperature 1; large model {size / 1e6:.0f}M parameters")
        print(f"{'model':6} {'engine':6} {'tokens':>7} {'gen s':>7} {'tok/s':>8} {'start s':>8} {'sync s':>7} "
              f"{'step s':>7} {'step gen s':>10}")
        for name, path in models.items():
            results = {}
            for engine in ("hf", "vllm"):
                r = run_worker([str(path), engine, str(a.max_new_tokens), str(a.repeats)])
                if a.steps:
                    r.update(train_step_seconds(str(path), engine, data, a.steps, a.max_new_tokens,
                                                tmp / f"run-{name}-{engine}"))
                results[engine] = r
                print(f"{name:6} {engine:6} {r['tokens']:>7} {r['seconds']:>7.2f} {r['tokens_per_s']:>8.1f} "
                      f"{r['engine_start_s']:>8.1f} {r.get('sync_s', float('nan')):>7.2f} "
                      f"{r.get('step_s', float('nan')):>7.2f} {r.get('gen_s', float('nan')):>10.2f}", flush=True)
            ratio = results["vllm"]["tokens_per_s"] / results["hf"]["tokens_per_s"]
            line = f"{name}: vLLM / HF tokens per second = {ratio:.2f}x"
            if a.steps:
                line += f"; trainer step hf / vllm = {results['hf']['step_s'] / results['vllm']['step_s']:.2f}x"
            print(line + (" (target >= 3x)" if name == "large" else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
