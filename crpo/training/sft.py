"""`crpo sft`: supervised warm start on items, the cold start before RL.

    crpo sft --config configs/sft_demo.yaml max_steps=30

Same model adapter, data order, checkpoints and resume as `crpo train`. The loss is the mean negative
log-likelihood of the target completion ("<answer>B</answer>" or with a <think> block). `loss_on` picks the
supervised tokens: `all` averages over every token; `answer` only the answer tokens (the format is then never
learned, so RL's rewards stay 0); `both` (the default) adds the mean over the answer tokens to the mean over the
format tokens. A probe found that `all` barely moves the answer token of a tiny model (it is one token of ~8, and
the format tokens dominate the gradient early), while `both` learns the answer as fast as `answer` and the
format as well.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from crpo.data.items import DataError, load_items
from crpo.training.config import SFTConfig, load_config


def main(config_path=None, overrides=()) -> Path:
    from crpo.parallel.distributed import run_failing_fast
    return run_failing_fast(lambda: sft(load_config(SFTConfig, config_path, overrides)))


def target_ids(tokenizer, answer: str, answer_format: str, loss_on: str) -> tuple[list[int], list[int]]:
    """Token ids of the target completion and its loss mask, ending with <|im_end|>: 1 = supervised; with
    loss_on "both", 1 = answer token and 2 = format token (each kind gets its own mean in the loss)."""
    from crpo.data.prompts import target_text
    prefix, suffix = target_text("\x00", answer_format).split("\x00")
    fmt = {"all": 1, "answer": 0, "both": 2}[loss_on]
    pieces = [(prefix, fmt), (answer, 1), (suffix + "<|im_end|>", fmt)]
    ids, mask = [], []
    for text, label in pieces:
        toks = tokenizer.encode(text, add_special_tokens=False)
        ids += toks
        mask += [label] * len(toks)
    return ids, mask


def sft(cfg: SFTConfig) -> Path:
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    from crpo.data.counterfactual import counterfactual
    from crpo.data.prompts import question_text
    from crpo.data.video import load_clip
    from crpo.models import VideoLM
    from crpo.parallel.distributed import compute_context, make_accelerator
    from crpo.training.checkpoint import check_output_dir, load_checkpoint, save_checkpoint, save_final
    from crpo.training.train_log import drop_rows_after
    from crpo.training.trainer import make_scheduler, prepare_policy, step_items

    if cfg.loss_on not in ("answer", "all", "both"):
        raise DataError(f"loss_on must be 'both', 'all' or 'answer', got '{cfg.loss_on}'")
    from crpo.models.local import check_model_texts
    from crpo.training.trainer import check_inputs
    check_inputs(cfg)  # paths and model directory before anything loads or is written
    items = load_items(cfg.train_data)  # unique ids, at least one item
    check_model_texts(cfg.model, items, [question_text(it, cfg.answer_format) for it in items],
                      cfg.max_text_tokens, cfg.train_data, "max_text_tokens")
    accelerator = make_accelerator()
    set_seed(cfg.seed)
    out = Path(cfg.output_dir)
    resume_from = check_output_dir(accelerator, out, cfg.resume)  # every node sees it (crpo/training/checkpoint.py)
    video_root = Path(cfg.video_root or Path(cfg.train_data).parent)
    adapter = VideoLM.load(cfg.model, dtype=cfg.dtype, device=accelerator.device)
    model = prepare_policy(adapter.model, cfg)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate,
                                  weight_decay=cfg.weight_decay)
    scheduler = make_scheduler(optimizer, cfg, cfg.max_steps)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    params = [p for p in model.parameters() if p.requires_grad]  # after prepare: FSDP2 swaps in sharded ones
    start = 0
    if resume_from is not None:
        start = load_checkpoint(accelerator, resume_from)["step"]
    world, rank = accelerator.num_processes, accelerator.process_index
    pad = adapter.tokenizer.pad_token_id
    bar = tqdm(total=cfg.max_steps, initial=start, desc="sft", disable=not accelerator.is_main_process)
    out.mkdir(parents=True, exist_ok=True)
    metrics = out / "metrics.jsonl"
    if accelerator.is_main_process:  # drop rows past the checkpoint: one row per step
        drop_rows_after(metrics, start)
    for step in range(start, cfg.max_steps):
        t0 = time.perf_counter()
        batch = [items[i] for i in step_items(len(items), cfg.batch_size, step, cfg.seed)[rank::world]]
        clips = []
        for it in batch:
            clip = load_clip(video_root / it.video, num_frames=cfg.num_frames, start=it.start, end=it.end,
                             max_pixels=cfg.max_pixels or None)
            clips.append(counterfactual(clip, it.transform) if it.transform else clip)
        inputs = adapter.encode([adapter.prompt(question_text(it, cfg.answer_format)) for it in batch], clips,
                                ids=[it.id for it in batch])
        targets = [target_ids(adapter.tokenizer, it.answer, cfg.answer_format, cfg.loss_on) for it in batch]
        width = max(len(ids) for ids, _ in targets)
        ids = torch.tensor([t + [pad] * (width - len(t)) for t, _ in targets])
        full = torch.tensor([[1] * len(t) + [0] * (width - len(t)) for t, _ in targets])
        supervised = torch.tensor([m + [0] * (width - len(m)) for _, m in targets], dtype=torch.float32)
        model.train()
        with compute_context(cfg.dtype, accelerator.device):
            logp = adapter.logprobs(inputs, ids.to(accelerator.device), full.to(accelerator.device), model=model)
        labels = supervised.to(logp.device)
        loss = sum(-(logp * mask).sum() / mask.sum().clamp_min(1)
                   for mask in ((labels == 1).float(), (labels == 2).float()) if mask.any())
        accelerator.backward(loss)
        if cfg.max_grad_norm > 0:
            accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss_all = accelerator.reduce(loss.detach(), reduction="mean").item()
        if accelerator.is_main_process:
            with open(metrics, "a") as f:
                f.write(json.dumps({"step": step + 1, "loss": loss_all, "lr": scheduler.get_last_lr()[0],
                                    "seconds": time.perf_counter() - t0}) + "\n")
            bar.set_postfix_str(f"loss {loss_all:.3f}")
            bar.update(1)
        if cfg.save_steps and (step + 1) % cfg.save_steps == 0 and step + 1 < cfg.max_steps:
            save_checkpoint(accelerator, out, step + 1, model=model, processor=adapter.processor,
                            keep=cfg.save_total_limit)
    bar.close()
    save_checkpoint(accelerator, out, cfg.max_steps, model=model, processor=adapter.processor, keep=cfg.save_total_limit)
    return save_final(accelerator, model, adapter.processor, out)
