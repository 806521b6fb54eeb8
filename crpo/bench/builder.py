"""Turn an annotated video-QA set into a DyBench-style paired benchmark.

    crpo bench build --items items.jsonl --video-root videos/ --out bench/ [--materialize]

Every item whose counterfactual the router knows gets a twin, and the two share a pair_id (the original's id):
- the transform is `crpo.routing.rules.choose_transform(item)`: a reversal when it changes the answer, else a mirror whose
  relation is "change" or "same"; a static item thus gets an invariance twin with the same answer, a dynamic one a
  twin whose gold answer is the counterfactual answer `crpo.routing.rules.relation(item, transform)` gives;
- items the router cannot pair (relation unknown), items that already are twins (transform or pair_id set) and, with
  --materialize, items whose video is missing or cut short are dropped; each is printed to stderr with its reason.

OUT/bench.jsonl holds the originals and their twins, pair by pair; both carry the router's category, and the twin
carries extra.twin_of (the original's id) and extra.relation ("change" | "same"). Video paths stay relative to the
same --video-root in both modes, so the benchmark is evaluated with the root it was built from:
- default: the twin points at the original video and stores `transform`, applied when the clip is loaded;
- --materialize: the twin's video is written to OUT/videos/<video>__<transform>__<hash>.mp4, one file per clip and
  transform shared by every item on that clip (all frames of the source, or of its
  [start, end] segment, decoded with PyAV, transformed with `crpo.data.counterfactual`, re-encoded with
  `crpo.data.video_write.write_video` at the source frame rate), referenced relative to --video-root; the twin then has no
  transform and no start/end. This decodes whole videos in memory: meant for short clips.
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from crpo.data.check import video_problem
from crpo.data.items import DataError, Item, load_items, write_jsonl


def decode_all(path, start: float | None = None, end: float | None = None) -> tuple[np.ndarray, float]:
    """Every frame of `path` (or of its [start, end] segment, in seconds) as uint8 [T, H, W, 3], and the frame rate."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate)
        frames = []
        for frame in container.decode(stream):
            t = frame.time
            if start is not None and t is not None and t < start - 1e-6:
                continue
            if end is not None and t is not None and t > end + 1e-6:
                break
            frames.append(frame.to_ndarray(format="rgb24"))
    if not frames:
        raise DataError(f"{path}: no frames decoded" + (f" in [{start}, {end}] s" if start or end else ""))
    return np.stack(frames), fps


def materialize_twin(src, dst, transform: str, start: float | None = None, end: float | None = None) -> None:
    """Write `transform` of the video `src` (or of its [start, end] segment) to `dst` at the source frame rate."""
    from crpo.data.counterfactual import counterfactual
    from crpo.data.video import Clip
    from crpo.data.video_write import write_video

    frames, fps = decode_all(src, start, end)
    clip = Clip(frames=frames, fps=fps, frame_indices=np.arange(len(frames)), source_size=frames.shape[1:3],
                duration=len(frames) / fps, path=str(src))
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    write_video(dst, counterfactual(clip, transform).frames, fps=fps)


def make_twin(item: Item) -> tuple[Item, Item] | str:
    """(original, twin) sharing a pair_id, or the reason the router cannot pair the item."""
    from crpo.routing.rules import categorize, choose_transform, relation

    if item.transform is not None or item.pair_id is not None:
        return "already part of a pair (transform or pair_id set)"
    try:
        transform = choose_transform(item)
        if transform is None:
            return "router: relation unknown under reverse and hflip"
        rel, answer = relation(item, transform)
        category = categorize(item)
    except DataError as e:
        return f"router: {e}"
    if rel == "same":
        answer = item.answer
    if answer is None:
        return f"router: no counterfactual answer under {transform}"
    original = replace(item, pair_id=item.id, category=category)
    twin = replace(item, id=f"{item.id}__{transform}", answer=str(answer), pair_id=item.id, category=category,
                   transform=transform, counterfactual=None,
                   extra={**item.extra, "twin_of": item.id, "relation": rel})
    return original, twin


def build_bench(items, video_root, out, materialize: bool = False) -> dict:
    """Write OUT/bench.jsonl (see the module docstring); returns {"pairs", "per_category", "dropped"}.
    Ids must be unique and the file not empty (`load_items`): a repeated id would make one pair of two twins."""
    video_root, out = Path(video_root), Path(out)
    if not video_root.is_dir():
        raise DataError(f"--video-root {video_root}: no such directory")
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out}: is a file, not a directory")
    rows, dropped, per_category, written = [], [], {}, {}
    for item in load_items(items):
        made = make_twin(item)
        if isinstance(made, str):
            dropped.append((item.id, made))
            continue
        original, twin = made
        if materialize:
            src = video_root / item.video
            if not src.is_file():
                dropped.append((item.id, f"video not found: {src}"))
                continue
            if (problem := video_problem(item, video_root)) is not None:  # a cut file would make a short twin
                dropped.append((item.id, problem))
                continue
            # One file per (clip, transform): items asking about the same clip share its twin video (it was one
            # full-size copy per item).
            key = (item.video, item.start, item.end, twin.transform)
            if key not in written:
                digest = hashlib.sha1(repr(key).encode()).hexdigest()[:8]
                name = re.sub(r"[^\w.-]", "_", f"{Path(item.video).stem}__{twin.transform}__{digest}") + ".mp4"
                written[key] = out / "videos" / name
                materialize_twin(src, written[key], twin.transform, item.start, item.end)
            dst = written[key]
            twin = replace(twin, video=os.path.relpath(dst, video_root), transform=None, start=None, end=None,
                           extra={**twin.extra, "materialized": twin.transform})
        rows += [original, twin]
        counts = per_category.setdefault(original.category, {"pairs": 0, "change": 0, "same": 0})
        counts["pairs"] += 1
        counts[twin.extra["relation"]] += 1
    for item_id, reason in dropped:
        print(f"dropped {item_id}: {reason}", file=sys.stderr)
    if not rows:  # an empty bench would only fail later, in `crpo eval`, with less to go on
        raise DataError(f"{items}: no item could be paired ({len(dropped)} dropped, reasons above); nothing written")
    write_jsonl(out / "bench.jsonl", rows)

    for category, c in sorted(per_category.items()):
        print(f"{category}: {c['pairs']} pairs ({c['change']} dynamic, {c['same']} static)", file=sys.stderr)
    print(f"wrote {len(rows)} items ({len(rows) // 2} pairs, {len(dropped)} dropped) to {out / 'bench.jsonl'}",
          file=sys.stderr)
    return {"pairs": len(rows) // 2, "per_category": per_category, "dropped": dropped}
