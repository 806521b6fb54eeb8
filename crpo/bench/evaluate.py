"""`crpo eval`: batched greedy inference on a benchmark, resumable, then its metrics.

    crpo eval --model runs/demo/grpo/final --bench runs/world/bench.jsonl --video-root runs/world --out runs/eval

Predictions are appended to OUT/predictions.jsonl as each batch finishes (id, raw output, extracted answer) and
flushed to disk, so a killed run loses at most the batch in flight; re-running the same command skips the ids
already there and never writes one twice. OUT/metrics.json is written at the end by the benchmark's scorer.

Under `accelerate launch --num_processes N -m crpo.cli eval ...` (or torchrun) each process evaluates a share of the
items, whole pairs kept together, into OUT/predictions.rank{K}.jsonl; the main process then merges every rank file
into predictions.jsonl and scores. Resume reads all of them, so a rerun with another process count skips what any
earlier run finished.

`crpo eval` takes frames, pixels, answer format, max_new_tokens and dtype from the training run's saved config
(RUN/config.json beside RUN/final or RUN/checkpoint-N) unless given on the command line (`run_defaults`).

With --limit N only the first N items are evaluated and scored: they are written to OUT/bench_subset.jsonl (the file
metrics.json is computed from, so `crpo score --data OUT/bench_subset.jsonl` reproduces it). An item whose twin lies
beyond the limit keeps its place in the item metrics but loses its pair_id, so P-Acc counts whole pairs only.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import replace
from pathlib import Path

from crpo.data.items import LETTERS, DataError, Item, load_items, write_jsonl
from crpo.data.text_budget import DEFAULT_MAX_TEXT_TOKENS

# Each benchmark's own instruction after the question, as its official evaluation prompts the model (their scorers
# parse the raw output with the benchmark's own rules, so the instruction matters). dybench uses the project's
# answer template (what crpo-trained models are rewarded for).
PROMPT_SUFFIX = {
    "mvbench": "Answer with the option's letter from the given choices directly.",
    "tvbench": "Answer with the option letter only.",                   # lmms-eval's tvbench post_prompt
    "tempcompass": "Please directly give the best option:",
    "timeblind": None,    # its questions carry their own instruction
    "vinoground": "Please only output one English character.",  # lmms-eval's: its scorer reads the first character
}


def prompt_for(item: Item, fmt: str, answer_format: str = "answer") -> str:
    from crpo.data.prompts import question_text
    if fmt == "dybench" or fmt not in PROMPT_SUFFIX:
        return question_text(item, answer_format)
    lines = [item.question.strip()]
    if item.problem_type == "multiple_choice":
        lines += [f"{LETTERS[i]}. {t}" for i, t in enumerate(item.options)]
    if PROMPT_SUFFIX[fmt]:
        lines.append(PROMPT_SUFFIX[fmt])
    return "\n".join(lines)


def read_done(path: Path) -> dict[str, dict]:
    """Predictions already written; a torn last line (killed mid-write) is dropped and the file repaired."""
    if not path.exists():
        return {}
    # A kill can cut the last line inside a multi-byte character: decode leniently (only that line is affected).
    original = path.read_bytes().decode("utf-8", errors="replace")
    done, good = {}, []
    # Split on "\n" only: str.splitlines() also splits on U+2028, U+0085, ..., which json.dumps(ensure_ascii=False)
    # leaves raw inside strings, and model outputs do contain them.
    for lineno, line in enumerate(original.split("\n"), 1):
        if not line:
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(row, dict) or "id" not in row:
            raise DataError(f"{path}:{lineno}: not a prediction row (expected a JSON object with an 'id')")
        if row["id"] not in done:
            done[row["id"]] = row
            good.append(line)
    text = "".join(l + "\n" for l in good)
    if text != original:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return done


def merge_predictions(out: Path) -> None:
    """Append every rank file's rows missing from predictions.jsonl to it, then delete the rank files."""
    pred_path = out / "predictions.jsonl"
    done = read_done(pred_path)
    with open(pred_path, "a", encoding="utf-8") as f:
        for path in sorted(out.glob("predictions.rank*.jsonl")):
            for key, row in read_done(path).items():
                if key not in done:
                    done[key] = row
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    for path in out.glob("predictions.rank*.jsonl"):
        path.unlink()


def _process_state():
    """accelerate's process state: rank, count, device and a barrier (gloo when there is no accelerator)."""
    import torch
    from accelerate import PartialState

    from crpo.parallel.distributed import check_world_size
    state = PartialState(cpu=not torch.accelerator.is_available())
    check_world_size(state.num_processes)  # `accelerate launch --cpu` on several machines: one line, not N copies
    return state


