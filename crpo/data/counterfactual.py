"""Counterfactual clips: the transforms CRPO's second branch sees, applied to already decoded frames.

    clip = load_clip("v.mp4", num_frames=8)
    twin = counterfactual(clip, "hflip")           # mirror: left <-> right
    twin = counterfactual(clip, "reverse")         # play backwards: opening <-> closing, before <-> after
    twin = counterfactual(clip, "hflip+reverse")   # both
    shuf = counterfactual(clip, "shuffle", seed=0) # T-GRPO's baseline: frame order destroyed

No second decode: a transform is an index operation on `clip.frames`, so both branches cost one decode. Transforms
act on the frames before the processor, never on patches: Qwen's 2-frame temporal patches then see reversed (or
shuffled) pairs, as they would on a reversed video file.

`frame_indices` follows the frames (descending for a reversed clip, permuted for a shuffled one), so a clip always
says which source frame each of its frames is. `Clip.video_metadata()` sorts them before they reach a processor:
Qwen3-VL prints per-frame timestamps into the prompt, and those must not reveal the branch.
"""
from __future__ import annotations

import numpy as np

from crpo.data.video import Clip

TRANSFORMS = ("hflip", "reverse", "hflip+reverse", "shuffle")


def derangement(n: int, seed: int | None = None) -> np.ndarray:
    """A seeded permutation of range(n) with no fixed point (n >= 2), so every frame leaves its place.

    Rejection sampling from uniform permutations: about e ~ 2.7 draws on average, uniform over derangements.
    """
    rng = np.random.default_rng(seed)
    if n < 2:
        return np.arange(n)
    while True:
        perm = rng.permutation(n)
        if not np.any(perm == np.arange(n)):
            return perm


def counterfactual(clip: Clip, transform: str, seed: int | None = None) -> Clip:
    """`clip` with `transform` applied to its frames and indices; `seed` is used by "shuffle" only.

    Returns C-contiguous copies, not views. `frames[:, :, ::-1]` and `frames[::-1]` would be free as views, but
    transformers' video processors call `torch.from_numpy`, which raises on negative strides, so the copy has to
    happen somewhere; here it is one pass (benchmarks/video_load.py: 16 frames of 1008x560 cost 8 ms per
    transform against 440 ms for the decode, a 1.02x pair).
    """
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transform '{transform}' (expected one of {', '.join(TRANSFORMS)})")
    if clip.transform is not None:
        # Composing would make `transform` ambiguous (hflip twice is the original); transform the original.
        raise ValueError(f"clip already has transform '{clip.transform}'; apply '{transform}' to the original")
    order = np.arange(clip.num_frames)
    if transform == "shuffle":
        order = derangement(clip.num_frames, seed)
    elif "reverse" in transform:
        order = order[::-1]
    if "hflip" in transform:
        frames = flip(clip.frames, (0, 2) if "reverse" in transform else (2,))
    else:
        frames = clip.frames[order]  # whole frames: one memcpy each
    return clip.with_frames(frames, frame_indices=clip.frame_indices[order], transform=transform)


def flip(frames: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """`frames` reversed along `axes`, as a new C-contiguous array, in one pass.

    Not `np.ascontiguousarray(frames[:, :, ::-1])`: numpy copies a W-reversed uint8 view one 3-byte pixel at a
    time, 3x slower than torch's flip kernel on 16 RGB frames of 1008x560 (side by side, same machine).
    """
    import torch

    return torch.from_numpy(np.ascontiguousarray(frames)).flip(axes).numpy()

