"""Checkpoints that a crash can never half-write, and the final `from_pretrained`-loadable model.

`output_dir/checkpoint-N/` holds accelerate's full training state (model, optimizer, scheduler, every process's
RNG states) plus `trainer_state.json` (the step, which is also the data position). It is written into
`checkpoint-N.tmp/` and renamed when complete, so a run killed mid-save resumes from the previous checkpoint.
Under FSDP and ZeRO-3 accelerate writes the model and optimizer sharded (one file per process); resuming on the same
launcher and process count restores them. `save_total_limit` keeps the newest N checkpoints.

`final/` is gathered on every process (crpo.parallel.distributed.full_state_dict) and written by the main process, so it is
a whole model on every launcher; LoRA adapters are merged into a copy of the state dict, never of the model.

Several nodes: the main process (rank 0) writes the run (checkpoints, final/, metrics.jsonl, config.json); each
process adds only its RNG state to checkpoint-N (accelerate), which resuming does not need (rollouts are seeded per
rollout, crpo.training.sampling). So nodes need not share a disk to train: the main node's output_dir holds everything
and the others keep nothing (their part of checkpoint-N.tmp is removed). To resume, every process loads the main
process's newest checkpoint, so every node must see it at the same path (a shared disk, or a copy on each node):
`check_output_dir` checks that on every process before training and stops every rank with one line if one cannot.
FSDP and ZeRO-3 write each process's shard of the model and optimizer into its own output_dir: they need a shared
one, which is checked at start too.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import uuid
from pathlib import Path

_CKPT = re.compile(r"^checkpoint-(\d+)$")


def latest_checkpoint(output_dir) -> Path | None:
    """The complete checkpoint with the highest step, or None."""
    found = []
    for path in Path(output_dir).glob("checkpoint-*"):
        m = _CKPT.match(path.name)
        if m and (path / "trainer_state.json").exists():
            found.append((int(m.group(1)), path))
    return max(found)[1] if found else None


def ranks_not_seeing(accelerator, output_dir, files: dict[str, int | str] | None = None) -> list[tuple[int, str]]:
    """The processes (rank, host) that do not see in `output_dir` what the main process sees: `files`
    ({path relative to output_dir: its size, or its whole text}, as the main process sees them), or by default a
    probe file the main process writes now. The same list on every process; call it on every process.

    The probe has a fresh random name, so no cached directory entry (NFS) can answer for it.
    """
    from accelerate.utils import broadcast_object_list, gather_object
    out = Path(output_dir)
    probe = None
    if files is None:
        [probe] = broadcast_object_list([f".crpo-probe-{uuid.uuid4().hex}" if accelerator.is_main_process else None])
        files = {probe: "written by the main process to learn which processes share this directory\n"}
        if accelerator.is_main_process:
            out.mkdir(parents=True, exist_ok=True)
            (out / probe).write_text(files[probe])
        accelerator.wait_for_everyone()

    def same(path: Path, expected) -> bool:
        if not path.is_file():
            return False
        return path.read_text() == expected if isinstance(expected, str) else path.stat().st_size == expected

    sees = all(same(out / name, expected) for name, expected in files.items())
    blind = gather_object([None if sees else (accelerator.process_index, socket.gethostname())])
    if probe is not None:
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            (out / probe).unlink()
    return [b for b in blind if b is not None]


def _named(blind: list[tuple[int, str]]) -> str:
    return ", ".join(f"rank {rank} on {host}" for rank, host in blind)


def checkpoint_files(path) -> dict[str, int | str]:
    """What identifies a checkpoint: {file relative to output_dir: size}, with trainer_state.json by its text (its
    save_id tells this save from any other). The processes' RNG states are left out: each process writes its own
    into its own output_dir, and resuming does not need them."""
    path = Path(path)
    return {str(f.relative_to(path.parent)): f.read_text() if f.name == "trainer_state.json" else f.stat().st_size
            for f in sorted(path.rglob("*")) if f.is_file() and not f.name.startswith("random_states_")}


def check_output_dir(accelerator, output_dir, resume: bool) -> Path | None:
    """Before training, on every process: can this run save and resume where its processes run? Returns the
    checkpoint every process resumes from (the main process's newest; None: start at step 0), else raises
    ConfigError with one line on every process. See the module docstring for the policy."""
    from accelerate.utils import broadcast_object_list

    from crpo.data.items import ConfigError
    from crpo.parallel.distributed import is_sharded

    if accelerator.num_processes == 1:
        return latest_checkpoint(output_dir) if resume else None
    if is_sharded(accelerator) and (blind := ranks_not_seeing(accelerator, output_dir)):
        raise ConfigError(f"{output_dir}: {_named(blind)} cannot see the main process's output_dir, and FSDP / "
                          "ZeRO-3 write each process's shard of a checkpoint into it: put output_dir on a disk "
                          "every node shares (docs/launchers.md)")
    if not resume:
        return None
    found = latest_checkpoint(output_dir) if accelerator.is_main_process else None
    [found] = broadcast_object_list([found])
    if found is None:
        return None
    files = checkpoint_files(found) if accelerator.is_main_process else None
    [files] = broadcast_object_list([files])
    if blind := ranks_not_seeing(accelerator, output_dir, files):
        raise ConfigError(f"{found}: resume=true, but {_named(blind)} cannot see this checkpoint as the main "
                          "process wrote it (missing or different files): every node resumes from the main "
                          "process's newest checkpoint, so every node's output_dir must hold it (a shared disk, or "
                          "a copy: docs/launchers.md)")
    return Path(output_dir) / found.name  # this process's view of it (the same path, where nodes share a disk)


def save_checkpoint(accelerator, output_dir, step: int, extra_state: dict | None = None, model=None,
                    processor=None, keep: int = 0) -> Path:
    """Write checkpoint-N atomically, then delete all but the newest `keep` checkpoints (0 = keep all). With
    `model` and `processor` (full fine-tuning on an unsharded launcher), its config and processor files go along,
    so checkpoint-N is also a model `from_pretrained` loads (accelerate's pytorch_model.bin holds the plain state
    dict); a LoRA or sharded checkpoint is training state only (final/ is the model)."""
    from crpo.parallel.distributed import is_sharded
    final = Path(output_dir) / f"checkpoint-{step}"
    tmp = Path(output_dir) / f"checkpoint-{step}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    # Whether this process's node has a disk of its own, learned afresh at each save (cheap next to the save): a
    # node removes only a checkpoint-N.tmp that is its own, never the main process's on a disk it shares.
    own_disk = accelerator.num_processes > 1 and any(
        rank == accelerator.process_index for rank, _ in ranks_not_seeing(accelerator, output_dir))
    accelerator.wait_for_everyone()
    # Tied embeddings share storage, which safetensors refuses; torch's format keeps them exact.
    accelerator.save_state(str(tmp), safe_serialization=False)
    accelerator.wait_for_everyone()
    if own_disk and accelerator.is_local_main_process:
        shutil.rmtree(tmp, ignore_errors=True)  # this node's RNG states, not needed to resume (module docstring)
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model) if model is not None else None
        if unwrapped is not None and not hasattr(unwrapped, "peft_config") and not is_sharded(accelerator):
            unwrapped.config.save_pretrained(tmp)
            unwrapped.generation_config.save_pretrained(tmp)
            processor.save_pretrained(tmp)
        # save_id: a copy of another save with the same step (an earlier run's) differs from this one
        (tmp / "trainer_state.json").write_text(json.dumps({"step": step, "save_id": uuid.uuid4().hex,
                                                            **(extra_state or {})}))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        if keep:
            rotate_checkpoints(output_dir, keep)
    accelerator.wait_for_everyone()
    return final


def rotate_checkpoints(output_dir, keep: int) -> list[Path]:
    """Delete complete checkpoints but the newest `keep`; returns the deleted ones. A half-written `.tmp` is never
    counted (it is replaced by the next save)."""
    found = sorted((int(m.group(1)), p) for p in Path(output_dir).glob("checkpoint-*")
                   if (m := _CKPT.match(p.name)) and (p / "trainer_state.json").exists())
    old = [p for _, p in found[:-keep]] if len(found) > keep else []
    for path in old:
        shutil.rmtree(path)
    return old


def load_checkpoint(accelerator, path) -> dict:
    """Restore model, optimizer, scheduler and RNG states; returns trainer_state.json."""
    accelerator.load_state(str(path))
    return json.loads((Path(path) / "trainer_state.json").read_text())


def merge_lora_state_dict(state: dict, scaling: float) -> dict:
    """A peft LoRA model's state dict as the plain base model's: W + scaling * B @ A in each adapted layer (computed
    in fp32, stored in W's dtype, as peft's merge does), adapter keys dropped, peft's prefixes removed."""
    prefix = "base_model.model."
    out = {}
    for key, value in state.items():
        if ".lora_A." in key or ".lora_B." in key:
            continue
        name = key[len(prefix):] if key.startswith(prefix) else key
        if ".base_layer." in name:
            layer = key[: key.index(".base_layer.")]
            name = name.replace(".base_layer.", ".")
            if key.endswith(".base_layer.weight"):
                a, b = state[f"{layer}.lora_A.default.weight"], state[f"{layer}.lora_B.default.weight"]
                value = (value.float() + scaling * (b.float() @ a.float())).to(value.dtype)
        out[name] = value
    return out


def lora_scaling(peft_model) -> float:
    cfg = peft_model.peft_config["default"]
    if getattr(cfg, "use_dora", False):
        raise ValueError("saving final/ merges plain LoRA only; DoRA adapters are not supported")
    return cfg.lora_alpha / (cfg.r ** 0.5 if cfg.use_rslora else cfg.r)


def save_final(accelerator, model, processor, output_dir) -> Path:
    """`output_dir/final/`: a plain model loadable by from_pretrained (LoRA adapters merged into the weights).
    Call on every process: the weights are gathered first (see the module docstring)."""
    from crpo.parallel.distributed import full_state_dict

    final = Path(output_dir) / "final"
    tmp = Path(output_dir) / "final.tmp"
    accelerator.wait_for_everyone()
    state = full_state_dict(accelerator, model)
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        if hasattr(unwrapped, "peft_config"):
            state = merge_lora_state_dict(state, lora_scaling(unwrapped))
            unwrapped = unwrapped.get_base_model()
        shutil.rmtree(tmp, ignore_errors=True)
        unwrapped.save_pretrained(tmp, state_dict=state)
        processor.save_pretrained(tmp)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    accelerator.wait_for_everyone()
    return final
