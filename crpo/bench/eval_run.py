"""What an evaluation folder holds and who writes it: OUT/eval_run.json and OUT/eval.lock.

    with eval_lock(out):                    # a second `crpo eval` on the same --out stops with one line
        check_manifest(out, manifest(...))  # predictions of another model or settings are never resumed

Resuming is what makes `crpo eval` safe to kill; it is also what made two mistakes silent. Two processes on one
--out both appended every prediction (each id twice), and an --out holding another model's predictions was
"resumed": nothing evaluated, the old model's metrics reported. So:

- the lock is an advisory `flock` on OUT/eval.lock, held from before the first read of OUT until metrics.json is
  written; the kernel releases it when the holder dies (a SIGKILLed run never leaves a stale lock). Under
  `accelerate launch` the main process holds it for all ranks (the others start only after it has it).
- eval_run.json records the model (its absolute path and the size and modification time of its weight and config
  files: a retrained model at the same path is another model) and every setting that changes an output (bench,
  format, frames, pixels, answer format, null option, max_new_tokens, dtype). A run whose manifest differs stops
  before the model loads, naming what differs and how to start fresh. Settings that do not change an output
  (batch size, device, process count, --limit) are not recorded. A folder whose predictions predate the manifest
  (an older crpo) adopts this run's.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from crpo.data.items import DataError

MANIFEST = "eval_run.json"
LOCK = "eval.lock"
_MODEL_FILES = (".safetensors", ".bin", ".json", ".model")


def model_fingerprint(model) -> dict:
    """{file name: [size, mtime_ns]} of a model directory's weights and configs (cheap: no file is read)."""
    path = Path(model)
    if not path.is_dir():
        return {}
    return {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(path.iterdir())
            if p.is_file() and p.name.endswith(_MODEL_FILES)}


def manifest(model, bench, **settings) -> dict:
    """The identity of an evaluation: the model (path + fingerprint), the bench and every output-changing setting."""
    return {"model": str(Path(model).resolve()), "model_files": model_fingerprint(model),
            "bench": str(Path(bench).resolve()), **settings}


def _differences(old: dict, new: dict) -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) == new.get(key):
            continue
        if key == "model_files":
            if old.get("model") == new.get("model"):
                out.append("the model's files changed since (retrained or replaced)")
            continue
        out.append(f"{key} was {old.get(key)!r}, now {new.get(key)!r}")
    return out


def has_predictions(out: Path) -> bool:
    return any(p.stat().st_size > 0 for p in [out / "predictions.jsonl", *out.glob("predictions.rank*.jsonl")]
               if p.is_file())


def check_manifest(out, current: dict) -> None:
    """Write OUT/eval_run.json for a new folder; for a folder with one, stop (DataError) unless it equals `current`.
    Call it before anything is read from OUT for resuming."""
    out = Path(out)
    path = out / MANIFEST
    if path.is_file():
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise DataError(f"{path}: not an evaluation manifest ({e}); delete {out} to start fresh") from None
        diff = _differences(saved, current) if isinstance(saved, dict) else ["it is not a JSON object"]
        if diff and has_predictions(out):
            raise DataError(f"{out} holds predictions of another evaluation ({'; '.join(diff)}): evaluate into "
                            f"another --out, or delete {out} to start fresh")
        if not diff:
            return
    elif has_predictions(out):
        import sys
        print(f"note: {out} holds predictions without {MANIFEST} (an older crpo): resuming them as this model's "
              "and settings'", file=sys.stderr)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(current, indent=1), encoding="utf-8")
    os.replace(tmp, path)


@contextmanager
def eval_lock(out):
    """Hold OUT/eval.lock for the block; DataError naming the lock (and its holder's pid) when another process
    holds it."""
    import fcntl

    path = Path(out) / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise DataError(f"{path}: another `crpo eval` ({holder}) is writing into {Path(out)}; wait for it to "
                            "finish, or evaluate into another --out") from None
        started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {os.uname().nodename}, started {started}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock
