"""crpo: Counterfactual Relational Policy Optimization for video LLMs.

    from crpo import load_clip, counterfactual
    clip = load_clip("video.mp4", num_frames=16)
    mirrored = counterfactual(clip, "hflip")

Attributes are imported on first use so that `crpo --help` and light tools stay instant.
"""
__version__ = "0.1.0"

_LAZY = {"load_clip": "crpo.data.video", "Clip": "crpo.data.video", "Item": "crpo.data.items", "load_items": "crpo.data.items"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'crpo' has no attribute '{name}'")


# Not lazy: importing the submodule crpo.data.counterfactual sets the package attribute `counterfactual` to the module,
# which would shadow a lazily provided function of the same name. Binding the function here, after that import,
# keeps `from crpo import counterfactual` the function (numpy: about 0.1 s more at start-up).
from crpo.data.counterfactual import counterfactual  # noqa: E402
