"""The demo's base model: a tiny random Qwen3-VL given perception pre-training on *unbiased* synthetic clips,
standing in for the pretrained video LLM a user starts RL from.

    crpo demo --pretrain-base --out runs/demo   # each seed pre-trains its own: runs/demo/seedN/base/final

What a tiny model can learn in a CPU budget shaped this recipe (README, "The demo"; development seeds only):
trained on the motion and the colour question together from scratch, it learned neither in 300 steps; trained on
one question at a time, it learns each within ~150 steps. And a base that answers the motion question in words
(left/right) maps them onto the options during the biased warm start and keeps answering from motion (P-Acc 0.86
and 0.82 on dynamic pairs after it), leaving RL nothing to fix. So the base learns, one after the other:

(a) motion, asked as a free-form code word (zig = left, zag = right): the vision tower learns to see which way the
    square slides, yet the model has never tied motion to the letters of the demo's motion question;
(b) the colour question, with its fixed options (red, blue, green, yellow = A, B, C, D).

Its colour-to-letter mapping is exactly the shortcut of the biased training split (a red square slides left in 90%
of it), so the warm start picks the shortcut up at once, while the motion features wait underneath for a reward
that asks for them. `SHIPPED_BASE` is seed 0 of this recipe (about 5 min on one core), kept in the repo so
`make demo` need not redo it. CPU float results differ in the last bits between runs, and after 550 steps that
shows: a rebuild is a different, equally honest base, not a byte-identical one (a second build ended with a
higher colour loss).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SHIPPED_BASE = Path(__file__).parent / "assets" / "demo_base"
# The pre-training's motion answers: words that appear in no option of the demo's motion question.
MOTION_CODE_WORDS = {"left": "zig", "right": "zag"}
MOTION_QUESTION = "Which code word fits the motion of the checkered square, zig or zag?"


@dataclass
class BaseRecipe:
    items: int = 1200           # unbiased clips, half motion, half colour
    motion_steps: int = 250     # stage (a); the tiny model "groks" motion at ~100-150 steps of 16 clips
    motion_lr: float = 3e-3
    colour_steps: int = 300     # stage (b); slower after (a) than from scratch, hence the longer, gentler schedule
    colour_lr: float = 1e-3


def pretraining_sets(world: Path) -> tuple[Path, Path]:
    """Split an unbiased world's train.jsonl into WORLD/motion.jsonl (the slide clips, direction asked as a
    free-form code word) and WORLD/colour.jsonl (every other item, unchanged)."""
    motion, colour = [], []
    for line in (world / "train.jsonl").read_text().splitlines():
        item = json.loads(line)
        if item["extra"]["kind"] == "slide":
            word = MOTION_CODE_WORDS[item["extra"]["truth"]["direction"]]
            item = {**{k: v for k, v in item.items() if k != "options"}, "question": MOTION_QUESTION,
                    "answer": word, "problem_type": "free_form"}
            motion.append(item)
        else:
            colour.append(item)
    paths = world / "motion.jsonl", world / "colour.jsonl"
    for path, items in zip(paths, (motion, colour)):
        path.write_text("".join(json.dumps(it) + "\n" for it in items))
    return paths


def pretrain_base(root: Path, seed: int, world_kwargs: dict, recipe: BaseRecipe | None = None) -> Path:
    """ROOT/{pretrain_world,tiny,base_motion,base}; returns ROOT/base/final. Finished stages are skipped."""
    from crpo.models.tiny import build_tiny_model
    from crpo.sft import SFTConfig, sft
    from crpo.synth import generate

    r = recipe or BaseRecipe()
    world, tiny, motion, base = root / "pretrain_world", root / "tiny", root / "base_motion", root / "base"
    if not (world / "train.jsonl").exists():
        generate(world, train=r.items, bench_pairs=0, bias=0.0, seed=2100 + seed, **world_kwargs)
    motion_set, colour_set = pretraining_sets(world)
    if not (tiny / "config.json").exists():
        build_tiny_model("qwen3_vl", tiny, seed=seed)
    if not (motion / "final").exists():
        print(f"\n== base model, stage (a): motion as code words ({r.motion_steps} steps)", flush=True)
        sft(SFTConfig(model=str(tiny), train_data=str(motion_set), output_dir=str(motion), seed=seed,
                      max_steps=r.motion_steps, learning_rate=r.motion_lr))
    if not (base / "final").exists():
        print(f"\n== base model, stage (b): the colour question ({r.colour_steps} steps)", flush=True)
        sft(SFTConfig(model=str(motion / "final"), train_data=str(colour_set), output_dir=str(base), seed=seed,
                      max_steps=r.colour_steps, learning_rate=r.colour_lr, lr_scheduler="cosine", warmup_steps=10))
    return base / "final"
