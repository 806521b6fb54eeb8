"""What changes between one process, DDP, FSDP2 and DeepSpeed ZeRO-3: the Accelerator, generation on sharded
weights, gathering a full state dict, failing every rank when one fails, and what several machines need (a launch
that really joined them, small objects passed over the process group instead of through a shared disk).

Everything else in the trainer is launcher-agnostic: the loss is computed the same way on every launcher, and
accelerate's gradient accumulation decides when gradients are synchronised and the optimizer steps.
"""
from __future__ import annotations

import os
import sys
import traceback
from contextlib import contextmanager, nullcontext
from pathlib import Path

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
        from crpo.data.items import ConfigError
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
    check_world_size(accelerator.num_processes)
    return accelerator


def launch_mismatch(env, num_processes: int) -> str | None:
    """Why this process's group does not hold the processes its launcher asked for, or None when it does.

    - torchrun (`accelerate launch` with a multi-process config) exports WORLD_SIZE: the group must have that size.
      (mpirun exports its own variables instead, which accelerate reads: no WORLD_SIZE, nothing to compare.)
    - `accelerate launch --cpu --num_processes N` or `--num_machines M` does not start torchrun: it runs ONE
      process per command with MASTER_ADDR set and no WORLD_SIZE. Two machines' commands then train two
      independent copies into one output_dir (every metrics row twice, final/ written twice) without an error.
      Its trace: ACCELERATE_USE_CPU=True and MASTER_ADDR (accelerate sets it only for several processes or
      machines) in a group of one.
    """
    if "WORLD_SIZE" in env and int(env["WORLD_SIZE"]) != num_processes:
        return (f"the launcher started {env['WORLD_SIZE']} processes (WORLD_SIZE) but this process's group has "
                f"{num_processes}: the processes did not join one run")
    if num_processes == 1 and env.get("ACCELERATE_USE_CPU", "").lower() == "true" and "MASTER_ADDR" in env:
        return ("`accelerate launch --cpu` with several processes or machines starts one independent process per "
                "command (each would train its own copy into the same output_dir): launch with --config_file "
                "configs/accelerate/ddp.yaml (or fsdp.yaml) instead of --cpu, which trains over gloo on a machine "
                "without GPUs (docs/launchers.md); for one process, unset MASTER_ADDR")
    return None


def check_world_size(num_processes: int) -> None:
    """Stop with one line when the launch did not join the processes it asked for (`launch_mismatch`)."""
    if (reason := launch_mismatch(os.environ, num_processes)) is not None:
        from crpo.data.items import ConfigError
        raise ConfigError(reason)


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


def gather_to_main(obj) -> list | None:
    """Every process's `obj` (small and picklable) on the main process, in rank order; None on the others. It
    travels over the process group, so it needs no disk the processes share. Call it on every process."""
    import torch.distributed as dist
    if not dist.is_available() or not dist.is_initialized() or dist.get_world_size() == 1:
        return [obj]
    received = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(obj, received, dst=0)
    return received


def union_over_processes(keys) -> set:
    """The union of every process's `keys` on every process: what one node's files hold, every node then knows."""
    import torch.distributed as dist
    if not dist.is_available() or not dist.is_initialized() or dist.get_world_size() == 1:
        return set(keys)
    received = [None] * dist.get_world_size()
    dist.all_gather_object(received, sorted(keys))
    return set().union(*received)


def copy_to_main(directory, pattern: str) -> list[Path]:
    """Put the files matching `pattern` in each process's `directory` (each node reads its own disk) into the main
    process's `directory`, whether or not the nodes share a disk; returns the copies written (main process; []
    elsewhere). Call it on every process. For small files: predictions, logs.

    The first process of each node sends its files (names and bytes, over the process group). The main process
    skips a file it holds with the same bytes (a shared disk) and writes any other as `<stem>.from-rank<K><suffix>`,
    never over a file of its own, so two versions of a file (an earlier run's, on two nodes) both survive for the
    caller to merge.
    """
    from accelerate import PartialState
    directory = Path(directory)
    sent = [(p.name, p.read_bytes()) for p in sorted(directory.glob(pattern)) if p.is_file()] \
        if PartialState().is_local_main_process else []
    received = gather_to_main(sent)
    if received is None:
        return []
    written = []
    for rank, files in enumerate(received):
        for name, data in files:
            path = directory / name
            if rank == 0 or path.is_file() and path.read_bytes() == data:
                continue
            copy = path.with_name(f"{path.stem}.from-rank{rank}{path.suffix}")
            tmp = copy.with_name(copy.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, copy)
            written.append(copy)
    return written


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
        from crpo.data.items import ConfigError, DataError
        if isinstance(e, (ConfigError, DataError)):
            print(f"error (rank {rank} of {world}): {e}", file=sys.stderr, flush=True)
        else:
            traceback.print_exc()
            print(f"error (rank {rank} of {world}): {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(1)
