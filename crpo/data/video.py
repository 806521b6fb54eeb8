"""Video clips: decode with PyAV, sample frames, resize to a pixel budget, optional on-disk cache.

    clip = load_clip("v.mp4", num_frames=16, max_pixels=448 * 448, cache_dir=".cache/clips")
    clip.frames          # uint8 [16, H, W, 3] RGB, H and W multiples of 28, H * W <= 448 * 448
    clip.frame_indices   # source frame of each, uniformly spaced

`load_clip` decodes a file once. It reads the demuxer's index for the keyframes and plans the decode
(`decode_plan`): one forward pass when the wanted frames are dense or the file has long GOPs, a seek to the keyframe
before a wanted frame when that skips real work (few frames of a long video). Frames it does not keep are decoded
but never converted; kept ones are converted and resized in one swscale call. Counterfactual clips are made from
the decoded frames (crpo/data/counterfactual.py), never by decoding again. No model code lives here.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, field, replace

import numpy as np

from crpo.data.items import DataError

# swscale widens its bilinear filter by the scale factor when shrinking, so it antialiases like torch's
# resize(antialias=True) that Qwen uses, at half the cost of swscale's bicubic (62 vs 132 ms for 16 frames
# 1280x720 -> 1008x560 including the YUV -> RGB conversion).
INTERPOLATION = "BILINEAR"


@dataclass(frozen=True)
class Clip:
    """Decoded frames plus where they came from.

    frames:        uint8 [T, H, W, 3], RGB, in the order the model sees them.
    fps:           frame rate of the source file.
    frame_indices: int64 [T], source frame index of each frame in `frames` (descending for a reversed clip).
    source_size:   (height, width) of the source video.
    duration:      seconds of the source video.
    path:          source file, or None for clips made in memory.
    transform:     counterfactual applied to the decoded frames ("hflip", "reverse", ...), or None.
    """

    frames: np.ndarray
    fps: float
    frame_indices: np.ndarray
    source_size: tuple[int, int]
    duration: float
    path: str | None = None
    transform: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    def video_metadata(self) -> dict:
        """Metadata for a Hugging Face video processor.

        Frame indices are always ascending: Qwen3-VL writes per-frame timestamps into the prompt, and descending
        (reversed) or permuted (shuffled) timestamps would tell the model which branch it is looking at.
        """
        height, width = self.frames.shape[1:3]
        return {
            "fps": float(self.fps),
            "frames_indices": sorted(int(i) for i in self.frame_indices),
            "total_num_frames": int(round(self.duration * self.fps)),
            "duration": float(self.duration),
            "height": int(height),
            "width": int(width),
        }

    def with_frames(self, frames: np.ndarray, **changes) -> "Clip":
        return replace(self, frames=frames, **changes)


def smart_resize(height: int, width: int, factor: int = 28, min_pixels: int | None = None,
                 max_pixels: int | None = None) -> tuple[int, int]:
    """(height, width) with sides multiples of `factor`, area within [min_pixels, max_pixels], aspect kept.

    Same rule as Qwen's `smart_resize` (qwen_vl_utils and the transformers image processors): round each side to
    the nearest multiple, then scale both sides down (floor) or up (ceil) by one factor when the area is out of
    range. So a clip loaded here reaches the processor at a size it keeps as is.
    """
    min_pixels = 0 if min_pixels is None else min_pixels
    max_pixels = math.inf if max_pixels is None else max_pixels
    if min_pixels > max_pixels:
        raise ValueError(f"min_pixels {min_pixels} > max_pixels {max_pixels}")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def sample_indices(first: int, last: int, src_fps: float, num_frames: int | None = 8,
                   fps: float | None = None) -> np.ndarray:
    """Uniformly spaced source frame indices in [first, last]; always an even count (Qwen's temporal patch is 2).

    `fps` wins over `num_frames`: duration * fps frames, floored to even and capped at the frames available
    (as qwen_vl_utils does). An explicit odd `num_frames` is rounded up, so nobody gets fewer frames than asked;
    indices repeat when more frames are asked than the range holds. Both None: every frame (an odd last one dropped).
    """
    available = last - first + 1
    if fps is not None:
        n = min(int(available / src_fps * fps), available) // 2 * 2
    elif num_frames is not None:
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        n = num_frames + num_frames % 2
    else:
        n = available // 2 * 2
    n = max(n, 2)
    return np.linspace(first, last, n).round().astype(np.int64)


def decode_plan(wanted: np.ndarray, keyframes: list[int], min_skip: int = 8) -> list[tuple[int, list[int]]]:
    """Split ascending `wanted` frame indices into segments [(seek_to, frames), ...].

    Each segment seeks to a keyframe and decodes forward through its frames. A new segment starts only when the
    keyframe before the next wanted frame lies more than `min_skip` frames past where forward decoding already is:
    then the seek skips real work; otherwise decoding on is cheaper than flushing the (threaded) decoder. With one
    keyframe at 0 this is one sequential pass; with short GOPs and sparse frames, one short run per wanted frame.
    """
    keys = np.asarray(keyframes if keyframes else [0], dtype=np.int64)
    plan: list[tuple[int, list[int]]] = []
    pos = -1  # last frame the current segment decodes to
    for w in (int(x) for x in wanted):
        key = int(keys[max(np.searchsorted(keys, w, side="right") - 1, 0)])
        if not plan or key - pos > min_skip:
            plan.append((key, [w]))
        else:
            plan[-1][1].append(w)
        pos = w
    return plan


def load_clip(path, num_frames: int | None = 8, fps: float | None = None, start: float | None = None,
              end: float | None = None, max_pixels: int | None = None, min_pixels: int | None = None,
              size_factor: int = 28, cache_dir=None) -> Clip:
    """Decode `path` once and return `num_frames` uniformly sampled RGB frames (or `fps` frames per second).

    start/end:   seconds; frames outside are never sampled.
    max_pixels / min_pixels: per-frame budget; when either is given frames are resized by `smart_resize` (sides
                 multiples of `size_factor`, aspect kept). When neither is, frames keep the source size.
    cache_dir:   when given, decoded clips are stored there as .npy + .json, keyed by the file's path, size, mtime
                 and the sampling arguments; a changed file gets a new key, so stale entries are never read.
    Raises DataError naming the file when it is missing, is not a video, or start/end select no frame.
    """
    path = os.fspath(path)
    args = dict(num_frames=num_frames, fps=fps, start=start, end=end, max_pixels=max_pixels,
                min_pixels=min_pixels, size_factor=size_factor)
    try:
        st = os.stat(path)
    except OSError as e:
        raise DataError(f"{path}: cannot read video ({e.strerror})") from None
    if cache_dir is None:
        return _decode(path, **args)
    key = _cache_key(path, st, args)
    cached = _cache_read(cache_dir, key, path)
    if cached is not None:
        return cached
    clip = _decode(path, **args)
    _cache_write(cache_dir, key, clip)
    return clip


def truncation_problem(path: str, stream) -> str | None:
    """Why the file looks cut short, from the demuxer's index alone (no packet is read), or None.

    An MP4 whose index (moov) sits at the front opens fine when the file is cut: headers, frame count and duration
    all describe the whole video, and the packets past the cut are simply absent. The index records where each
    packet lies, so a packet ending past the end of the file means the file was truncated.
    """
    entries = stream.index_entries
    if not len(entries):
        return None
    size = os.path.getsize(path)
    end = max(e.pos + e.size for e in entries)
    if end <= size:
        return None
    present = sum(e.pos + e.size <= size for e in entries)
    return (f"truncated: the file has {size} bytes but its index places packets up to byte {end} "
            f"({present} of {len(entries)} packets present)")


def _decode(path: str, **args) -> Clip:
    import av

    try:
        with av.open(path) as container:
            return _decode_container(path, container, **args)
    except av.FFmpegError as e:  # not a video, truncated, unsupported codec
        raise DataError(f"{path}: cannot decode video ({e})") from None


def _decode_container(path: str, container, num_frames, fps, start, end, max_pixels, min_pixels,
                      size_factor) -> Clip:
    if not container.streams.video:
        raise DataError(f"{path}: no video stream")
    stream = container.streams.video[0]
    if (problem := truncation_problem(path, stream)) is not None:
        raise DataError(f"{path}: {problem}")
    stream.thread_type = "AUTO"  # frame + slice threads: the decoder, not the conversion, is the cost
    src_fps = float(stream.average_rate or stream.guessed_rate or 0)
    if src_fps <= 0:
        raise DataError(f"{path}: unknown frame rate")
    tb = float(stream.time_base)
    t0 = stream.start_time or 0
    entries = stream.index_entries
    # The frame count: the header's, else from the duration. Not len(index): Matroska / WebM index only their
    # keyframes (cues), so a 250-frame mkv counted 1 frame and every sampled frame was frame 0.
    if stream.frames:
        total = stream.frames
    elif stream.duration or container.duration:
        seconds = stream.duration * float(stream.time_base) if stream.duration else container.duration / 1e6
        total = round(seconds * src_fps)
    else:
        total = len(entries)
    duration = stream.duration * tb if stream.duration else total / src_fps
    src_h, src_w = stream.codec_context.height, stream.codec_context.width

    first = 0 if start is None else math.ceil(max(start, 0.0) * src_fps)
    last = total - 1 if end is None else min(math.floor(end * src_fps), total - 1)
    if total <= 0 or last < first:
        raise DataError(f"{path}: no frames between start={start} and end={end} "
                        f"({total} frames at {src_fps:g} fps, {duration:.2f} s)")
    indices = sample_indices(first, last, src_fps, num_frames, fps)
    if max_pixels is None and min_pixels is None:
        out_h, out_w = src_h, src_w
    else:
        out_h, out_w = smart_resize(src_h, src_w, size_factor, min_pixels, max_pixels)

    # In MP4/MKV a closed-GOP keyframe sits at the same position in decode and display order, so its position
    # in the demuxer's index (one entry per packet, decode order) is its frame index.
    # An index of keyframes only (Matroska cues) gives them by timestamp instead (presentation time there).
    if len(entries) == total:
        keyframes = [i for i, e in enumerate(entries) if e.is_keyframe]
    else:
        keyframes = sorted({round((e.timestamp - t0) * tb * src_fps) for e in entries if e.is_keyframe})
    wanted = indices  # ascending; equal neighbours when more frames are asked than the range holds
    got = np.empty((len(wanted), out_h, out_w, 3), np.uint8)
    got_index = np.empty(len(wanted), np.int64)
    slot = 0  # next wanted frame to fill
    last_decoded = -1
    keep = set(wanted.tolist())
    codec = stream.codec_context
    for seek_to, frames in decode_plan(wanted, keyframes):
        if seek_to > 0 or slot > 0:
            container.seek(t0 + int(seek_to / src_fps / tb), stream=stream, backward=True)
        stop, idx = frames[-1], -1
        for packet in container.demux(stream):
            # Non-reference frames (most B-frames) that we do not keep are not decoded at all: nothing depends
            # on them. That halves the decode of a typical x264 file (bikes.mp4: 115 of 250 frames). The flag is
            # read per packet, also under frame threading. The final flush packet has no pts.
            pidx = None if packet.pts is None else round((packet.pts - t0) * tb * src_fps)
            codec.skip_frame = "NONREF" if pidx is not None and pidx not in keep else "DEFAULT"
            for frame in packet.decode():
                idx = round((frame.pts - t0) * tb * src_fps)
                last_decoded = max(last_decoded, idx)
                if idx < wanted[slot]:
                    continue  # decoded as a reference but never converted
                # The first frame at or after each wanted index (the same one for a constant frame rate).
                # Converted once, copied to every slot it fills.
                rgb = frame.to_ndarray(width=out_w, height=out_h, format="rgb24", interpolation=INTERPOLATION)
                while slot < len(wanted) and wanted[slot] <= idx:
                    got[slot], got_index[slot] = rgb, idx
                    slot += 1
                if slot == len(wanted) or idx >= stop:
                    break
            if slot == len(wanted) or idx >= stop:
                break
        if slot == len(wanted):
            break
    if slot == 0:
        raise DataError(f"{path}: decoded no frame")
    if slot < len(wanted):
        # The stream ended before the frames its header declares. A frame or two is container rounding (the last
        # wanted index is the declared count - 1); more is a damaged file, whose clip would repeat its last frame
        # for the rest of the video without a word.
        if wanted[slot] - last_decoded > max(2, round(0.02 * total)):
            raise DataError(f"{path}: truncated or damaged: the stream ends after frame {last_decoded}, but its header "
                            f"declares {total} frames and frame {int(wanted[slot])} was asked for")
        got[slot:], got_index[slot:] = got[slot - 1], got_index[slot - 1]
    return Clip(frames=got, fps=src_fps, frame_indices=got_index, source_size=(src_h, src_w),
                duration=float(duration), path=path)


# --- on-disk cache: <key>.npy holds the frames, <key>.json the rest; the .json is written last and marks the
# entry complete. Both are written under temporary names and renamed, so readers never see half an entry.

_CACHE_VERSION = 1


def _cache_key(path: str, st: os.stat_result, args: dict) -> str:
    ident = dict(path=os.path.abspath(path), size=st.st_size, mtime_ns=st.st_mtime_ns, version=_CACHE_VERSION, **args)
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:32]


def _cache_read(cache_dir, key: str, path: str) -> Clip | None:
    base = os.path.join(cache_dir, key)
    try:
        with open(base + ".json") as f:
            meta = json.load(f)
        frames = np.load(base + ".npy")
    except FileNotFoundError:
        return None
    return Clip(frames=frames, fps=meta["fps"], frame_indices=np.asarray(meta["frame_indices"], np.int64),
                source_size=tuple(meta["source_size"]), duration=meta["duration"], path=path)


def _cache_write(cache_dir, key: str, clip: Clip) -> None:
    os.makedirs(cache_dir, exist_ok=True)
    base = os.path.join(cache_dir, key)
    meta = dict(fps=clip.fps, frame_indices=clip.frame_indices.tolist(), source_size=list(clip.source_size),
                duration=clip.duration)
    for suffix, write in ((".npy", lambda f: np.save(f, clip.frames)),
                          (".json", lambda f: f.write(json.dumps(meta).encode()))):
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=key, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, base + suffix)
