"""Row selection on processor outputs, where a row's video patches live in one flat tensor.

Qwen-VL processors return per-row tensors ([B, L]: input_ids, attention_mask, mm_token_type_ids), per-video
tensors ([V, 3] video_grid_thw, [V] second_per_grid_ts) and `pixel_values_videos`, the patches of all videos
concatenated ([sum_v t*h*w, D]). With one video per row, selecting rows means selecting those patch blocks.
"""
from __future__ import annotations

import torch

PER_ROW = ("input_ids", "attention_mask", "mm_token_type_ids", "position_ids")
PER_VIDEO = ("video_grid_thw", "second_per_grid_ts")


def take_rows(inputs: dict, rows) -> dict:
    """inputs restricted to (and ordered by) `rows`; a row may repeat (G rollouts share one processor call)."""
    rows = torch.as_tensor(list(rows), dtype=torch.long)
    out = {}
    for key, value in inputs.items():
        if key in PER_ROW or key in PER_VIDEO:
            out[key] = value[rows.to(value.device)]
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