def scoring_subset(items: list[Item]) -> list[Item]:
    """`items` as they are scored when evaluated alone: an item whose pair_id no other item shares loses it."""
    shared = Counter(it.pair_id for it in items if it.pair_id is not None)
    return [replace(it, pair_id=None) if it.pair_id is not None and shared[it.pair_id] < 2 else it for it in items]


def predict(adapter, items: list[Item], clips: list, fmt: str, max_new_tokens: int = 64,
            answer_format: str = "answer") -> list[dict]:
    """One greedy batch: a prediction row {id, output, answer} per item, `clips` already loaded and transformed."""
    from crpo.rl.answers import extract_answer

    inputs = adapter.encode([adapter.prompt(prompt_for(it, fmt, answer_format)) for it in items], clips,
                            ids=[it.id for it in items])
    _, _, texts = adapter.generate(inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return [{"id": it.id, "output": text, "answer": extract_answer(text, it.problem_type, it.options)}
            for it, text in zip(items, texts)]


# What `crpo eval` reads from a training run's config.json, and its defaults when there is none.
RUN_KEYS = {"num_frames": 8, "max_pixels": 0, "answer_format": "answer", "max_new_tokens": 64, "dtype": "float32"}


def run_defaults(model_dir) -> tuple[dict, Path | None]:
    """Evaluation settings of the run that trained `model_dir` (OUTPUT_DIR/final or OUTPUT_DIR/checkpoint-N: the
    run's config.json is in OUTPUT_DIR), else RUN_KEYS' defaults; returns them and the config file used."""
    path = Path(model_dir).parent / "config.json"
    values = dict(RUN_KEYS)
    if not path.is_file():
        return values, None
    try:
        saved = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not a training run config ({e})") from None
    if not isinstance(saved, dict) or "algorithm" not in saved:  # a model's own config.json, not a run's
        return values, None
    values.update({k: saved[k] for k in RUN_KEYS if k in saved})
    return values, path


def shard_by_pair(items: list[Item], rank: int, world: int) -> list[Item]:
    """This process's items: pairs (items sharing a pair_id) stay on one process, groups dealt round-robin."""
    groups: dict = {}
    for it in items:
        groups.setdefault(it.pair_id if it.pair_id is not None else ("item", it.id), []).append(it)
    return [it for k, group in enumerate(groups.values()) if k % world == rank for it in group]


def load_item_clip(item: Item, video_root, num_frames: int, max_pixels: int | None = None):
    """The clip the model sees for `item`: its video (or segment), with the item's transform applied."""
    from crpo.data.counterfactual import counterfactual
    from crpo.data.video import load_clip

    clip = load_clip(Path(video_root) / item.video, num_frames=num_frames, start=item.start, end=item.end,
                     max_pixels=max_pixels or None)
    return counterfactual(clip, item.transform) if item.transform else clip


def check_videos(items: list[Item], video_root, bench) -> None:
    """Every item's video exists and is whole (`crpo.data.check.video_problem`: headers and index, no frame decoded),
    checked before the model loads: one line naming the first item whose video is not, and how many are not."""
    from crpo.data.check import video_problem

    root = Path(video_root)
    if not root.is_dir():
        raise DataError(f"--video-root {root}: no such directory")
    problems, seen = [], {}
    for it in items:
        if it.video not in seen:
            seen[it.video] = video_problem(it, root)
        if seen[it.video] is not None:
            problems.append((it, seen[it.video]))
    if problems:
        more = f" ({len(problems)} of {len(items)} items have an unusable video; `crpo data check` lists them)" \
            if len(problems) > 1 else ""
        raise DataError(f"{bench}: item '{problems[0][0].id}': {problems[0][1]}{more}")


def evaluate(model, bench, fmt, video_root, out, batch_size=8, num_frames=8, max_new_tokens=64, limit=None,
             answer_format="answer", null_option=False, max_pixels=0, dtype="float32", device=None,
             max_text_tokens=DEFAULT_MAX_TEXT_TOKENS) -> dict:
    """Greedy predictions of `model` on the first `limit` items of `bench` (all when None) into OUT, resuming what
    OUT's prediction files already hold, then OUT/metrics.json; returns the metrics (see the module docstring).
    `null_option` shows multiple-choice items with "None of the above" appended, as crpo trains them (off by
    default: a benchmark is scored with its own options; the null option is always a wrong answer there).
    `device`: default the process's accelerator (cuda:LOCAL_RANK under a multi-process launch), else the CPU.

    Before the model loads: the model directory, the bench (unique ids, at least one item), OUT's lock and
    manifest (crpo/bench/eval_run.py), every remaining item's video and prompt length are checked; a problem is a
    DataError naming the file, item or setting."""
    from contextlib import nullcontext

    from crpo.bench.eval_run import check_manifest, eval_lock, manifest
    from crpo.models.local import model_source

    model_source(model, f"--model {model}")
    all_items = load_items(bench)
    state = _process_state()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out}: is a file, not a directory")
    out.mkdir(parents=True, exist_ok=True)
    with eval_lock(out) if state.is_main_process else nullcontext():
        if state.is_main_process:
            check_manifest(out, manifest(model, bench, format=fmt, num_frames=num_frames, max_pixels=max_pixels,
                                         answer_format=answer_format, null_option=bool(null_option),
                                         max_new_tokens=max_new_tokens, dtype=dtype))
        state.wait_for_everyone()  # the other ranks read OUT only once the main process owns it
        return _evaluate_locked(model, bench, fmt, video_root, out, all_items, state, batch_size, num_frames,
                                max_new_tokens, limit, answer_format, null_option, max_pixels, dtype, device,
                                max_text_tokens)


