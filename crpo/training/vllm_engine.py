"""`rollout_engine: vllm`: rollouts sampled by a vLLM engine living in the training process (docs/vllm.md).

    engine = make_rollout_engine(adapter, cfg)      # None for rollout_engine=hf; built once per run
    ids, mask, texts, logp = engine.generate(prompts, clips, seeds, inputs)   # one request per rollout
    engine.sync_weights()                           # the policy's current weights into the engine

HF generate stays the default and the fallback; the trainer computes old, reference and policy log-probs itself
either way, so the engine only decides which tokens are sampled. Choices, and why:

- In process (VLLM_ENABLE_V1_MULTIPROCESSING=0, as TRL's colocate mode): the engine core and its single worker run
  in the trainer's process, so a weight sync hands vLLM the policy's tensors by reference (no copy through a
  socket) and needs no `__main__`-guarded worker processes. Several training processes (DDP, FSDP): one engine per
  process on the trainer's process group (`external_launcher`, tensor_parallel_size 1, see launcher_kwargs), each
  sampling its own items' rollouts.
- Prompts: the chat text VideoLM.encode tokenises (Qwen3-VL's outer vision wrapper collapsed, adapter docstring),
  the video as `(frames, metadata)` with frame sampling off and the clip's ascending frame indices, so vLLM writes
  the same `<t seconds>` timestamps. `generate` checks every rollout's prompt token ids against the rows
  VideoLM.encode built and raises on the first difference, so a drift between the two processors cannot train
  silently. `mm_device_do_normalize=False`: vLLM's on-device pixel normalisation takes the *image* processor's
  mean/std for videos too; a checkpoint whose two processors differ (the tiny test models) would see other pixels.
- Sampling: one request per rollout, `SamplingParams(seed=rollout_seed, n=1)`, so a rollout does not depend on
  the batch it lands in. The checkpoint's generation_config is ignored (generation_config="vllm": no top_k or
  repetition penalty the trainer would not score), vision placeholders are pushed out with logit_bias -100 (HF
  generate suppresses them), stops are the adapter's stop ids. Same seeds as HF generate, other random streams:
  the engine's samples are not the HF path's samples.
- Weights: `sync_weights` pushes the whole HF state dict (LoRA merged as W + B @ A * scaling) through vLLM's
  in-place reload (`worker.reload_weights`): on CPU vLLM repacks linear weights into kernel formats after loading,
  so writing into the parameters would not reach the kernels; the reload restores, loads and repacks them. The
  prefix cache (KV of the old weights) and the vision-encoder cache are reset.
- Truncated importance sampling (`vllm_importance_sampling_correction`, TRL's correction): the engine's
  sampled-token log-probs come back with the completions; crpo.rl.algorithms.policy_loss weighs each token's loss by
  min(exp(logp_trainer_old - logp_engine), cap).
"""
from __future__ import annotations

import atexit
import os
import random

import numpy as np
import torch

from crpo.models.adapter import VIDEO_WRAPPER, stop_mask
from crpo.training.config import ConfigError

VISION_BIAS = -100.0  # the most negative logit_bias vLLM accepts: exp(-100) underflows in fp32 softmax


class EngineError(ConfigError):
    """vLLM missing, a setting it refuses, or a model it cannot load; a ConfigError, so `crpo train` prints one line."""


def make_rollout_engine(adapter, cfg):
    """The run's engine for `cfg.rollout_engine == "vllm"`, else None (HF generate)."""
    if cfg.rollout_engine != "vllm":
        return None
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.distributed.is_initialized():
        raise EngineError("rollout_engine=vllm with several processes needs the trainer's process group first "
                          "(make the Accelerator before the engine)")
    return VLLMEngine(adapter, cfg)


def launcher_kwargs() -> dict:
    """vLLM's arguments for this process: none for one process; with several (DDP / FSDP), one whole engine per
    process on the trainer's process group, as TRL's colocate mode.

    `external_launcher` makes the engine join the process group the launcher (torchrun, via accelerate) made
    instead of creating one, and tensor_parallel_size=1 keeps every engine a full copy with no collective in its
    forward passes, so each process samples only its own items' rollouts (their per-rollout seeds make them the
    one-process run's samples) and ranks may run different numbers of engine steps. vLLM reads RANK and
    LOCAL_RANK, which torchrun sets; set here from the process group when another launcher did not.
    """
    if not torch.distributed.is_initialized() or torch.distributed.get_world_size() == 1:
        return {}
    os.environ.setdefault("RANK", str(torch.distributed.get_rank()))
    os.environ.setdefault("LOCAL_RANK", os.environ["RANK"])
    return {"distributed_executor_backend": "external_launcher", "tensor_parallel_size": 1}


class VLLMEngine:
    """A vLLM `LLM` for `adapter`'s model, created once from cfg.model; `generate` syncs the policy's weights first."""

    def __init__(self, adapter, cfg, model_dir: str | None = None):
        try:
            import vllm
            vllm.LLM  # noqa: B018 (a folder named vllm on sys.path imports as an empty namespace package)
        except (ImportError, AttributeError) as e:
            raise EngineError(f"rollout_engine=vllm needs vLLM ({e}): build its environment with `make setup-vllm` "
                              "and run .venv-vllm/bin/crpo (docs/vllm.md)") from None
        if cfg.vllm_gpu_memory_utilization <= 0 or cfg.vllm_gpu_memory_utilization > 1:
            raise EngineError(f"vllm_gpu_memory_utilization is {cfg.vllm_gpu_memory_utilization}; it must be in (0, 1]")
        self.adapter, self.cfg = adapter, cfg
        self.model_dir = str(model_dir or cfg.model)
        # In process: weights are synced by reference (module docstring). Set, not defaulted: a worker process would
        # need the tensors serialised and the closures in apply_model / reload_weights pickled.
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # its per-request INFO lines drown the progress bar
        kv_bytes = int(cfg.vllm_kv_cache_gb * 2**30) or None
        # vLLM's CPU worker reseeds the global RNGs and replaces torch.set_num_threads with a warning; the trainer
        # keeps its own RNG streams and thread control.
        rng = torch.get_rng_state(), np.random.get_state(), random.getstate()
        set_num_threads = torch.set_num_threads
        # Sleep mode (GPU only: vLLM's CPU worker has none): between rollout phases the engine frees its weights and
        # KV cache, so the trainer's passes get the memory back (see generate).
        self.sleeps = bool(cfg.vllm_sleep) and torch.cuda.is_available()
        self.asleep = False
        try:
            self.llm = vllm.LLM(
                model=self.model_dir, dtype=cfg.dtype, seed=cfg.seed, max_model_len=cfg.vllm_max_model_len or None,
                gpu_memory_utilization=cfg.vllm_gpu_memory_utilization, kv_cache_memory_bytes=kv_bytes,
                enforce_eager=cfg.vllm_enforce_eager, limit_mm_per_prompt={"video": 1, "image": 0},
                generation_config="vllm", mm_device_do_normalize=False, logprobs_mode="processed_logprobs",
                disable_log_stats=True, **({"enable_sleep_mode": True} if self.sleeps else {}), **launcher_kwargs())
        except Exception as e:  # vLLM raises many types (ValueError, RuntimeError, OSError...): one line for all
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise EngineError(f"rollout_engine=vllm: vLLM could not load {self.model_dir}: {type(e).__name__}: "
                              f"{first[:400]}") from e
        finally:
            torch.set_num_threads = set_num_threads
            torch.set_rng_state(rng[0])
            np.random.set_state(rng[1])
            random.setstate(rng[2])
        self.synced_steps = 0  # weight syncs so far (tests and logs)
        self.last_sync_seconds = 0.0
        # Shut the engine down at exit before vLLM's own finalizer would: by then accelerate's end_training has
        # destroyed the default process group (vLLM created it in this process), and vLLM's teardown of its groups
        # raises "Invalid process group" from that finalizer.
        atexit.register(self.close)

    def close(self) -> None:
        """Release the engine (idempotent); its teardown of an already destroyed process group is not an error."""
        client = getattr(getattr(self, "llm", None), "llm_engine", None)
        client = getattr(client, "engine_core", None)
        if client is not None:
            try:
                client.shutdown()
            except (ValueError, RuntimeError, AssertionError):
                pass

    # --- generation

    def engine_prompt(self, prompt: str) -> str:
        """The text VideoLM.encode tokenises: Qwen3-VL's outer <|vision_start|>..<|vision_end|> pair collapsed
        (both transformers >= 5.10 and vLLM expand the bare <|video_pad|> into per-frame blocks)."""
        return prompt.replace(VIDEO_WRAPPER, "<|video_pad|>") if self.adapter.family == "qwen3_vl" else prompt

    def sampling_params(self, seed: int, logprobs: bool):
        from vllm import SamplingParams
        cfg = self.cfg
        return SamplingParams(
            n=1, seed=seed, temperature=cfg.temperature, top_p=cfg.top_p if cfg.temperature > 0 else 1.0, top_k=0,
            max_tokens=cfg.max_new_tokens, stop_token_ids=list(self.adapter.stop_ids), repetition_penalty=1.0,
            logit_bias={i: VISION_BIAS for i in self.adapter.vision_ids} or None, logprobs=0 if logprobs else None,
            detokenize=False, skip_special_tokens=True)

    def generate(self, prompts: list[str], clips: list, seeds: list[int], inputs: dict | None = None,
                 logprobs: bool | None = None, sync: bool = True):
        """Sample len(seeds) rollouts: rollout r shows prompts[r // G] with clips[r // G], G = len(seeds) / len(prompts).

        `inputs`: VideoLM.encode's rows for the same rollouts (left-padded input_ids [R, P]); every rollout's
        prompt token ids are checked against them. Returns completion_ids [R, T] right-padded with the pad id,
        completion_mask [R, T] (1 up to and including the first stop token), texts, and the engine's log-prob of
        each sampled token [R, T] (0 past the mask) when `logprobs` (default: the importance-sampling key), else None.
        """
        if len(prompts) != len(clips) or not prompts or len(seeds) % len(prompts):
            raise ValueError(f"engine.generate: {len(prompts)} prompts, {len(clips)} clips, {len(seeds)} seeds "
                             "(one prompt and clip per branch, the same number of seeds for each)")
        if self.asleep:  # weights first (the sync overwrites them anyway), then the KV cache
            self.llm.wake_up(tags=["weights"])
        self.last_sync_seconds = 0.0
        if sync:
            self.sync_weights()
        if self.asleep:
            self.llm.wake_up(tags=["kv_cache"])
            self.asleep = False
        logprobs = self.cfg.vllm_importance_sampling_correction if logprobs is None else logprobs
        g = len(seeds) // len(prompts)
        requests = []
        for prompt, clip in zip(prompts, clips):
            metadata = dict(clip.video_metadata(), do_sample_frames=False)  # frames arrive sampled (crpo.data.video)
            request = {"prompt": self.engine_prompt(prompt), "multi_modal_data": {"video": (clip.frames, metadata)}}
            requests += [request] * g
        outputs = self.llm.generate(requests, [self.sampling_params(s, logprobs) for s in seeds], use_tqdm=False)
        if self.sleeps and sync:  # level 2 drops the weights too: the next step reloads them before generating
            self.llm.sleep(level=2)
            self.asleep = True
        self.last_prompt_token_ids = [list(o.prompt_token_ids) for o in outputs]
        if inputs is not None:
            check_prompt_ids(self.last_prompt_token_ids, inputs)
        return self._completions([o.outputs[0] for o in outputs], logprobs)

    def _completions(self, outs, logprobs: bool):
        """vLLM's per-request outputs in adapter.generate's layout (and its texts, decoded the same way)."""
        tok, pad = self.adapter.tokenizer, self.adapter.pad_id
        width = max(1, max(len(o.token_ids) for o in outs))
        ids = torch.full((len(outs), width), pad, dtype=torch.long)
        logp = torch.zeros((len(outs), width)) if logprobs else None
        for r, o in enumerate(outs):
            ids[r, :len(o.token_ids)] = torch.tensor(o.token_ids, dtype=torch.long)
            if logprobs:
                logp[r, :len(o.token_ids)] = torch.tensor([step[t].logprob for step, t in zip(o.logprobs, o.token_ids)])
        mask = stop_mask(ids, self.adapter.stop_ids)
        lengths = [len(o.token_ids) for o in outs]
        mask = mask * (torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]).long()  # padding is not output
        ids = ids.masked_fill(mask == 0, pad)
        texts = tok.batch_decode([row[:m.sum()] for row, m in zip(ids, mask)], skip_special_tokens=True)
        device = self.adapter.device
        if logp is not None:
            logp = logp.masked_fill(mask == 0, 0.0).to(device)
        return ids.to(device), mask.to(device), texts, logp

    # --- weights

    @torch.no_grad()
    def sync_weights(self, model=None) -> None:
        """Load `model`'s (default: the policy's) current weights into the engine and drop caches built from old ones."""
        import logging
        import time
        t0 = time.perf_counter()
        state = hf_state_dict(self.adapter.model if model is None else model)
        # The reload warns once per weightless layer (rotary tables) that it "failed to load weights": it keeps them.
        reload_log = logging.getLogger("vllm.model_executor.model_loader.reload.layerwise")
        level, reload_log.level = reload_log.level, logging.ERROR
        try:
            self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": iter(state.items()),
                                                              "is_checkpoint_format": True})
        finally:
            reload_log.setLevel(level)
        # Both caches were built by the old weights: vision features (the scheduler's bookkeeping and the runner's
        # tensors: resetting only the runner's makes the scheduler skip an encode that is no longer there) and KV.
        self.llm.llm_engine.reset_encoder_cache()
        self.llm.reset_prefix_cache()
        self.synced_steps += 1
        self.last_sync_seconds = time.perf_counter() - t0  # the step profile books it apart from generation


