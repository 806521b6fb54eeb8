"""Checkpoints that a crash can never half-write, and the final `from_pretrained`-loadable model.

`output_dir/checkpoint-N/` holds accelerate's full training state (model, optimizer, scheduler, every process's
RNG states) plus `trainer_state.json` (the step, which is also the data position). It is written into
`checkpoint-N.tmp/` and renamed when complete, so a run killed mid-save resumes from the previous checkpoint.
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
                    processor=None) -> Path:
    """Write checkpoint-N atomically. With `model` and `processor` (full fine-tuning), its config and processor
    files go along, so checkpoint-N is also a model `from_pretrained` loads (accelerate's pytorch_model.bin holds
    the plain state dict); a LoRA checkpoint holds adapter keys only and is left as training state alone."""
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
        if unwrapped is not None and not hasattr(unwrapped, "peft_config"):
            unwrapped.config.save_pretrained(tmp)
            unwrapped.generation_config.save_pretrained(tmp)
            processor.save_pretrained(tmp)
        (tmp / "trainer_state.json").write_text(json.dumps({"step": step, **(extra_state or {})}))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator, path) -> dict:
    """Restore model, optimizer, scheduler and RNG states; returns trainer_state.json."""
    accelerator.load_state(str(path))
    return json.loads((Path(path) / "trainer_state.json").read_text())


def save_final(accelerator, model, processor, output_dir) -> Path:
    """`output_dir/final/`: a plain model loadable by from_pretrained (LoRA adapters merged into the weights)."""
    final = Path(output_dir) / "final"
    tmp = Path(output_dir) / "final.tmp"
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        if hasattr(unwrapped, "merge_and_unload"):  # peft: merge a copy so the training model is left as it is
            import copy
            unwrapped = copy.deepcopy(unwrapped).merge_and_unload()
        shutil.rmtree(tmp, ignore_errors=True)
        unwrapped.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    accelerator.wait_for_everyone()
    return final
