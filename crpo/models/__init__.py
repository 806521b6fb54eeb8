"""Model layer: `VideoLM` (one adapter for the Qwen3-VL and Qwen2.5-VL families) and the tiny offline builder.
Imports crpo.data only.

- adapter.py   VideoLM: prompts, processor inputs from Clips, batched generate, per-token log-probs
- batching.py  shared-video inputs: each clip through the vision tower once, rows pointing at it
- local.py     local model paths (never a hub unless asked), the model's tokenizer for prompt-length checks
- logprobs.py  log-probs of the sampled tokens from logits, one copy of the logits kept (custom autograd)
- tiny.py      tiny random Qwen3-VL / Qwen2.5-VL with a locally trained BPE tokenizer (`crpo model tiny`)

    from crpo.models import VideoLM
    lm = VideoLM.load("runs/tiny-qwen3vl")     # build one with `crpo model tiny --out runs/tiny-qwen3vl`
"""
from crpo.models.adapter import FAMILIES, VideoLM

__all__ = ["FAMILIES", "VideoLM"]
