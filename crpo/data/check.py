"""`crpo data check`: every bad row of an items file, one line each (file:line: reason); the good rows kept.

    crpo data check items.jsonl --video-root /data/videos --out items.clean.jsonl [--strict] [--model DIR]

Unlike `load_items`, which stops at the first bad row, this collects all of them: invalid JSON, missing fields,
unknown problem types, answers not among the options, duplicate ids, counterfactual annotations the router cannot
read, missing videos, videos PyAV cannot open (the container and stream headers are read, not the frames), videos
cut short (an index that places packets past the end of the file: `crpo.data.video.truncation_problem`), and questions
too long for a prompt (`--max-text-tokens`, counted with the tokenizer of `--model`, else estimated:
crpo/data/text_budget.py). An empty file is an error.

A video path is joined to the video root as the loaders join it: a symlink inside the root, or a file outside it
that the path reaches with `..` (the twins `crpo bench build --materialize` writes beside the bench), is good when
it exists; the root is never resolved through symlinks.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from crpo.data.annotations import check_annotation
from crpo.data.items import DataError, item_from_json, open_text, write_jsonl
from crpo.data.text_budget import DEFAULT_MAX_TEXT_TOKENS, estimated_tokens, text_problem


def video_problem(item, video_root: Path) -> str | None:
    """Why the item's video is unusable, or None."""
    root = Path(os.path.abspath(video_root))
    path = Path(os.path.normpath(root / item.video))  # lexical: symlinks are followed only when the file is opened
    if not path.is_file():
        if not path.is_relative_to(root):
            return f"video path '{item.video}' escapes the video root {root} and no file is there"
        return f"video '{item.video}' not found under {root}"
    import av

    from crpo.data.video import truncation_problem
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return f"video '{item.video}' has no video stream"
            stream = container.streams.video[0]
            problem = truncation_problem(str(path), stream) or short_stream_problem(container, stream)
            if problem is not None:
                return f"video '{item.video}' is {problem}"
    except (av.FFmpegError, OSError) as e:
        return f"video '{item.video}' cannot be opened ({e})"
    return None


def short_stream_problem(container, stream) -> str | None:
    """For a container without a per-packet index (Matroska / WebM index keyframes only): why its packets end well
    before the duration its header declares (a cut file), or None. Demuxes without decoding."""
    if stream.frames and len(stream.index_entries) >= stream.frames:
        return None  # indexed packet by packet: `truncation_problem` has already read it
    tb = float(stream.time_base)
    declared = stream.duration * tb if stream.duration else (container.duration or 0) / 1e6
    fps = float(stream.average_rate or stream.guessed_rate or 0)
    if declared <= 0 or fps <= 0:
        return None
    t0, end = stream.start_time or 0, 0.0
    for packet in container.demux(stream):
        if packet.pts is not None:
            end = max(end, (packet.pts - t0 + (packet.duration or 0)) * tb)
    if declared - end > max(2 / fps, 0.02 * declared):
        return f"truncated: its packets end at {end:.2f} s, its header declares {declared:.2f} s"
    return None


def check_file(path, video_root, strict: bool = False, out=None, max_text_tokens: int = DEFAULT_MAX_TEXT_TOKENS,
               count_tokens=estimated_tokens) -> int:
    """`count_tokens(text)`: the tokenizer-free estimate, or a model's exact count (crpo.models.local
    `token_counter`, which `crpo data check --model DIR` passes)."""
    path, video_root = Path(path), Path(video_root)
    if not video_root.is_dir():
        raise DataError(f"--video-root {video_root}: no such directory")
    count = count_tokens
    good, bad, ids = [], 0, {}
    with open_text(path) as f:
        try:
            lines = f.read().split("\n")
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not UTF-8 text ({e.reason})") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            item = item_from_json(json.loads(line), where)
            if item.id in ids:
                raise DataError(f"{where}: duplicate id '{item.id}' (first on line {ids[item.id]})")
            if (problem := text_problem(item, max_text_tokens, count)) is not None:
                raise DataError(f"{where}: {problem} (--max-text-tokens)")
            try:  # an annotation the router cannot read stops training and eval, so here too
                check_annotation(item)
            except DataError as e:
                raise DataError(f"{where}: {e}") from None
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
        ids[item.id] = lineno
        good.append(item)
    if not good and not bad:
        raise DataError(f"{path}: no items (the file is empty)")
    if out:
        write_jsonl(out, good)
    print(f"{path}: {len(good)} good rows, {bad} bad" + (f"; good rows written to {out}" if out else ""),
          file=sys.stderr)
    return 1 if strict and bad else 0
