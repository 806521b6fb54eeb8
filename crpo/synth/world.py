"""Dataset writer of the synthetic world: a shortcut-laden training split and a balanced, paired bench.

    crpo synth --out data/synth --train 200 --bench-pairs 100 --bias 0.9 --seed 0 --preview

writes
    OUT/train.jsonl, OUT/videos/train/*.mp4    items over the categories; in dynamic ones, with probability `bias`
                                               the object's colour is the cue colour of the answer (red -> A,
                                               blue -> B, ...), otherwise a neutral colour; answers lean to A
    OUT/bench.jsonl, OUT/videos/bench/*.mp4    pairs: an original and its materialised counterfactual twin
                                               (frames[::-1] or frames[:, :, ::-1] of the original's frames) with
                                               the mapped answer and a shared pair_id; colours independent of
                                               answers, answers balanced per category and kind
    OUT/preview.png                            with --preview: an original and its twin per kind of scene

Everything is a function of --seed: item i of a split draws from its own generator seeded by (seed, split, i),
and clips are encoded losslessly (crpo.data.video_write.write_video), so the files are too, bit for bit. The twin's transform
follows the router's rule (reverse when it changes the answer, else hflip; every other round of a direction
question's answers is a mirror pair) and its answer comes from the scene's ground truth, never from text rules,
so the bench can test the router.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from crpo.data.items import LETTERS, DataError, Item, write_jsonl
from crpo.data.video_write import write_video
from crpo.synth.render import render
from crpo.synth.scenes import (CATEGORIES, CUE_COLOURS, DYNAMIC, KINDS, PALETTE, Config, Scene, num_answers,
                               sample_scene, transform_scene, twin_transform, without_counterfactual_answer)

FPS = 8.0
_TRAIN, _BENCH = 0, 1  # split ids in the per-item seeds


def generate(out, train: int = 200, bench_pairs: int = 100, bias: float | dict = 0.9, seed: int = 0,
             preview: bool = False, num_frames: int = 8, size: int = 64, object_size: int = 32, speed: float = 3.0,
             categories: list[str] | None = None, kinds: list[str] | None = None, prior: float | None = None,
             cue_colours: tuple[str, ...] = CUE_COLOURS, null_share: float = 0.0) -> None:
    """Write OUT/train.jsonl, OUT/bench.jsonl, their videos, and OUT/preview.png when `preview`.

    `bias` is the share of dynamic training items whose colour is the answer's cue colour, one number for every
    category or {category: share} (a category left out has no shortcut); `prior` (default: the category's bias)
    skews their answers towards option A (`skewed_prior`; 0 = balanced letters, the colour cue alone).
    `cue_colours[i]` is the colour that gives option i of a dynamic question away (default: red, blue, green,
    yellow, the letters A-D of the colour question itself); the other palette colours are the neutral ones.
    `null_share` of the dynamic training items whose reversal changes the answer list options that leave the
    reversed answer out (only questions of 3 or more options), so "None of the above" is its counterfactual answer.

    `kinds` (e.g. ["checks", "colour"]) keeps only those kinds of scene within the chosen categories.
    """
    cfg = Config(num_frames=num_frames, size=size, object_size=object_size, speed=speed)
    categories = tuple(categories or CATEGORIES)
    biases = bias if isinstance(bias, dict) else {c: bias for c in categories}
    for name, value in (*(("--bias", b) for b in biases.values()), ("--null-share", null_share)):
        _check(cfg, value, categories, train, bench_pairs, name)
    if prior is not None:
        _check(cfg, prior, categories, train, bench_pairs, "prior")
    kinds_of = {c: tuple(k for k in KINDS[c] if not kinds or k in kinds) for c in categories}
    if empty := [c for c, ks in kinds_of.items() if not ks]:
        raise DataError(f"crpo synth: no kind of {', '.join(empty)} among --kinds {','.join(kinds)}")
    out = Path(out)
    for split in ("train", "bench"):
        (out / "videos" / split).mkdir(parents=True, exist_ok=True)
    train_items, bench_items, shown = [], [], {}
    with tqdm(total=train + 2 * bench_pairs, desc="crpo synth", unit="clip") as bar:
        for i in range(train):
            scene, cue = train_scene(i, seed, cfg, categories, biases, kinds_of, prior, cue_colours, null_share)
            item = _item(f"train-{i:05d}", "train", scene, cue=cue)
            write_video(out / item.video, render(scene, cfg), fps=FPS)
            train_items.append(item)
            bar.update()
        for i in range(bench_pairs):
            scene, transform = bench_scene(i, seed, cfg, categories, kinds_of)
            original = _item(f"bench-{i:05d}", "bench", scene, pair_id=f"pair-{i:05d}")
            twin = _item(f"bench-{i:05d}-twin", "bench", transform_scene(scene, transform), pair_id=original.pair_id,
                         twin_of=original.id, twin_transform=transform)
            frames = render(scene, cfg)
            twin_frames = apply_transform(frames, transform)
            write_video(out / original.video, frames, fps=FPS)
            write_video(out / twin.video, twin_frames, fps=FPS)
            bench_items += [original, twin]
            if preview and scene.kind not in shown:
                shown[scene.kind] = [(original, frames), (twin, twin_frames)]
            bar.update(2)
    write_jsonl(out / "train.jsonl", train_items)
    write_jsonl(out / "bench.jsonl", bench_items)
    if preview:
        write_preview(out / "preview.png", [row for rows in shown.values() for row in rows])


def skewed_prior(k: int, bias: float) -> np.ndarray:
    """Answer distribution of a dynamic training question: option A gets 1/k + bias (1 - 1/k) / 2, the rest share
    what is left (bias 0: uniform; bias 0.9 on two options: A 72.5%)."""
    first = 1 / k + bias * (1 - 1 / k) / 2
    return np.array([first] + [(1 - first) / (k - 1)] * (k - 1))


def train_scene(index: int, seed: int, cfg: Config, categories: tuple[str, ...], bias: float | dict,
                kinds_of: dict | None = None, prior: float | None = None,
                cue_colours: tuple[str, ...] = CUE_COLOURS, null_share: float = 0.0) -> tuple[Scene, bool]:
    """Training item `index`: (scene, whether its colour is the answer's cue colour). Categories take turns."""
    rng = np.random.default_rng([seed, _TRAIN, index])
    category = categories[index % len(categories)]
    kind = str(rng.choice((kinds_of or KINDS)[category]))
    k = num_answers(category, kind)
    if category not in DYNAMIC:  # static answers are visible in any frame: nothing to shortcut
        return sample_scene(category, kind, rng, cfg, int(rng.integers(k)), str(rng.choice(list(PALETTE)))), False
    share = bias.get(category, 0.0) if isinstance(bias, dict) else bias
    answer = int(rng.choice(k, p=skewed_prior(k, share if prior is None else prior)))
    cue = bool(rng.random() < share)
    neutral = [c for c in PALETTE if c not in cue_colours]
    colour = cue_colours[answer] if cue else str(rng.choice(neutral))
    scene = sample_scene(category, kind, rng, cfg, answer, colour)
    # Drawn last, so a null_share of 0 leaves every other draw (and the files of earlier worlds) as they were.
    if null_share and len(scene.options or ()) >= 3 and rng.random() < null_share:
        scene = without_counterfactual_answer(scene, "reverse")
    return scene, cue


def bench_scene(index: int, seed: int, cfg: Config, categories: tuple[str, ...],
                kinds_of: dict | None = None) -> tuple[Scene, str]:
    """Bench pair `index` and its twin's transform: categories take turns, then kinds within a category, then
    answers within a kind, so answers are balanced per (category, kind); the colour is drawn from the whole
    palette, whatever the answer. Every other round of a direction question's answers is a mirror pair
    (horizontal motion: the opposite answer; vertical: an invariance pair), the rest reversals."""
    rng = np.random.default_rng([seed, _BENCH, index])
    category = categories[index % len(categories)]
    j, kinds = index // len(categories), (kinds_of or KINDS)[category]
    kind = kinds[j % len(kinds)]
    k = num_answers(category, kind)
    answer = (j // len(kinds)) % k
    scene = sample_scene(category, kind, rng, cfg, answer, str(rng.choice(list(PALETTE))))
    return scene, twin_transform(scene, mirror=kind != "slide" and (j // len(kinds) // k) % 2 == 1)


def apply_transform(frames: np.ndarray, transform: str) -> np.ndarray:
    """The counterfactual clip of uint8 [T, H, W, 3] frames: hflip mirrors width, reverse flips time."""
    for op in transform.split("+"):
        frames = {"hflip": frames[:, :, ::-1], "reverse": frames[::-1]}[op]
    return np.ascontiguousarray(frames)


def _item(item_id: str, split: str, scene: Scene, pair_id: str | None = None, **extra) -> Item:
    """The item of `scene`; extra["counterfactual_answers"] holds, per transform, the option text that is right on
    the transformed clip (None: no listed option is, "None of the above" is): world labels, which only the
    grpo_cf_aug baseline is given (crpo.demo.pipeline); the router never reads `extra`."""
    mc = scene.problem_type == "multiple_choice"
    after = {t: transform_scene(scene, t).answer for t in ("hflip", "reverse")} if mc else None
    return Item(id=item_id, video=f"videos/{split}/{item_id}.mp4", question=scene.question,
                answer=LETTERS[scene.answer_index] if mc else scene.answer, problem_type=scene.problem_type,
                options=list(scene.options) if mc else None, category=scene.category, pair_id=pair_id,
                extra={"kind": scene.kind, "colour": scene.colour, "truth": scene.truth,
                       **({"counterfactual_answers": after} if mc else {}), **extra})


def _check(cfg: Config, share: float, categories: tuple[str, ...], train: int, bench_pairs: int,
           name: str = "--bias") -> None:
    unknown = sorted(set(categories) - set(CATEGORIES))
    if unknown:
        raise DataError(f"crpo synth: unknown categories {', '.join(unknown)} (expected some of {', '.join(CATEGORIES)})")
    if not 0 <= share <= 1:
        raise DataError(f"crpo synth: {name} must be in [0, 1], got {share}")
    if train < 0 or bench_pairs < 0:
        raise DataError(f"crpo synth: --train and --bench-pairs must be >= 0, got {train} and {bench_pairs}")
    if cfg.num_frames < 2 or cfg.num_frames % 2:
        raise DataError(f"crpo synth: --num-frames must be even and >= 2 (Qwen3-VL patches 2 frames), got {cfg.num_frames}")
    if cfg.size % 2 or cfg.size < 32:
        raise DataError(f"crpo synth: --size must be even and >= 32, got {cfg.size}")
    travel = round(cfg.speed * (cfg.num_frames - 1))
    if cfg.speed <= 0 or cfg.object_size < 8 or cfg.object_size + travel > cfg.size:
        raise DataError(f"crpo synth: an object of {cfg.object_size} px moving {cfg.speed} px/frame for "
                        f"{cfg.num_frames} frames does not fit a {cfg.size} px frame")


def write_preview(path, rows: list[tuple[Item, np.ndarray]]) -> None:
    """Contact sheet: per row, a caption (id, question, options, answer) over the clip's frames, left to right."""
    from PIL import Image, ImageDraw, ImageFont

    t, h, w, _ = rows[0][1].shape
    scale, pad, caption = max(1, 96 // h), 4, 14
    sheet = Image.new("RGB", (pad + t * (w * scale + pad), pad + len(rows) * (caption + h * scale + pad)), "white")
    draw, font = ImageDraw.Draw(sheet), ImageFont.load_default()
    for r, (item, frames) in enumerate(rows):
        y = pad + r * (caption + h * scale + pad)
        draw.text((pad, y), _caption(item), fill="black", font=font)
        for i, frame in enumerate(frames):
            image = Image.fromarray(frame).resize((w * scale, h * scale), Image.NEAREST)
            sheet.paste(image, (pad + i * (w * scale + pad), y + caption))
    sheet.save(path)


def _caption(item: Item) -> str:
    if item.problem_type == "multiple_choice":
        answer = f"{item.answer}. {item.options[LETTERS.index(item.answer)]}"
    else:
        answer = item.answer
    head = f"{item.id} = {item.extra['twin_transform']}({item.extra['twin_of']})" if "twin_of" in item.extra \
        else f"{item.id} [{item.category}]"
    return f"{head}  {item.question}  ->  {answer}"
