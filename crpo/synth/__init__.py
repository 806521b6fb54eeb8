"""The synthetic video world: procedural textured clips with known ground truth and controllable shortcuts.

    from crpo.synth import generate
    generate("data/synth", train=200, bench_pairs=100, bias=0.9, seed=0, preview=True)

scenes.py says what a clip shows and its ground truth, render.py draws it with numpy, world.py writes the
training split, the paired bench and the preview. See world.py for the layout on disk.
"""
from crpo.synth.world import generate

__all__ = ["generate"]
