"""Model layer: `VideoLM` (one adapter for the Qwen3-VL and Qwen2.5-VL families) and the tiny offline builder.

    from crpo.models import VideoLM
    lm = VideoLM.load("runs/tiny-qwen3vl")     # build one with `crpo model tiny --out runs/tiny-qwen3vl`
"""
from crpo.models.adapter import FAMILIES, VideoLM

__all__ = ["FAMILIES", "VideoLM"]