def _evaluate_locked(model, bench, fmt, video_root, out, all_items, state, batch_size, num_frames, max_new_tokens,
                     limit, answer_format, null_option, max_pixels, dtype, device, max_text_tokens) -> dict:
    from tqdm.auto import tqdm

    from crpo.bench.score import score_file
    from crpo.models import VideoLM
    from crpo.models.local import check_model_texts
    from crpo.parallel.distributed import copy_to_main, union_over_processes

    rank, world = state.process_index, state.num_processes
    items = all_items[:limit]
    pred_path = out / "predictions.jsonl"
    done = {}
    for path in [pred_path, *sorted(out.glob("predictions.rank*.jsonl"))]:
        done.update({k: v for k, v in read_done(path).items() if k not in done})
    # Nodes without a shared disk each see their own rank files: every process skips what any of them holds.
    done = union_over_processes(done)
    todo = [it for it in items if it.id not in done]
    if len(items) < len(all_items) and len(done) > len(items) - len(todo):
        raise DataError(f"{pred_path}: holds predictions beyond --limit {limit} (an earlier, longer run): evaluate "
                        "into another --out, or score the whole file with `crpo score`")
    # Every check that can fail comes before the model loads: a bad item found after an hour of evaluation
    # would stop the run there (the predictions so far are kept, but the user waits for nothing).
    check_videos(todo, video_root, bench)
    from crpo.rl.methods.common import with_null_option
    shown = [with_null_option(it) for it in todo] if null_option else todo  # the text the model will be shown
    check_model_texts(model, todo, [prompt_for(it, fmt, answer_format) for it in shown], max_text_tokens, bench,
                      "--max-text-tokens")
    mine = shard_by_pair(todo, rank, world)
    own_path = pred_path if world == 1 else out / f"predictions.rank{rank}.jsonl"
    if mine:
        adapter = VideoLM.load(model, dtype=dtype, device=device or state.device)
        with open(own_path, "a", encoding="utf-8") as f, tqdm(total=len(items), initial=len(items) - len(todo),
                                                             desc=f"eval {fmt}", unit="item",
                                                             disable=rank != 0) as bar:
            for start in range(0, len(mine), batch_size):
                batch = mine[start:start + batch_size]
                clips = []
                for it in batch:
                    try:
                        clips.append(load_item_clip(it, video_root, num_frames, max_pixels))
                    except DataError as e:  # name the item as well as the file; what is written stays
                        raise DataError(f"{bench}: item '{it.id}': {e}") from None
                if null_option:
                    batch = [with_null_option(it) for it in batch]
                for row in predict(adapter, batch, clips, fmt, max_new_tokens, answer_format):
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
                bar.update(len(batch) * world)  # the other processes advance at about the same pace
    state.wait_for_everyone()
    if world > 1:  # rank files on other nodes' disks reach the main process's (docs/launchers.md)
        copy_to_main(out, "predictions.rank*.jsonl")
    if rank != 0:
        return {}
    if world > 1 or any(out.glob("predictions.rank*.jsonl")):
        merge_predictions(out)
    scored = bench
    if len(items) < len(all_items):  # --limit cut the bench: score the evaluated items only (see module docstring)
        scored = out / "bench_subset.jsonl"
        write_jsonl(scored, scoring_subset(items))
    metrics = score_file(fmt, scored, pred_path)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics
