"""What changes between one process, DDP, FSDP2 and DeepSpeed ZeRO-3: the Accelerator, generation on sharded
weights, gathering a full state dict, and failing every rank when one fails.

Everything else in the trainer is launcher-agnostic: the loss is computed the same way on every launcher, and
accelerate's gradient accumulation decides when gradients are synchronised and the optimizer steps.
"""
from __future__ import annotations

import os
import sys
import traceback
from contextlib import contextmanager, nullcontext

import torch


def make_accelerator(micro_batches: int = 1):
    """The run's Accelerator: `micro_batches` backward passes per optimizer step, one scheduler step per optimizer
    step on every launcher.

    - `step_scheduler_with_optimizer=False`: accelerate otherwise steps a prepared scheduler `num_processes` times
      per optimizer step (it assumes each process's dataloader batch grew the global batch); our step count is the
      RL step count, whatever the process count.
    - `gradient_accumulation_steps=micro_batches`: accelerate skips DDP's all-reduce and the optimizer step on all
      but the last micro-batch, and DeepSpeed's engine accumulates instead of stepping after every backward.
    - Several processes on a machine without an accelerator train over gloo: accelerate picks its multi-CPU mode
      only when asked for the CPU (otherwise every torchrun process believes it is alone and trains its own copy).
      accelerate has no FSDP on CPU: under an FSDP launch config (ACCELERATE_USE_FSDP) the state is switched to
      FSDP with the launcher's plugin, which torch's `fully_shard` runs over gloo. Asking for the CPU changes
      nothing where there is no accelerator to give up.
    """
    from accelerate import Accelerator
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    on_cpu = not torch.accelerator.is_available()
    if on_cpu and os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
        # accelerate's CPU mode would silently train plain DDP under a ZeRO-3 launch config
        from crpo.config import ConfigError
        raise ConfigError("DeepSpeed was requested (accelerate launch config) but this machine has no GPU: "
                           "accelerate has no DeepSpeed mode on CPU; use configs/accelerate/ddp.yaml or fsdp.yaml")
    accelerator = Accelerator(cpu=on_cpu, gradient_accumulation_steps=micro_batches,
                              step_scheduler_with_optimizer=False)
    if on_cpu and accelerator.num_processes > 1 and os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        from accelerate.state import PartialState
        accelerator.state.fsdp_plugin = FullyShardedDataParallelPlugin()  # reads the launcher's FSDP_* variables
        accelerator.state.distributed_type = DistributedType.FSDP
        # Every later AcceleratorState() copies PartialState's shared fields back in: set it there too, as
        # accelerate itself does when it picks FSDP.
        PartialState._shared_state["distributed_type"] = DistributedType.FSDP
    return accelerator


def is_sharded(accelerator) -> bool:
    """Whether parameters are partitioned over processes (FSDP, ZeRO-3): forward passes then run collectives."""
    from accelerate.utils import DistributedType
    if accelerator.distributed_type == DistributedType.FSDP:
        return True
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        return accelerator.state.deepspeed_plugin.zero_stage == 3
    return False


@contextmanager
def gathered_for_generation(model, accelerator):
    """Full weights on every process for the whole rollout phase, gathered once.

    Under FSDP2 / ZeRO-3 every forward re-gathers each layer's shards; a rollout is hundreds of forwards, so the
    weights are gathered once here and resharded after. (Sharded launchers also get `synced_gpus=True` in generate,
    see `generation_kwargs`, so that a process whose rows finish early keeps joining its peers' collectives.)
    """
    from accelerate.utils import DistributedType
    if accelerator.distributed_type == DistributedType.FSDP and accelerator.is_fsdp2:
        from torch.distributed.fsdp import FSDPModule
        units = [m for m in model.modules() if isinstance(m, FSDPModule)]
        # FSDP2 initialises its root lazily in the root's first forward. transformers' generate runs the vision
        # tower on its own first (get_video_features), whose blocks would then each become a root and the real
        # root's initialisation fail ("already been lazily initialized"): initialise from the root now.
        model._get_fsdp_state()._lazy_init()
        for unit in units:  # all unshards first: interleaving them with set_reshard_after_forward left the root's
            unit.unshard()  # parameters sharded (torch 2.14)
        for unit in units:
            unit.set_reshard_after_forward(False, recurse=False)
        try:
            yield
        finally:
            for unit in units:
                unit.set_reshard_after_forward(True, recurse=False)
                unit.reshard()
    elif is_sharded(accelerator):  # ZeRO-3
        import deepspeed
        with deepspeed.zero.GatheredParameters(list(model.parameters())):
            yield
    else:
        yield


def generation_kwargs(accelerator) -> dict:
    """`synced_gpus` for generate on sharded launchers: without it a process that finishes early stops calling
    forward, and its peers wait forever in the next all-gather."""
    return {"synced_gpus": True} if is_sharded(accelerator) and accelerator.num_processes > 1 else {}


def whole(tensor):
    """A DTensor's full tensor (FSDP2: a collective every process joins), any other tensor as it is."""
    from torch.distributed.tensor import DTensor
    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


def full_state_dict(accelerator, model) -> dict:
    """The model's full (unsharded) state dict on the main process, {} elsewhere; call it on every process.

    FSDP2: each DTensor is gathered in turn (a collective every process joins) and only the main process keeps it,
    on the CPU, so no process holds two full copies. ZeRO-3: DeepSpeed's consolidated state dict. Otherwise the
    unwrapped model's own tensors.
    """
    from accelerate.utils import DistributedType
    if accelerator.distributed_type == DistributedType.FSDP:
        out = {}
        for name, value in model.state_dict().items():
            full = whole(value)
            if accelerator.is_main_process:
                out[name] = full.detach().to("cpu", copy=True)
        return out
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        state = accelerator.get_state_dict(model)
        return state if accelerator.is_main_process else {}
    if not accelerator.is_main_process:
        return {}
    return {k: v.detach() for k, v in accelerator.unwrap_model(model).state_dict().items()}


def compute_context(dtype: str, device):
    """bf16 compute over fp32 master weights: autocast. float32: nothing to do."""
    if dtype == "bfloat16":
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
    return nullcontext()


def run_failing_fast(fn, *args, **kwargs):
    """Run `fn`; if it raises on any process, print the error with its rank and end the process at once.

    A rank that raises while its peers wait in a collective (all-reduce, all-gather) would otherwise leave them
    waiting forever: Python's normal exit runs the process group's teardown, which itself waits for the peers.
    `os._exit` skips it, so the launcher (torchrun) sees a failed worker and stops every other rank.
    """
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    try:
        return fn(*args, **kwargs)
    except BaseException as e:
        if world == 1 or isinstance(e, SystemExit) and not e.code:
            raise
        from crpo.config import ConfigError
        from crpo.data import DataError
        if isinstance(e, (ConfigError, DataError)):
            print(f"error (rank {rank} of {world}): {e}", file=sys.stderr, flush=True)
        else:
            traceback.print_exc()
            print(f"error (rank {rank} of {world}): {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(1)
