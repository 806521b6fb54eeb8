"""`crpo audit`: how much does a model look at the video? Any video QA set, no twins, no counterfactual labels.

    crpo audit --model /models/Qwen3-VL-8B-Instruct --items data/items.jsonl --video-root data/videos --out runs/audit
    accelerate launch --num_processes 8 -m crpo.cli audit ...            # items sharded over processes
    crpo report runs/audit_base runs/audit_crpo --out runs/audit_report  # two audits side by side

Every item is shown on three clips decoded once: the original, its mirror and its reversal (crpo.data.counterfactual,
made on the fly). On each the model answers greedily (the prompt and extraction of `crpo eval --format dybench`),
and one forward pass reads the distribution over the item's choices at the answer position: the option letters
(or yes / no) after the answer template's "<answer>", renormalised over the choices. The router reads, from the text
alone, the item's question class, the transform that class gets (its counterfactual), the relation under it and
the counterfactual answer where the text tells it; the other transform is the control. crpo/bench/audit_metrics.py
defines what is computed from them (accuracy, change rate, keep rate, P-Acc, divergence, and the control's).

Before the model loads, as in `crpo eval`: the model directory, OUT's lock and manifest, and every item still to
audit (no bench twin, its video whole, its prompt text within --max-text-tokens), each problem one line naming the
items file and the item.

Rows go to OUT/predictions.jsonl as batches finish (one per item: output, answer and choice log-probabilities per
clip), so a killed audit resumes where it stopped, with the machinery of `crpo eval` (crpo/bench/evaluate.py:
append-only rows, a torn last line repaired, items sharded over processes into rank files merged by the main
process). The rows hold only what the model did; the router is applied when the numbers are computed, so a
better lexicon re-scores an audit without running the model again. Outputs: OUT/audit.json (the numbers overall,
per category and per question class, and the settings), OUT/audit.md (the table), OUT/audit.png, and
OUT/records.jsonl (each item's route and what its answers did).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from crpo.bench.audit_metrics import CLIPS, CONTROL, audit_metrics, item_record
from crpo.bench.evaluate import (_process_state, load_item_clip, merge_predictions, predict, prompt_for, read_done,
                                 shard_by_pair)
from crpo.data.items import LETTERS, DataError, Item, load_items, write_jsonl
from crpo.data.text_budget import DEFAULT_MAX_TEXT_TOKENS

# Where the answer goes in crpo's answer template (crpo/data/prompts.py target_text): the distribution is read there.
ANSWER_PREFIX = {"answer": "<answer>", "think": "<think></think><answer>"}
# What precedes the prefix in a Qwen chat prompt: the choice tokens are found in this context, so that a merge
# across the boundary would show.
_CONTEXT = "assistant\n"


def route_of(item: Item) -> dict:
    """What the router reads from the item's text: category, question class, transform, relation, counterfactual
    answer (when the text tells it), and the control transform with its relation."""
    from crpo.routing.classes import counterfactual_target
    from crpo.routing.rules import categorize, relation

    # The audit shows each item's own options, so "None of the above" is never a counterfactual answer here.
    target = counterfactual_target(item, "auto", null_option=False)
    transform = None if target.skip else target.transform
    control = CONTROL.get(transform)
    return {"category": item.category or categorize(item), "question_class": target.question_class or "unknown",
            "transform": transform, "relation": target.relation if transform else None,
            "cf_answer": target.answer if transform else None, "control": control,
            "control_relation": relation(item, control)[0] if control else None}


def choices_of(item: Item) -> list[str] | None:
    if item.problem_type == "multiple_choice":
        return list(LETTERS[:len(item.options)])
    if item.problem_type == "yes_no":
        return ["yes", "no"]
    return None


def choice_token_ids(tokenizer, prefix: str, choices: list[str]) -> list[int] | None:
    """The token each choice starts with right after `prefix`; None when a choice merges with the prefix or two
    choices start with the same token (no distribution can be read in one forward pass then)."""
    base = tokenizer.encode(_CONTEXT + prefix, add_special_tokens=False)
    ids = []
    for choice in choices:
        full = tokenizer.encode(_CONTEXT + prefix + choice, add_special_tokens=False)
        if full[:len(base)] != base or len(full) == len(base):
            return None
        ids.append(full[len(base)])
    return ids if len(set(ids)) == len(ids) else None


def choice_logprobs(adapter, prompts: list[str], clips: list, choices: list, prefix: str) -> list:
    """Per row, the log-probabilities of its choices at the answer position (renormalised over the choices), from
    one forward pass over prompt + prefix; None for a row without choices."""
    import torch

    inputs = adapter.encode([p + prefix for p in prompts], clips)
    with torch.no_grad():
        last = adapter.model(**inputs, logits_to_keep=1, use_cache=False).logits[:, -1].float()
    out = []
    for row, row_choices in zip(last, choices):
        ids = choice_token_ids(adapter.tokenizer, prefix, row_choices) if row_choices else None
        if ids is None:
            out.append(None)
            continue
        picked = row[ids]
        out.append((picked - picked.logsumexp(-1)).tolist())
    return out


def audit_batch(adapter, items: list[Item], video_root, num_frames: int, max_pixels: int, max_new_tokens: int,
                answer_format: str) -> list[dict]:
    """One row per item: greedy output, extracted answer and choice log-probabilities on each of CLIPS."""
    from crpo.data.counterfactual import counterfactual

    clips, shown = [], []
    for it in items:
        clip = load_item_clip(it, video_root, num_frames, max_pixels)
        clips += [clip] + [counterfactual(clip, name) for name in CLIPS[1:]]
        shown += [it] * len(CLIPS)
    greedy = predict(adapter, shown, clips, "dybench", max_new_tokens, answer_format)
    prompts = [adapter.prompt(prompt_for(it, "dybench", answer_format)) for it in shown]
    logp = choice_logprobs(adapter, prompts, clips, [choices_of(it) for it in shown], ANSWER_PREFIX[answer_format])
    rows = []
    for k, it in enumerate(items):
        at = range(k * len(CLIPS), (k + 1) * len(CLIPS))
        rows.append({"id": it.id, "clips": {name: {"output": greedy[i]["output"], "answer": greedy[i]["answer"],
                                                   "logp": logp[i]} for name, i in zip(CLIPS, at)}})
    return rows


def check_before_model(model, todo: list[Item], source, video_root, answer_format: str, max_text_tokens: int) -> None:
    """Everything about the items to audit that can fail, checked before the model loads (as `crpo eval` does): no
    item is a bench twin, every video is whole, every prompt text fits `max_text_tokens`; one DataError line naming
    `source` and the item otherwise."""
    from crpo.bench.evaluate import check_videos
    from crpo.models.local import check_model_texts

    twin = next((it for it in todo if it.transform), None)
    if twin is not None:
        raise DataError(f"{source}: item '{twin.id}': already carries transform '{twin.transform}' (a bench twin): "
                        "audit the source items, the audit makes every counterfactual itself")
    check_videos(todo, video_root, source)
    check_model_texts(model, todo, [prompt_for(it, "dybench", answer_format) for it in todo], max_text_tokens, source,
                      "--max-text-tokens")


def run_rows(model, items: list[Item], video_root, out: Path, batch_size: int, dtype: str, device, source=None,
             max_text_tokens: int = DEFAULT_MAX_TEXT_TOKENS, **settings):
    """Append the missing items' rows to OUT's row files, this process's share of them; True on the main process
    once every process has finished and the rank files are merged into OUT/predictions.jsonl. The items still to
    audit are checked first (`check_before_model`; `source` names their file in the error)."""
    from tqdm.auto import tqdm

    from crpo.models import VideoLM

    state = _process_state()
    rank, world = state.process_index, state.num_processes
    pred_path = out / "predictions.jsonl"
    done: set[str] = set()
    for path in [pred_path, *sorted(out.glob("predictions.rank*.jsonl"))]:
        done |= set(read_done(path))
    todo = [it for it in items if it.id not in done]
    check_before_model(model, todo, source, video_root, settings["answer_format"], max_text_tokens)
    mine = shard_by_pair(todo, rank, world)
    if mine:
        adapter = VideoLM.load(model, dtype=dtype, device=device or state.device)
        own_path = pred_path if world == 1 else out / f"predictions.rank{rank}.jsonl"
        with open(own_path, "a", encoding="utf-8") as f, tqdm(total=len(items), initial=len(items) - len(mine) * world,
                                                             desc="audit", unit="item", disable=rank != 0) as bar:
            for start in range(0, len(mine), batch_size):
                batch = mine[start:start + batch_size]
                for row in audit_batch(adapter, batch, video_root, **settings):
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
                bar.update(len(batch) * world)
    state.wait_for_everyone()
    if rank != 0:
        return False
    if world > 1 or any(out.glob("predictions.rank*.jsonl")):
        merge_predictions(out)
    return True


def score_audit(items: list[Item], rows: dict[str, dict]) -> tuple[dict, list[dict]]:
    """(metrics, per-item records) of rows {id: row} for `items`; an item without a row is an error."""
    missing = [it.id for it in items if it.id not in rows]
    if missing:
        raise DataError(f"{len(missing)} item(s) have no audit row, e.g. '{missing[0]}'")
    records = [item_record(it, rows[it.id], route_of(it)) for it in items]
    return audit_metrics(records), records


def audit(model, items, video_root, out, batch_size: int = 8, num_frames: int = 8, max_pixels: int = 0,
          max_new_tokens: int = 64, answer_format: str = "answer", dtype: str = "float32", device=None,
          limit: int | None = None, max_text_tokens: int = DEFAULT_MAX_TEXT_TOKENS) -> dict:
    """Run the audit of `model` on the first `limit` items (all when None) into OUT, resuming what OUT holds; on
    the main process write audit.json, audit.md, audit.png and records.jsonl and return the audit.json content
    ({} on the other processes)."""
    from contextlib import nullcontext

    from crpo.bench.eval_run import check_manifest, eval_lock, manifest
    from crpo.models.local import model_source

    if answer_format not in ANSWER_PREFIX:
        raise DataError(f"unknown answer format '{answer_format}' (expected {', '.join(ANSWER_PREFIX)})")
    model_source(model, f"--model {model}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out}: is a file, not a directory")
    out.mkdir(parents=True, exist_ok=True)
    chosen = load_items(items)[:limit]
    settings = dict(num_frames=num_frames, max_pixels=max_pixels, max_new_tokens=max_new_tokens,
                    answer_format=answer_format)
    state = _process_state()
    # crpo eval's lock and manifest: one writer per folder, and rows of another model or settings never resumed
    with eval_lock(out) if state.is_main_process else nullcontext():
        if state.is_main_process:
            check_manifest(out, manifest(model, items, command="audit", dtype=dtype, **settings))
        state.wait_for_everyone()  # the other ranks read OUT only once the main process owns it
        if not run_rows(model, chosen, video_root, out, batch_size, dtype, device, source=items,
                        max_text_tokens=max_text_tokens, **settings):
            return {}
        return _write_audit(model, items, chosen, out, dtype, settings)


def _write_audit(model, items, chosen, out: Path, dtype: str, settings: dict) -> dict:
    from crpo.bench.audit_report import audit_chart, audit_table

    rows = read_done(out / "predictions.jsonl")
    metrics, records = score_audit(chosen, rows)
    result = {"model": str(model), "items": str(items), "dtype": dtype, **settings, **metrics}
    (out / "audit.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    (out / "audit.md").write_text(f"# Audit of {model}\n\n{audit_table({Path(out).name: result})}", encoding="utf-8")
    audit_chart({Path(out).name: result}, out / "audit.png")
    write_jsonl(out / "records.jsonl", records)
    return result
