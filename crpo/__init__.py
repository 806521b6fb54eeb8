"""crpo: Counterfactual Relational Policy Optimization for video LLMs. The names a user scripts against:

    from crpo import (Item, load_items, load_clip, Clip, counterfactual, relation, option_map, counterfactual_target,
                      TrainConfig, load_config, train, evaluate, score)
    clip = load_clip("video.mp4", num_frames=16)
    mirrored = counterfactual(clip, "hflip")
    item = Item(id="q1", video="video.mp4", question="Which way does the car drive?", options=["left", "right"],
                answer="A")
    relation(item, "hflip")                      # ("change", "B"): mirrored, the correct option is B
    cfg = load_config(TrainConfig, "configs/demo_cpu.yaml", ["model=runs/tiny", "train_data=data/train.jsonl"])
    train(cfg)                                   # -> the run's output_dir
    evaluate(model="runs/x/final", bench="bench.jsonl", fmt="dybench", video_root="data", out="runs/eval")
    score("dybench", "bench.jsonl", "runs/eval/predictions.jsonl")

The packages, each importing only those above it in this list: data (items, videos, counterfactual clips),
synth (the synthetic world), routing (what a question's counterfactual is, from its text), models (VideoLM, the
tiny builder), parallel (launchers), rl (answers, rewards, advantages, one module per algorithm), bench
(benchmarks, evaluation, audit, scorers), training (the RL loop), demo; cli.py on top. Each package's docstring
lists its modules. Attributes are imported on first use so that `crpo --help` and light tools stay instant.
"""
__version__ = "0.1.0"

# public name -> (module, attribute)
_LAZY = {"Item": ("crpo.data.items", "Item"), "load_items": ("crpo.data.items", "load_items"),
         "load_clip": ("crpo.data.video", "load_clip"), "Clip": ("crpo.data.video", "Clip"),
         "relation": ("crpo.routing.rules", "relation"), "option_map": ("crpo.routing.rules", "option_map"),
         "counterfactual_target": ("crpo.routing.classes", "counterfactual_target"),
         "TrainConfig": ("crpo.training.config", "TrainConfig"), "load_config": ("crpo.training.config", "load_config"),
         "train": ("crpo.training.trainer", "train"), "evaluate": ("crpo.bench.evaluate", "evaluate"),
         "score": ("crpo.bench.score", "score_file"), "counterfactual": ("crpo.data.counterfactual", "counterfactual")}
__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'crpo' has no attribute '{name}'")

