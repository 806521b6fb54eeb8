"""Rollout engines side by side: vLLM vs HF generate, measured interleaved inside real `crpo train` steps.

    .venv-vllm/bin/python benchmarks/rollout_engine.py [--max-new-tokens 32 256] [--repeats 3] [--models tiny large]

What runs: `crpo train` (CRPO, one item of shared/data/videos/bikes.mp4, 16 frames, 2 branches x G = 8 rollouts,
full fine-tuning, temperature 1, beta 0, one micro-batch, frozen vision tower) for a few steps, once with
rollout_engine=hf and once with =vllm, alternating engines repeat after repeat (hf vllm hf vllm ...), each run a
fresh child process. Models: the tiny Qwen3-VL (`crpo model tiny`) and a random-weight Qwen3-VL of >= 300M
parameters (the tiny one's tokenizer, processor and vision tower, its text model 1024 wide x --large-layers layers,
built and saved locally; nothing is downloaded).

What is read: metrics.jsonl, the median of every step but the first, which carries one-time costs (with one step,
that step). Tokens per second = completion tokens / the step's `time/generate` (rollouts: prompt processing, the
vision encode and decoding; the engine's weight sync is booked apart as `time/weight_sync`). The step breakdown is
the trainer's own (crpo/training/step_profile.py): data, generate, weight_sync, reward, loss (forward + backward +
AdamW), other.
Peak memory: each child's peak resident set (wait4's ru_maxrss), and per phase the trainer's own peaks (VmHWM
reset at each phase: the loss phase's peak is weights + AdamW state + activations + logits).

Why interleaved: on a shared 2-core machine HF generate's tokens/s fell by half while other jobs ran and vLLM's
barely moved, so a ratio from one run of each measures the neighbours. Each repeat prints its numbers; the summary
gives the median ratio over repeats and each engine's spread, (max - min) / median, and flags a spread above
--busy-spread (a busy machine; the tiny model's second-long steps are too short to time that closely anyway). A
child that dies from a signal is reported as such (SIGKILL on Linux is usually the kernel's out-of-memory killer).

Memory levers (the user's): --gradient-checkpointing (on by default, as in the 8B recipe) and --micro-batches
(1), printed in the header. Without checkpointing the 306M model's step at 256 new tokens holds ~16 GiB of
activations and, with the vLLM engine beside it, is killed for memory on a 24 GiB machine.
A random model rarely emits an end-of-turn token, so rows decode the full length on both engines (the completion
length is printed: an engine that stopped early would show it).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "bikes.mp4"
NUM_FRAMES, G, MAX_PIXELS = 16, 8, 64 * 64
QUESTION = "In which direction are the cyclists moving?"
PHASES = ("data", "generate", "weight_sync", "reward", "loss", "other")


def build_large_model(out: Path, layers: int, vocab: int | None = None) -> int:
    """A random Qwen3-VL with the tiny model's tokenizer/processor and a 1024-wide text model; returns its size.
    `vocab`: embedding rows (default the tiny tokenizer's 1,540; Qwen's checkpoints have 151,936, most of them
    unused by this tokenizer but computed in every softmax)."""
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
    if vocab:
        text.vocab_size = vocab
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    eos = [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=tokenizer.pad_token_id,
                                               bos_token_id=None, do_sample=False)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return sum(p.numel() for p in model.parameters())


def child_failure(returncode: int, stderr: str) -> str:
    """Why a child run failed, in one line: the signal that killed it (SIGKILL: out of memory?) or its last line."""
    if returncode < 0:
        name = signal.Signals(-returncode).name
        hint = ": out of memory? (the kernel's OOM killer sends SIGKILL)" if name == "SIGKILL" else ""
        return f"killed by {name}{hint}"
    last = [line for line in stderr.splitlines() if line.strip()]
    return f"exit {returncode}: {last[-1] if last else '(no output)'}"


def train_run(model_dir: str, engine: str, data: Path, out: Path, steps: int, a) -> dict:
    """One `crpo train` child: its metrics (medians over the steps after the first), completion tokens, tokens/s
    and peak RSS (GiB)."""
    args = [str(Path(sys.executable).parent / "crpo"), "train", f"model={model_dir}", f"train_data={data}",
            f"output_dir={out}", f"max_steps={steps}", "prompts_per_step=1", f"num_generations={G}",
            f"num_frames={NUM_FRAMES}", f"max_pixels={MAX_PIXELS}", f"max_new_tokens={a.tokens}",
            "report_to=none", "freeze_vision=true", "log_completions_steps=0", f"rollout_engine={engine}",
            "vllm_kv_cache_gb=1.0", "vllm_max_model_len=4096", "algorithm=crpo", "counterfactual=reverse",
            "learning_rate=1e-6", "temperature=1.0", f"gradient_checkpointing={str(a.gradient_checkpointing).lower()}",
            f"micro_batches={a.micro_batches}"]
    log = out.with_suffix(".stderr")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: its peak resident set
    code = proc.returncode = os.waitstatus_to_exitcode(status)  # -N: killed by signal N (reaped here, not by Popen)
    if code:
        return {"failed": child_failure(code, log.read_text())}
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rows = rows[1:] or rows  # the first step of a run carries one-time costs
    row = {k: statistics.median(r[k] for r in rows) for k, v in rows[0].items() if isinstance(v, (int, float))}
    tokens = row["completion_length"] * 2 * G
    return {"row": row, "tokens": tokens, "tokens_per_s": tokens / row["time/generate"],
            "peak_rss_gib": usage.ru_maxrss / 2 ** 20}  # KiB on Linux


def spread(values: list[float]) -> float:
    return (max(values) - min(values)) / statistics.median(values) if len(values) > 1 else 0.0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--max-new-tokens", type=int, nargs="+", default=[32, 256])
    p.add_argument("--repeats", type=int, default=3, help="runs per engine, alternating (default 3)")
    p.add_argument("--steps", type=int, default=1, help="trainer steps per run of the large model; the last is "
                   "measured (default 1: a first step's one-time costs are ~1%% of it)")
    p.add_argument("--tiny-steps", type=int, default=4, help="the same for the tiny model, whose steps take a "
                   "second or two: the median of all but the first (one-time costs) is read (default 4)")
    p.add_argument("--models", nargs="+", choices=("tiny", "large"), default=["tiny", "large"])
    p.add_argument("--large-layers", type=int, default=24)
    p.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=True,
                   help="the memory lever, on as in configs/qwen3_vl_8b.yaml (default on; off needs ~17 GiB more "
                        "for the 306M model at 256 tokens: benchmarks/step_memory.py)")
    p.add_argument("--micro-batches", type=int, default=1, help="the other memory lever (default 1)")
    p.add_argument("--busy-spread", type=float, default=0.10, help="spread flagged as noisy (0.10)")
    p.add_argument("--model-dir", type=Path, help="keep the built models here (reused when present)")
    a = p.parse_args(argv)
    if not CLIP.exists():
        raise SystemExit(f"{CLIP}: the shared real clip is missing")
    from crpo.models.tiny import build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = a.model_dir or tmp
        models = {"tiny": root / "tiny", "large": root / f"large{a.large_layers}"}
        sizes = {}
        for name in a.models:
            path = models[name]
            if not (path / "config.json").exists():
                (build_tiny_model("qwen3_vl", path, seed=0) if name == "tiny"
                 else build_large_model(path, a.large_layers))
            from transformers import AutoConfig
            text = AutoConfig.from_pretrained(path).text_config
            sizes[name] = f"{text.num_hidden_layers} layers x {text.hidden_size} wide"
        data = tmp / "train.jsonl"
        data.write_text(json.dumps({"id": "bikes", "video": str(CLIP), "question": QUESTION,
                                    "options": ["left", "right"], "answer": "A", "problem_type": "multiple_choice",
                                    "category": "moving_direction"}) + "\n")
        print(f"clip {CLIP.name}, {NUM_FRAMES} frames, CRPO 2 branches x G={G}, temperature 1, full fine-tuning, "
              f"gradient_checkpointing={a.gradient_checkpointing}, micro_batches={a.micro_batches}, "
              f"steps per run: tiny {a.tiny_steps}, large {a.steps} (medians of all but the first), "
              f"{a.repeats} repeats interleaved; load average at start {os.getloadavg()[0]:.2f}", flush=True)
        head = (f"{'model':6} {'new':>4} {'rep':>3} {'engine':6} {'len':>5} {'tok/s':>7} {'step s':>7} "
                + " ".join(f"{ph[:8]:>8}" for ph in PHASES) + f" {'peak GiB':>8}")
        for name in a.models:
            for tokens in a.max_new_tokens:
                a.tokens = tokens
                print(f"\n{name} ({sizes[name]}), {tokens} new tokens\n{head}", flush=True)
                runs = {"hf": [], "vllm": []}
                for rep in range(a.repeats):
                    for engine in ("hf", "vllm"):
                        r = train_run(str(models[name]), engine, data, tmp / f"{name}-{tokens}-{engine}-{rep}",
                                      a.tiny_steps if name == "tiny" else a.steps, a)
                        runs[engine].append(r)
                        if "failed" in r:
                            print(f"{name:6} {tokens:>4} {rep:>3} {engine:6} FAILED: {r['failed']}", flush=True)
                            continue
                        row = r["row"]
                        peak = r["peak_rss_gib"]
                        print(f"{name:6} {tokens:>4} {rep:>3} {engine:6} {row['completion_length']:>5.0f} "
                              f"{r['tokens_per_s']:>7.1f} {row['seconds']:>7.1f} "
                              + " ".join(f"{row[f'time/{ph}']:>8.2f}" for ph in PHASES) + f" {peak:>8.1f}",
                              flush=True)
                summarise(runs, a.busy_spread)
    return 0


def summarise(runs: dict, busy: float) -> None:
    ok = [i for i in range(len(runs["hf"])) if "failed" not in runs["hf"][i] and "failed" not in runs["vllm"][i]]
    if not ok:
        print("no repeat completed on both engines")
        return
    tok = {e: [runs[e][i]["tokens_per_s"] for i in ok] for e in runs}
    step = {e: [runs[e][i]["row"]["seconds"] for i in ok] for e in runs}
    ratio = [v / h for h, v in zip(tok["hf"], tok["vllm"])]
    step_ratio = [h / v for h, v in zip(step["hf"], step["vllm"])]
    print(f"median tokens/s: hf {statistics.median(tok['hf']):.1f} (spread {spread(tok['hf']):.0%}), "
          f"vllm {statistics.median(tok['vllm']):.1f} (spread {spread(tok['vllm']):.0%})")
    print(f"vLLM / HF tokens per second: {statistics.median(ratio):.2f}x (repeats: "
          + ", ".join(f"{x:.2f}" for x in ratio) + f"); trainer step hf / vllm: {statistics.median(step_ratio):.2f}x"
          + " (repeats: " + ", ".join(f"{x:.2f}" for x in step_ratio) + ")")
    for e in runs:
        peaks = [runs[e][i]["peak_rss_gib"] for i in ok]
        phases = {ph: statistics.median(runs[e][i]["row"][f"time/{ph}"] for i in ok) for ph in PHASES}
        total = statistics.median(step[e])
        print(f"  {e:5} step {total:.1f} s: " + ", ".join(f"{ph} {s:.1f} s ({s / total:.0%})"
                                                          for ph, s in phases.items() if s >= 0.05)
              + f"; peak RSS {max(peaks):.1f} GiB (per phase: " + ", ".join(
                  f"{ph} {runs[e][ok[0]]['row'][f'peak_mem_gib/{ph}']:.1f}" for ph in PHASES
                  if f"peak_mem_gib/{ph}" in runs[e][ok[0]]["row"]) + ")")
    noisy = [e for e in runs if spread(tok[e]) > busy or spread(step[e]) > busy]
    if noisy:
        print(f"  NOISY: {', '.join(noisy)} spread above {busy:.0%} (tokens/s or step seconds): the machine was "
              "busy, or the steps are too short to time (the tiny model's take a second or two); rerun on an idle "
              "machine before quoting these figures")


if __name__ == "__main__":
    sys.exit(main())