def hf_state_dict(model) -> dict[str, torch.Tensor]:
    """The plain Hugging Face state dict of `model` (unwrapped policy), LoRA adapters merged: W + B @ A * scaling,
    computed from the state dict (crpo.training.checkpoint, as final/ is saved), without copying the model."""
    from crpo.parallel.distributed import whole
    from crpo.training.checkpoint import lora_scaling, merge_lora_state_dict
    model = getattr(model, "module", model)
    # FSDP2: every process's engine needs the whole tensors (every process syncs at the same point: a collective)
    state = {k: whole(v).detach() for k, v in model.state_dict().items()}
    if not hasattr(model, "peft_config"):
        return state
    try:
        return merge_lora_state_dict(state, lora_scaling(model))
    except ValueError as e:  # DoRA
        raise EngineError(f"rollout_engine=vllm: {e}") from None


def check_prompt_ids(engine_ids: list[list[int]], inputs: dict) -> None:
    """Raise when a rollout's prompt token ids in the engine differ from VideoLM.encode's row (left-padded)."""
    rows = inputs["input_ids"].cpu()
    keep = inputs["attention_mask"].cpu().bool()
    if len(engine_ids) != rows.shape[0]:
        raise EngineError(f"rollout_engine=vllm: {len(engine_ids)} engine prompts for {rows.shape[0]} encoded rows")
    for r, ids in enumerate(engine_ids):
        expected = rows[r][keep[r]].tolist()
        if ids != expected:
            at = next((i for i, (a, b) in enumerate(zip(ids, expected)) if a != b), min(len(ids), len(expected)))
            raise EngineError(f"rollout_engine=vllm: rollout {r}: the engine's prompt differs from VideoLM.encode's "
                              f"at token {at} of {len(expected)} ({len(ids)} in the engine); docs/vllm.md")

