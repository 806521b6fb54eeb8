"""Video clips: decode with PyAV, sample frames, resize to a pixel budget, optional on-disk cache.

`load_clip(path, num_frames=8)` decodes a file once and returns a `Clip`. No model code lives here.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


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


def load_clip(path, num_frames: int | None = 8, fps: float | None = None, start: float | None = None,
              end: float | None = None, max_pixels: int | None = None, min_pixels: int | None = None,
              size_factor: int = 28, cache_dir=None) -> Clip:
    raise NotImplementedError  # filled in by the video pipeline work


def write_video(path, frames: np.ndarray, fps: float = 8.0, crf: int = 12) -> None:
    """Write uint8 [T, H, W, 3] RGB frames as an H.264 mp4 (even sides; yuv420p so every player reads it).

    A low CRF keeps synthetic textures within a few grey levels of the source, so a twin video decodes to the
    transform of its original within codec tolerance. Written to a temp name and renamed: never half a file.
    """
    import os

    import av

    frames = np.asarray(frames, dtype=np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{path}: expected frames [T, H, W, 3], got shape {frames.shape}")
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"{path}: H.264 with yuv420p needs even sides, got {w}x{h}")
    tmp = f"{path}.tmp.mp4"
    from fractions import Fraction
    with av.open(tmp, mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, path)
