"""Where a model comes from: a local directory, never the hub unless a user asks for it.

    path = model_source("runs/crpo/final")      # the directory, or a one-line DataError saying what is wrong
    allow_download()                             # CRPO_ALLOW_DOWNLOADS=1 (and HF_HUB_OFFLINE unset)

transformers' `from_pretrained("models/nope")` treats a path that does not exist as a hub id, tries huggingface.co
and fails after a long traceback (or, worse, downloads a model the user did not mean). crpo checks the path first:

- an existing directory with a model's config.json is loaded, with `local_files_only=True`;
- a training run's folder (config.json of a run, or a final/ inside) names the model inside it;
- anything else is an error naming the path and the reason, unless CRPO_ALLOW_DOWNLOADS=1 is set and the name
  has the form of a hub id (org/name): only then does transformers fetch it into the Hugging Face cache (or read
  it from there). HF_HUB_OFFLINE=1 (the tests and `crpo demo` set it) wins over CRPO_ALLOW_DOWNLOADS.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from crpo.data.items import DataError, Item
from crpo.data.text_budget import check_text_budget, estimated_tokens, tokenizer_count

ALLOW_DOWNLOADS_ENV = "CRPO_ALLOW_DOWNLOADS"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _on(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def allow_download() -> bool:
    """Whether a hub id may be fetched: CRPO_ALLOW_DOWNLOADS=1 and not HF_HUB_OFFLINE=1."""
    return _on(ALLOW_DOWNLOADS_ENV) and not _on("HF_HUB_OFFLINE")


def _run_config(path: Path) -> bool:
    """Whether `path` is the config.json crpo writes into a training run's output_dir (not a model's)."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    # TrainConfig has `algorithm`, SFTConfig `loss_on`; a model's config.json has neither
    return isinstance(saved, dict) and ("algorithm" in saved or "loss_on" in saved)


def model_source(model, what: str | None = None) -> str:
    """`model` as from_pretrained should get it; DataError (one line: `what`, e.g. "--model runs/x", the path and
    the reason) when it cannot be a model. See the module docstring for when a hub id is allowed."""
    what = what or f"model '{model}'"
    if not str(model).strip():
        raise DataError(f"{what}: no model given (a local model directory, e.g. runs/train/final)")
    path = Path(model)
    if path.is_dir():
        config = path / "config.json"
        if config.is_file() and not _run_config(config):
            return str(path)
        if (path / "final" / "config.json").is_file():
            raise DataError(f"{what}: a training run's folder, not a model: its model is {path / 'final'}")
        checkpoints = sorted(path.glob("checkpoint-*/config.json"), key=lambda p: _step(p.parent.name))
        if checkpoints:
            raise DataError(f"{what}: a training run's folder, not a model, with no final/ yet; a checkpoint is a "
                            f"model, e.g. {checkpoints[-1].parent}")
        raise DataError(f"{what}: not a model directory (no config.json in it)")
    if path.exists():
        raise DataError(f"{what}: is a file, not a model directory")
    if allow_download() and _HUB_ID.match(str(model)):
        return str(model)
    hint = ""
    if _HUB_ID.match(str(model)):
        hint = (f"; {ALLOW_DOWNLOADS_ENV}=1 is set, but so is HF_HUB_OFFLINE=1" if _on(ALLOW_DOWNLOADS_ENV) else
                f"; {ALLOW_DOWNLOADS_ENV}=1 lets transformers fetch a hub id such as Qwen/Qwen3-VL-8B-Instruct")
    raise DataError(f"{what}: no such directory (crpo loads local model directories and never downloads by "
                    f"default{hint})")


def _step(name: str) -> int:
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def from_pretrained_kwargs() -> dict:
    """`local_files_only` unless downloads are allowed: a directory never needs the hub."""
    return {"local_files_only": not allow_download()}


def load_error(model, e: Exception) -> DataError:
    """A failed from_pretrained of an existing directory as one line (a missing weight file, a foreign config)."""
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return DataError(f"model '{model}': cannot load it ({first})")


# ---------------------------------------------------------------------------------------------------------------
# The model's own tokenizer, for the prompt-length checks before any model loads (crpo/data/text_budget.py)

def check_model_texts(model, items: list[Item], texts: list[str], limit: int, source, key: str) -> None:
    """`check_text_budget` with the tokenizer of the local model directory `model` (loaded alone: no weights)."""
    if not limit or not items:
        return
    check_text_budget(items, texts, load_tokenizer(model), limit, source, key)


def token_counter(model):
    """Tokens of a text by the tokenizer of the local model directory `model` (its exact count), else the
    tokenizer-free estimate."""
    return tokenizer_count(load_tokenizer(model)) if model else estimated_tokens


def load_tokenizer(model):
    """The tokenizer of the local model directory `model` (no weights loaded); one DataError line otherwise."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(model_source(model), **from_pretrained_kwargs())
    except (OSError, ValueError, KeyError) as e:
        raise load_error(model, e) from None
