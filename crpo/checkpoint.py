"""Checkpoints that a crash can never half-write, and the final `from_pretrained`-loadable model.

`output_dir/checkpoint-N/` holds accelerate's full training state (model, optimizer, scheduler, every process's
RNG states) plus `trainer_state.json` (the step, which is also the data position). It is written into
`checkpoint-N.tmp/` and renamed when complete, so a run killed mid-save resumes from the previous checkpoint.
Under FSDP and ZeRO-3 accelerate writes the model and optimizer sharded (one file per process); resuming on the same
launcher and process count restores them. `save_total_limit` keeps the newest N checkpoints.

`final/` is gathered on every process (crpo.distributed.full_state_dict) and written by the main process, so it is
a whole model on every launcher; LoRA adapters are merged into a copy of the state dict, never of the model.
"""
from __future__ import annotations

import json
import os
import re
import shutil
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


def save_checkpoint(accelerator, output_dir, step: int, extra_state: dict | None = None, model=None,
                    processor=None, keep: int = 0) -> Path:
    """Write checkpoint-N atomically, then delete all but the newest `keep` checkpoints (0 = keep all). With
    `model` and `processor` (full fine-tuning on an unsharded launcher), its config and processor files go along,
    so checkpoint-N is also a model `from_pretrained` loads (accelerate's pytorch_model.bin holds the plain state
    dict); a LoRA or sharded checkpoint is training state only (final/ is the model)."""
    from crpo.distributed import is_sharded
    final = Path(output_dir) / f"checkpoint-{step}"
    tmp = Path(output_dir) / f"checkpoint-{step}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    # Tied embeddings share storage, which safetensors refuses; torch's format keeps them exact.
    accelerator.save_state(str(tmp), safe_serialization=False)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model) if model is not None else None
        if unwrapped is not None and not hasattr(unwrapped, "peft_config") and not is_sharded(accelerator):
            unwrapped.config.save_pretrained(tmp)
            unwrapped.generation_config.save_pretrained(tmp)
            processor.save_pretrained(tmp)
        (tmp / "trainer_state.json").write_text(json.dumps({"step": step, **(extra_state or {})}))
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
    from crpo.distributed import full_state_dict

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
