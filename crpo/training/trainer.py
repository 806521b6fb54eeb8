"""`crpo train`: RL post-training of a video LLM with CRPO or a baseline, read top to bottom.

    crpo train --config configs/demo_cpu.yaml max_steps=50 algorithm=grpo
    accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 2 -m crpo.cli train --config ...

On a machine without GPUs the same command runs DDP (or, with configs/accelerate/fsdp.yaml, FSDP2) over gloo
(crpo/parallel/distributed.py); `accelerate launch --cpu --num_processes 2` does NOT: accelerate's --cpu launcher starts one
process.

Each step: take the step's items (a fixed permutation per epoch, so the step number is the data position) ->
decode clips and plan branches (the algorithm's module in crpo/rl/methods/) -> generate all completions in one call
-> reward terms and advantages (crpo/rl/scoring.py) -> clipped policy loss over micro-batches (crpo/rl/algorithms.py)
-> one optimizer step -> metrics, rollout log, bench evaluation (eval_steps), checkpoints. Items are sharded by item,
so both branches of a pair live on one process and CRR needs no communication; only metrics are reduced.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from crpo.data.items import DataError, load_items
from crpo.parallel.distributed import (compute_context, gathered_for_generation, generation_kwargs, make_accelerator,
                                       run_failing_fast)
from crpo.rl.algorithms import policy_loss
from crpo.rl.methods import METHODS
from crpo.rl.methods.common import null_option_on, show_null_option
from crpo.rl.scoring import score_rollouts
from crpo.training.checkpoint import check_output_dir, load_checkpoint, save_checkpoint, save_final
from crpo.training.config import TrainConfig, load_config
from crpo.training.rollout import generate_rollouts
from crpo.training.sampling import rollout_seed
from crpo.training.step_profile import StepProfile
from crpo.training.train_log import COUNTERS, MetricsLogger
from crpo.training.vllm_engine import make_rollout_engine


def main(config_path=None, overrides=()) -> Path:
    return run_failing_fast(lambda: train(load_config(TrainConfig, config_path, overrides)))


def step_items(num_items: int, batch: int, step: int, seed: int) -> list[int]:
    """Global item indices of a step: consecutive slices of per-epoch permutations (the data position is the step)."""
    out, pos = [], step * batch
    while len(out) < batch:
        epoch, offset = divmod(pos, num_items)
        perm = np.random.default_rng([seed, epoch]).permutation(num_items)
        take = min(batch - len(out), num_items - offset)
        out += perm[offset:offset + take].tolist()
        pos += take
    return out


def make_scheduler(optimizer, cfg, total_steps: int):
    """The LR schedule: `lr_scheduler` after `warmup_steps` of linear warm-up. transformers' "constant" ignores
    warm-up steps, so constant with a warm-up is its "constant_with_warmup" (otherwise the warm-up is dropped)."""
    from transformers import get_scheduler
    name = "constant_with_warmup" if cfg.lr_scheduler == "constant" and cfg.warmup_steps else cfg.lr_scheduler
    return get_scheduler(name, optimizer, num_warmup_steps=cfg.warmup_steps, num_training_steps=total_steps)


def prepare_policy(model, cfg: TrainConfig):
    """Freeze the vision tower, add LoRA, enable gradient checkpointing: what trains and what stays fixed.

    With bf16 compute the trainable weights are kept in fp32 (master weights, what AdamW updates): near |w| = 0.02
    bf16's spacing is about 1e-4, so an lr-1e-6 update to a bf16 weight rounds to nothing. Frozen weights stay bf16.
    """
    if cfg.freeze_vision:
        for p in model.model.visual.parameters():
            p.requires_grad_(False)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if cfg.lora:
        from peft import LoraConfig, get_peft_model
        targets = [t.strip() for t in cfg.lora_target_modules.split(",")]
        # Regex on the language model only: the vision tower stays as frozen as freeze_vision says.
        pattern = rf".*language_model.*\.({'|'.join(targets)})$"
        model = get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                                                 lora_dropout=cfg.lora_dropout, target_modules=pattern))
    for p in model.parameters():
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()
    return model


def reference_model(adapter, cfg: TrainConfig, accelerator):
    """The frozen KL reference for full fine-tuning with beta > 0 (LoRA's reference is the adapter switched off).

    Under FSDP it is loaded from cfg.model on every process and sharded like the policy (fully_shard per
    transformer block): an unsharded copy per GPU would cost a whole model each. Elsewhere: a copy of the policy
    before training (ZeRO-3 included: not sharded there).
    """
    from accelerate.utils import DistributedType
    if cfg.beta == 0 or cfg.lora:
        return None
    if accelerator.distributed_type != DistributedType.FSDP:
        return copy.deepcopy(adapter.model).eval().requires_grad_(False)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from crpo.models import VideoLM
    # RAM-efficient loading leaves the weights of non-main processes empty (the policy's come by broadcast in
    # prepare): the reference loads its own full copy on every process, then keeps only its shard.
    os.environ["FSDP_CPU_RAM_EFFICIENT_LOADING"], saved = "false", os.environ.get("FSDP_CPU_RAM_EFFICIENT_LOADING")
    try:
        ref = VideoLM.load(cfg.model, dtype=cfg.dtype, device="cpu").model.eval().requires_grad_(False)
    finally:
        os.environ["FSDP_CPU_RAM_EFFICIENT_LOADING"] = saved or "false"
    mesh = init_device_mesh(accelerator.device.type, (accelerator.num_processes,))
    blocks = set(ref._no_split_modules or [])
    for module in ref.modules():
        if type(module).__name__ in blocks:
            fully_shard(module, mesh=mesh)
    return fully_shard(ref, mesh=mesh)


def load_plans(items, indices, offsets, cfg, video_root, step, counters, route_cache):
    """Decode each item's clip once and plan its branches (the algorithm's `plan`); an unreadable video skips the
    item, counted. Routing reads the item as given; the null option is appended to what the branches show."""
    from crpo.data.counterfactual import counterfactual
    from crpo.data.video import load_clip

    plans, plan_offsets = [], []
    for local, (idx, offset) in enumerate(zip(indices, offsets)):
        item = items[idx]
        try:
            clip = load_clip(Path(video_root) / item.video, num_frames=cfg.num_frames, start=item.start,
                             end=item.end, max_pixels=cfg.max_pixels or None)
        except (DataError, OSError) as e:
            counters["skipped"] += 1
            from tqdm.auto import tqdm
            tqdm.write(f"skipping item {item.id}: {e}", file=sys.stderr)  # on its own line, above the progress bar
            continue
        if item.transform:  # a twin stored as "original video + transform": that clip is this item's original,
            # and its own counterfactual branch transforms it again (a reversed twin's reversal is the video)
            clip = dataclasses.replace(counterfactual(clip, item.transform), transform=None)
        # The T-GRPO shuffle is seeded by (run, step, item position), like the rollouts: a new derangement every
        # step (a seed without the step replayed the same P permutations all run), independent of the process.
        plan = METHODS[cfg.algorithm].plan(len(plans), item, clip, cfg, route_cache.get(item.id),
                                           seed=rollout_seed(cfg.seed, step, offset, -1))
        if null_option_on(cfg):
            plan = show_null_option(plan)
        for note in plan.notes:
            counters[note] += 1
        plans.append(plan)
        plan_offsets.append(offset)
    if not plans:
        raise DataError(f"{cfg.train_data}: step {step + 1}: no usable item in the batch (all videos unreadable)")
    return plans, plan_offsets


def check_inputs(cfg) -> None:
    """Paths (crpo/training/config.py `check_paths`) and the model directory (crpo/models/local.py), before anything loads."""
    from crpo.models.local import model_source
    from crpo.training.config import check_paths
    check_paths(cfg)
    model_source(cfg.model, f"config key 'model' is '{cfg.model}'")


def train(cfg: TrainConfig) -> Path:
    from accelerate.utils import set_seed

    from crpo.models import VideoLM

    check_inputs(cfg)  # before the model loads or anything is written: one line naming the key or item
    accelerator = make_accelerator(cfg.micro_batches)
    world, rank = accelerator.num_processes, accelerator.process_index
    if cfg.prompts_per_step % world:
        raise DataError(f"prompts_per_step={cfg.prompts_per_step} must be divisible by the {world} processes")
    set_seed(cfg.seed)
    out = Path(cfg.output_dir)
    # Before anything loads: every node sees what it must (several nodes may not share a disk), one line if not.
    resume_from = check_output_dir(accelerator, out, cfg.resume)
    items = load_items(cfg.train_data)  # unique ids, at least one item
    route_cache = {}
    if cfg.route_cache:  # decisions of an offline LLM router; training never calls an LLM
        from crpo.routing.llm import load_route_cache
        route_cache = load_route_cache(cfg.route_cache)
    video_root = cfg.video_root or str(Path(cfg.train_data).parent)
    from crpo.data.prompts import question_text
    from crpo.models.local import check_model_texts
    check_model_texts(cfg.model, items, [question_text(it, cfg.answer_format) for it in items],
                      cfg.max_text_tokens, cfg.train_data, "max_text_tokens")

    adapter = VideoLM.load(cfg.model, dtype=cfg.dtype, device=accelerator.device)
    ref_model = reference_model(adapter, cfg, accelerator)
    model = prepare_policy(adapter.model, cfg)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate,
                                  weight_decay=cfg.weight_decay)
    total_updates = cfg.max_steps * cfg.num_iterations
    scheduler = make_scheduler(optimizer, cfg, total_updates)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    # After prepare: FSDP2 replaces every parameter with a sharded DTensor; clipping the pre-prepare list would
    # clip nothing (and log grad_norm 0).
    params = [p for p in model.parameters() if p.requires_grad]
    policy = accelerator.unwrap_model(model)
    adapter.model = policy  # generation runs on the unwrapped policy; the loss goes through the wrapper
    engine = make_rollout_engine(adapter, cfg)  # rollout_engine=vllm: syncs the policy's weights before each step
    compute = lambda: compute_context(cfg.dtype, accelerator.device)  # noqa: E731 (a fresh context per use)

    start = 0
    if resume_from is not None:
        start = load_checkpoint(accelerator, resume_from)["step"]
        accelerator.print(f"resumed from {resume_from} at step {start}")
    logger = MetricsLogger(out, cfg, accelerator, start_step=start)
    bench = None
    if cfg.eval_steps and accelerator.is_main_process:
        from crpo.training.train_eval import BenchDuringTraining
        bench = BenchDuringTraining(cfg, out, start)
    if cfg.eval_steps and start == 0:
        run_bench(bench, adapter, 0, model, accelerator, compute)  # the starting point of the curve

    for step in range(start, cfg.max_steps):
        t0 = time.perf_counter()
        profile = StepProfile(accelerator.device)  # seconds and peak memory per phase, logged with the step
        # Per step, so that metrics.jsonl rows are the same whether or not the run was resumed in between.
        counters = dict.fromkeys(COUNTERS, 0)
        # 1. this process's share of the step's items (whole items: both branches stay together)
        global_idx = step_items(len(items), cfg.prompts_per_step, step, cfg.seed)
        offsets = list(range(rank, cfg.prompts_per_step, world))
        with profile.phase("data"):
            plans, offsets = load_plans(items, [global_idx[o] for o in offsets], offsets, cfg, video_root, step,
                                        counters, route_cache)

        # 2. rollouts: every branch of every item, G completions each, one generate call (sharded weights
        # gathered once for the whole call)
        model.eval()
        with profile.phase("generate"), torch.no_grad(), gathered_for_generation(model, accelerator), compute():
            ro = generate_rollouts(adapter, plans, cfg, step, offsets, generate_kwargs=generation_kwargs(accelerator),
                                   engine=engine)
        if engine is not None:  # the engine's weight sync ran inside generate
            profile.move(engine.last_sync_seconds, "generate", "weight_sync")

        # 3. reward terms, totals and advantages (the algorithm's `score`)
        with profile.phase("reward"):
            scores = score_rollouts(plans, ro.texts, ro.num_generations, cfg,
                                    all_reduce=lambda t: accelerator.reduce(t.to(accelerator.device), "sum").cpu())
        rows = scores.in_loss.nonzero().flatten().tolist()
        adv = scores.advantages.to(accelerator.device)

        # 4. old and reference log-probs, one forward each, before any update
        micro, micro_scale = split_micro_batches(rows, cfg.micro_batches)
        # The rollouts' vision features are the policy's before any update: valid for the old log-probs always,
        # for the reference and the loss while the vision tower is frozen (ro.frozen_features()).
        with profile.phase("old_logprobs"), torch.no_grad(), compute():
            old = [adapter.logprobs(*_rows(ro, m), model=policy, temperature=cfg.temperature,
                                    video_features=ro.video_features)
                   for m in micro] if cfg.num_iterations > 1 else None
        with profile.phase("ref_logprobs"), torch.no_grad(), compute():
            ref = [_ref_logprobs(adapter, ro, m, policy, ref_model, cfg) for m in micro] if cfg.beta > 0 else None

        # 5. clipped policy loss over micro-batches, normalised over the whole global batch. accelerate accumulates
        # (no gradient sync, no optimizer step before the last micro-batch, on every launcher) and divides each
        # loss by micro_batches, which the weight below undoes: the summed gradient is the global batch's.
        model.train()
        counts = torch.tensor([float(len(rows)), float(ro.completion_mask[rows].sum())], device=accelerator.device)
        global_rows, global_tokens = accelerator.reduce(counts, reduction="sum").tolist()
        stats_sum, loss_sum, grad_norm = {}, 0.0, 0.0
        with profile.phase("loss"):
            for it in range(cfg.num_iterations):
                for k, m in enumerate(micro):
                    inputs, ids, mask = _rows(ro, m)
                    with accelerator.accumulate(model), compute():
                        logp = adapter.logprobs(inputs, ids, mask, model=model, temperature=cfg.temperature,
                                                video_features=ro.frozen_features())
                        loss, stats = policy_loss(
                            logp, old[k] if old else logp.detach(), adv[m], mask.to(logp.dtype), cfg.loss_type,
                            eps_low=cfg.epsilon_low, eps_high=cfg.epsilon_high, ref_logp=ref[k] if ref else None,
                            beta=cfg.beta, max_completion_length=cfg.max_new_tokens,
                            num_items_in_batch=global_tokens / world, is_cap=cfg.vllm_importance_sampling_cap,
                            sampler_logp=ro.sampler_logprobs[m] if ro.sampler_logprobs is not None else None)
                        loss = loss * (micro_scale[k] * _micro_weight(cfg.loss_type, len(m), global_rows, world,
                                                                      int(sum(micro_scale))))
                        accelerator.backward(loss * cfg.micro_batches)
                        if accelerator.sync_gradients and cfg.max_grad_norm > 0:  # the last micro-batch
                            norm = accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
                            grad_norm = float(norm) if norm is not None else float("nan")
                        optimizer.step()  # a no-op until the last micro-batch (accelerate's accumulation)
                        optimizer.zero_grad(set_to_none=True)
                    loss_sum += loss.item() / cfg.num_iterations
                    for key, v in stats.items():
                        stats_sum[key] = stats_sum.get(key, 0.0) + micro_scale[k] * float(v) / (
                            sum(micro_scale) * cfg.num_iterations)
                scheduler.step()

        # 6. metrics (reduced over processes), samples, checkpoints
        logger.log_step(step + 1, plans, ro, scores, loss_sum, stats_sum, grad_norm, scheduler.get_last_lr()[0],
                        time.perf_counter() - t0, profile, counters)
        if cfg.eval_steps and ((step + 1) % cfg.eval_steps == 0 or step + 1 == cfg.max_steps):
            run_bench(bench, adapter, step + 1, model, accelerator, compute)
        if cfg.save_steps and (step + 1) % cfg.save_steps == 0 and step + 1 < cfg.max_steps:
            save_checkpoint(accelerator, out, step + 1, model=model, processor=adapter.processor,
                            keep=cfg.save_total_limit)

    save_checkpoint(accelerator, out, cfg.max_steps, model=model, processor=adapter.processor,
                    keep=cfg.save_total_limit)
    final = save_final(accelerator, model, adapter.processor, out)
    logger.close()
    accelerator.print(f"done: {final}")
    accelerator.end_training()
    return final


def run_bench(bench, adapter, step, model, accelerator, compute):
    """Evaluate the bench on the main process. Every process joins the weight gather first (FSDP / ZeRO-3), so
    the main process's forwards need no collective its peers would have to answer."""
    with torch.no_grad(), gathered_for_generation(model, accelerator), compute():
        if bench is not None:
            bench.run(adapter, step)
        accelerator.wait_for_everyone()


