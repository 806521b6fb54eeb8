"""Row selection on processor outputs, where a row's video patches live in one flat tensor.

Qwen-VL processors return per-row tensors ([B, L]: input_ids, attention_mask, mm_token_type_ids), per-video
tensors ([V, 3] video_grid_thw, [V] second_per_grid_ts) and `pixel_values_videos`, the patches of all videos
concatenated ([sum_v t*h*w, D]). With one video per row, selecting rows means selecting those patch blocks.

Rollouts use a second layout, *shared videos*: G rows per branch show the same clip, so the videos are stored
once and `video_index` [B] names each row's video (`share_videos`). There, pixel_values_videos, video_grid_thw and
second_per_grid_ts are per video and stay untouched by `take_rows`; the model is given one grid per row (M-RoPE
positions) and the vision features of each video, encoded once (crpo.models.adapter).
"""
from __future__ import annotations

import torch

PER_ROW = ("input_ids", "attention_mask", "mm_token_type_ids", "position_ids", "video_index")
PER_VIDEO = ("video_grid_thw", "second_per_grid_ts")
VIDEO_KEYS = ("pixel_values_videos", *PER_VIDEO)


def take_rows(inputs: dict, rows) -> dict:
    """inputs restricted to (and ordered by) `rows`; a row may repeat (G rollouts share one processor call).

    Shared-video inputs keep every video as it is (no copy) and select `video_index`; otherwise each row's patch
    block is copied.
    """
    rows = torch.as_tensor(list(rows), dtype=torch.long)
    shared = "video_index" in inputs
    out = {}
    for key, value in inputs.items():
        if key in PER_ROW or (key in PER_VIDEO and not shared):
            out[key] = value[rows.to(value.device)]
        elif shared and key in VIDEO_KEYS:
            out[key] = value
        elif key == "pixel_values_videos":
            sizes = inputs["video_grid_thw"].prod(-1).tolist()
            blocks = torch.split(value, sizes)
            out[key] = torch.cat([blocks[r] for r in rows.tolist()])
        else:
            raise KeyError(f"take_rows does not know how to select rows of processor output '{key}'")
    # Drop left-padding columns that no remaining row uses, so micro-batches do not carry the batch's longest prompt.
    if "attention_mask" in out:
        used = out["attention_mask"].any(0).nonzero()
        first = int(used[0]) if len(used) else 0
        for key in PER_ROW:
            if key in out and out[key].dim() >= 2 and key != "position_ids":
                out[key] = out[key][:, first:]
    return out


def share_videos(inputs: dict, rows, same_video: list[int] | None = None) -> dict:
    """Rows `rows` of a processor output (one video per row) in the shared-video layout: row i shows the video of
    processor row rows[i]. Repeating a row G times repeats its text, not its patches.

    `same_video[j]`: a processor row whose video is row j's (the caller knows: the same clip object); only one
    copy of such videos is kept. Default: every processor row its own video, kept as is.
    """
    n = inputs["input_ids"].shape[0]
    same_video = list(range(n)) if same_video is None else list(same_video)
    keep = sorted(set(same_video))
    position = {v: k for k, v in enumerate(keep)}
    index = torch.tensor([position[same_video[j]] for j in range(n)], device=inputs["input_ids"].device)
    videos = {k: inputs[k] for k in VIDEO_KEYS if k in inputs}
    videos = take_rows(videos, keep) if keep != list(range(n)) else videos
    return take_rows({**inputs, **videos, "video_index": index}, rows)


def expand_videos(inputs: dict) -> dict:
    """Shared-video inputs back in the processor's layout (every row its own copy of its video's patches)."""
    if "video_index" not in inputs:
        return inputs
    videos = take_rows({k: inputs[k] for k in VIDEO_KEYS if k in inputs}, inputs["video_index"].tolist())
    return {**{k: v for k, v in inputs.items() if k not in VIDEO_KEYS and k != "video_index"}, **videos}


def videos_used(inputs: dict) -> tuple[dict, list[int]]:
    """The videos that the rows of shared-video `inputs` show, each once (a processor-layout dict of VIDEO_KEYS),
    and each row's position among them: what one encode of only the needed videos takes."""
    index = inputs["video_index"].tolist()
    used = sorted(set(index))
    position = {v: j for j, v in enumerate(used)}
    return take_rows({k: inputs[k] for k in VIDEO_KEYS if k in inputs}, used), [position[v] for v in index]


def select_videos(features, index: list[int]):
    """Per-row vision-encoder output for rows that show videos `index` of `features` (a `get_video_features`
    output: per-video `pooler_output`, Qwen3-VL's per-layer per-video `deepstack_features`), in the container the
    models' `mm_encoder_outputs` take. A video shown by G rows is referenced G times, never recomputed."""
    fields = {"pooler_output": [features.pooler_output[i] for i in index]}
    deepstack = getattr(features, "deepstack_features", None)
    if deepstack is not None:
        fields["deepstack_features"] = [[layer[i] for i in index] for layer in deepstack]
    return type(features)(**fields)
