"""`crpo data check`: every bad row of an items file, one line each (file:line: reason); the good rows kept.

    crpo data check items.jsonl --video-root /data/videos --out items.clean.jsonl [--strict]

Unlike `load_items`, which stops at the first bad row, this collects all of them: invalid JSON, missing fields,
unknown problem types, answers not among the options, video paths that escape the video root, missing videos, and
videos PyAV cannot open (the container and stream headers are read, not the frames).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from crpo.data import DataError, item_from_json, write_jsonl


def video_problem(item, video_root: Path) -> str | None:
    """Why the item's video is unusable, or None."""
    root = video_root.resolve()
    path = (root / item.video).resolve()
    if not path.is_relative_to(root):
        return f"video path '{item.video}' escapes the video root {root}"
    if not path.is_file():
        return f"video '{item.video}' not found under {root}"
    import av
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return f"video '{item.video}' has no video stream"
    except (av.FFmpegError, OSError) as e:
        return f"video '{item.video}' cannot be opened ({e})"
    return None


def check_file(path, video_root, strict: bool = False, out=None) -> int:
    path, video_root = Path(path), Path(video_root)
    good, bad, ids = [], 0, set()
    lines = path.read_text(encoding="utf-8").split("\n")
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            item = item_from_json(json.loads(line), where)
            if item.id in ids:
                raise DataError(f"{where}: duplicate id '{item.id}'")
            if (problem := video_problem(item, video_root)) is not None:
                raise DataError(f"{where}: {problem}")
        except json.JSONDecodeError as e:
            bad += 1
            print(f"{where}: invalid JSON ({e.msg})", file=sys.stderr)
            continue
        except DataError as e:
            bad += 1
            print(str(e), file=sys.stderr)
            continue
        ids.add(item.id)
        good.append(item)
    if out:
        write_jsonl(out, good)
    print(f"{path}: {len(good)} good rows, {bad} bad" + (f"; good rows written to {out}" if out else ""),
          file=sys.stderr)
    return 1 if strict and bad else 0