def split_micro_batches(rows: list[int], n: int) -> tuple[list[list[int]], list[float]]:
    """Exactly `n` micro-batches of `rows` and a loss scale per micro-batch (1, or 0 for padding).

    accelerate counts backward passes to know when to sync and step, so every process runs n of them every
    step even when it holds fewer rows than n: the missing micro-batches repeat a row with weight 0.
    """
    parts = [list(map(int, p)) for p in np.array_split(rows, min(n, len(rows)))]
    scale = [1.0] * len(parts)
    while len(parts) < n:
        parts.append(parts[-1][:1])
        scale.append(0.0)
    return parts, scale


def _rows(ro, rows):
    from crpo.models.batching import take_rows
    rows = list(rows)
    return take_rows(ro.inputs, rows), ro.completion_ids[rows], ro.completion_mask[rows]


def _ref_logprobs(adapter, ro, rows, policy, ref_model, cfg):
    if cfg.lora:  # the reference policy is the base model: the adapter switched off
        with policy.disable_adapter():
            return adapter.logprobs(*_rows(ro, rows), model=policy, temperature=cfg.temperature,
                                    video_features=ro.frozen_features())
    return adapter.logprobs(*_rows(ro, rows), model=ref_model, temperature=cfg.temperature,
                            video_features=ro.frozen_features())


def _micro_weight(loss_type, rows: int, global_rows: float, world: int, n_micro: int) -> float:
    """Scale a micro-batch loss so that summing micro-batches and averaging processes (DDP) gives the global loss.

    grpo/dr_grpo average over sequences: weight by this micro-batch's share of the global sequences. dapo is
    already divided by the global token count (passed to policy_loss). bnpo normalises each micro-batch by its own
    tokens, as TRL does, and averages them.
    """
    if loss_type in ("grpo", "dr_grpo"):
        return rows / global_rows * world
    if loss_type == "bnpo":
        return 1.0 / n_micro
    return 1.0

