"""The synthetic world: determinism (bytes and decoded frames, across processes and heap states), counts, the
training shortcut, options without the counterfactual answer, bench balance and pairing, lossless twins, ground
truth read back from decoded pixels, and the router against every item."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest

from crpo.data.items import LETTERS, DataError, load_items
from crpo.synth import generate
from crpo.synth.render import BACKGROUND, render
from crpo.synth.scenes import (CATEGORIES, CUE_COLOURS, DIRECTIONS, DYNAMIC, KINDS, PALETTE, SIZE_QUESTIONS, SIZES,
                               Config, num_answers, transform_scene, transform_truth)
from crpo.synth.world import apply_transform, bench_scene, skewed_prior, train_scene

CFG = Config()
TRAIN, PAIRS = 36, 48  # 48 pairs: 8 per category, every kind of every category at least twice


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate(out, train=TRAIN, bench_pairs=PAIRS, bias=0.9, seed=3, preview=True, null_share=0.5)
    return out


def decode(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def answer_text(item) -> str:
    return item.options[LETTERS.index(item.answer)] if item.problem_type == "multiple_choice" else item.answer


# ---------------------------------------------------------------------------------------------------------------
# Layout, counts, determinism

def test_layout_and_counts(world):
    train, bench = load_items(world / "train.jsonl"), load_items(world / "bench.jsonl")
    assert len(train) == TRAIN and len(bench) == 2 * PAIRS
    for item in train + bench:
        assert (world / item.video).is_file() and not Path(item.video).is_absolute()
        assert item.transform is None  # twins are materialised
    assert all(i.video.startswith("videos/train/") for i in train)
    assert all(i.video.startswith("videos/bench/") for i in bench)
    assert Counter(i.category for i in train) == {c: TRAIN // len(CATEGORIES) for c in CATEGORIES}
    assert (world / "preview.png").stat().st_size > 10_000
    assert decode(world / train[0].video).shape == (CFG.num_frames, CFG.size, CFG.size, 3)


def test_same_seed_same_bytes_and_frames(world, tmp_path):
    # A smaller run with the same seed must reproduce the first items exactly: item i depends on (seed, split, i).
    generate(tmp_path, train=6, bench_pairs=6, bias=0.9, seed=3)
    for name, n in (("train.jsonl", 6), ("bench.jsonl", 12)):
        assert (tmp_path / name).read_text().splitlines() == (world / name).read_text().splitlines()[:n]
    for item in load_items(tmp_path / "bench.jsonl")[:4]:
        assert np.array_equal(decode(tmp_path / item.video), decode(world / item.video))
    other = tmp_path / "other"
    generate(other, train=6, bench_pairs=0, bias=0.9, seed=4)
    assert (other / "train.jsonl").read_text() != (tmp_path / "train.jsonl").read_text()


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(DataError, match="unknown categories"):
        generate(tmp_path, train=1, bench_pairs=0, categories=["moving_direction", "teleport"])
    with pytest.raises(DataError, match="even"):
        generate(tmp_path, train=1, bench_pairs=0, num_frames=7)
    with pytest.raises(DataError, match="does not fit"):
        generate(tmp_path, train=1, bench_pairs=0, object_size=48, speed=3)


def test_categories_subset(tmp_path):
    generate(tmp_path, train=4, bench_pairs=2, seed=0, categories=["rotation"])
    items = load_items(tmp_path / "train.jsonl") + load_items(tmp_path / "bench.jsonl")
    assert {i.category for i in items} == {"rotation"}


# ---------------------------------------------------------------------------------------------------------------
# Shortcut in train, balance and pairing in the bench

@pytest.mark.parametrize("bias", [0.0, 0.5, 0.9])
def test_train_colour_cue_holds_with_probability_bias(bias):
    """Sampling only (no rendering): over dynamic items the colour is the answer's cue colour in a `bias` share,
    and option A is drawn with the skewed prior."""
    n, cats = 1200, tuple(sorted(DYNAMIC))
    hits, first, expected_first = 0, 0, 0.0
    for i in range(n):
        scene, cue = train_scene(i, 0, CFG, cats, bias)
        assert cue == (scene.colour == CUE_COLOURS[scene.answer_index])
        hits += cue
        first += scene.answer_index == 0
        expected_first += skewed_prior(len(scene.options), bias)[0]
    sigma = np.sqrt(max(bias * (1 - bias), 0.01) / n)
    assert abs(hits / n - bias) < 4 * sigma
    assert abs(first - expected_first) < 4 * np.sqrt(n * 0.25)


def test_train_items_record_the_cue(world):
    for item in load_items(world / "train.jsonl"):
        if item.category in DYNAMIC:
            # the cue colour stands for the answer's value (its index among all of the question's answers), also
            # where the options leave a value out and the letters shift
            truth = item.extra["truth"]
            full = DIRECTIONS.index(truth["direction"]) if "direction" in truth else \
                SIZES.index(truth["size"]) if "size" in truth else LETTERS.index(item.answer)
            assert item.extra["cue"] == (item.extra["colour"] == CUE_COLOURS[full])
        else:
            assert item.extra["cue"] is False


def test_bench_answers_balanced_and_colour_free():
    counts, cue_hits, dynamic = {}, 0, 0
    for i in range(96):
        scene, _ = bench_scene(i, 0, CFG, CATEGORIES)
        key = scene.answer if scene.options is None else scene.answer_index  # colour questions: balanced letters
        counts.setdefault((scene.category, scene.kind), Counter())[key] += 1
        if scene.category in DYNAMIC:
            dynamic += 1
            cue_hits += scene.colour == CUE_COLOURS[scene.answer_index]
    assert {k for _, k in counts} == {k for ks in KINDS.values() for k in ks}
    for (category, kind), c in counts.items():
        assert len(c) == min(num_answers(category, kind), sum(c.values())), (kind, c)
        assert max(c.values()) - min(c.values()) <= 1, (kind, c)
    assert cue_hits / dynamic < 0.3  # chance is about 1/8; the training shortcut would give ~0.9


def test_bench_pairs(world):
    bench = load_items(world / "bench.jsonl")
    assert len({i.id for i in bench}) == len(bench)
    for original, twin in zip(bench[::2], bench[1::2]):
        assert original.pair_id == twin.pair_id and twin.extra["twin_of"] == original.id
        assert (original.question, original.options, original.category) == (twin.question, twin.options, twin.category)
        assert twin.extra["colour"] == original.extra["colour"]
        t, truth = twin.extra["twin_transform"], original.extra["truth"]
        if original.extra["kind"] in ("stripes", "checks") and t == "hflip":  # mirror pairs of direction questions
            assert (twin.answer != original.answer) == (truth["direction"] in ("left", "right"))
        elif original.extra["kind"] == "size" and truth["size"] == "same":  # no change to reverse: a mirror twin
            assert t == "hflip" and twin.answer == original.answer
        elif original.category in DYNAMIC:  # the answer must move, so no function of the (shared) colour is right twice
            assert t == "reverse" and twin.answer != original.answer
        elif original.extra["kind"] in ("relative", "side"):
            assert t == "hflip" and twin.answer != original.answer
        else:
            assert t == "hflip" and twin.answer == original.answer


def test_direction_bench_has_mirror_and_reversal_pairs():
    drawn = [bench_scene(i, 0, CFG, ("moving_direction",), {"moving_direction": ("checks",)}) for i in range(16)]
    pairs = Counter((scene.truth["direction"], transform) for scene, transform in drawn)
    # every direction twice reversed and twice mirrored (horizontal: the opposite; vertical: an invariance pair)
    assert pairs == {(d, t): 2 for d in DIRECTIONS for t in ("hflip", "reverse")}


def test_some_training_items_leave_the_counterfactual_answer_out():
    cats = ("moving_direction", "reversible_dynamics", "event_sequence")
    scenes = [train_scene(i, 0, CFG, cats, 0.5, null_share=0.4)[0] for i in range(600)]
    many = [sc for sc in scenes if num_answers(sc.category, sc.kind) >= 3]  # 4 directions, 3 sizes
    changing = [sc for sc in many if transform_truth(sc.truth, "reverse") != sc.truth]
    left_out = [sc for sc in many if transform_scene(sc, "reverse").answer is None]
    assert set(map(id, left_out)) <= set(map(id, changing))
    assert 0.25 < len(left_out) / len(changing) < 0.55, (len(left_out), len(changing))  # about null_share
    for sc in left_out:
        assert sc.answer in sc.options and len(sc.options) == num_answers(sc.category, sc.kind) - 1
    ids = set(map(id, many))
    assert all(transform_scene(sc, "reverse").answer is not None for sc in scenes if id(sc) not in ids)
    # null_share 0 draws the same scenes as a world without the option: its draw comes last
    plain = [train_scene(i, 0, CFG, cats, 0.5)[0] for i in range(40)]
    assert [sc.params for sc in plain] == [sc.params for sc in scenes[:40]]


# ---------------------------------------------------------------------------------------------------------------
# Lossless video: decoded frames are the rendered ones, in every process and whatever the heap holds

def test_decoded_frames_equal_rendered_frames_and_twins_equal_transforms(world):
    bench = load_items(world / "bench.jsonl")
    for i, (original, twin) in enumerate(zip(bench[::2], bench[1::2])):
        drawn = render(bench_scene(i, 3, CFG, CATEGORIES)[0], CFG)
        assert np.array_equal(decode(world / original.video), drawn), original.id
        assert np.array_equal(decode(world / twin.video), apply_transform(drawn, twin.extra["twin_transform"]))


def test_synth_gives_identical_files_across_processes_and_heap_states(tmp_path):
    """The fault this guards against: x264's lossy AVX-512 path read heap memory it never wrote, so the same
    frames gave different mp4 bytes from one process to the next (only after torch was imported). Each run here
    imports torch first; the second fills fresh heap memory with a fixed byte (MALLOC_PERTURB_)."""
    code = "import sys, torch; from crpo.cli import main; sys.exit(main(sys.argv[1:]))"
    outs = []
    for k, extra_env in enumerate(({}, {"MALLOC_PERTURB_": "85"})):
        out = tmp_path / f"run{k}"
        env = {**os.environ, "PYTHONHASHSEED": str(k), **extra_env}
        subprocess.run([sys.executable, "-c", code, "synth", "--out", str(out), "--train", "8", "--bench-pairs", "8",
                        "--seed", "11", "--preview"], check=True, env=env, capture_output=True)
        outs.append(out)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert len(files) == 8 + 2 * 8 + 3 and files == sorted(p.relative_to(outs[1]) for p in outs[1].rglob("*")
                                                            if p.is_file())
    differ = [str(f) for f in files if (outs[0] / f).read_bytes() != (outs[1] / f).read_bytes()]
    assert not differ, differ


# ---------------------------------------------------------------------------------------------------------------
# Ground truth read back from decoded pixels, for originals and twins alike

def _deviation(frames):
    return np.abs(frames.astype(np.int32) - BACKGROUND.astype(np.int32)).sum(-1)


def _centroid(mask):
    y, x = np.nonzero(mask)
    return np.array([x.mean(), y.mean()])


def _halves(frames):
    dev, h = _deviation(frames), frames.shape[2] // 2
    return {"left": dev[:, :, :h], "right": dev[:, :, h:]}


def _first_event(activity_by_side, square_side):
    """The object whose activity curve (per frame) is centred earlier in time."""
    def when(curve):
        return (np.arange(len(curve)) * curve).sum() / curve.sum()
    side = min(activity_by_side, key=lambda s: when(activity_by_side[s]))
    return "the square" if side == square_side else "the circle"


def _components(mask):
    seen, count = np.zeros_like(mask), 0
    for y0, x0 in zip(*np.nonzero(mask)):
        if seen[y0, x0]:
            continue
        stack, size = [(y0, x0)], 0
        seen[y0, x0] = True
        while stack:
            y, x = stack.pop()
            size += 1
            for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        count += size >= 10
    return count


def _rotation(frames):
    mask = _deviation(frames[0]) > 60
    cx, cy = _centroid(mask)
    r, theta = np.meshgrid(np.arange(5, 14), np.deg2rad(np.arange(360)), indexing="ij")
    ys = np.clip(np.rint(cy + r * np.sin(theta)), 0, frames.shape[1] - 1).astype(int)
    xs = np.clip(np.rint(cx + r * np.cos(theta)), 0, frames.shape[2] - 1).astype(int)
    polar = frames[:, ys, xs].astype(np.float32).sum(-1)  # [T, radius, angle], angle increasing clockwise on screen
    shifts = np.arange(-40, 41)
    cost = [sum(np.abs(np.roll(a, d, axis=1) - b).mean() for a, b in zip(polar[:-1], polar[1:])) for d in shifts]
    return "clockwise" if shifts[int(np.argmin(cost))] > 0 else "counterclockwise"


SILHOUETTES = {  # on [-1, 1]^2, y downwards
    "square": lambda u, v: np.ones_like(u, bool), "circle": lambda u, v: u ** 2 + v ** 2 <= 1,
    "triangle": lambda u, v: np.abs(u) <= (v + 1) / 2, "diamond": lambda u, v: np.abs(u) + np.abs(v) <= 1}


def _shape(mask):
    """The silhouette that best overlaps the blob inside its bounding box (robust to a pixel of chroma bleed)."""
    ys, xs = np.nonzero(mask)
    box = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    v, u = np.meshgrid(np.linspace(-1, 1, box.shape[0]), np.linspace(-1, 1, box.shape[1]), indexing="ij")
    iou = {name: (box & f(u, v)).sum() / (box | f(u, v)).sum() for name, f in SILHOUETTES.items()}
    return max(iou, key=iou.get)


def _nearest_colour(pixels):
    names = list(PALETTE)
    rgb = np.median(pixels, axis=0)
    return names[int(np.argmin([np.abs(rgb - PALETTE[n]).sum() for n in names]))]


def _colour_mask(frame, colour):
    return np.abs(frame.astype(int) - PALETTE[colour]).sum(-1) < 90


def read_answer(item, frames) -> str:
    """The answer text that the decoded pixels show, computed without looking at the item's answer."""
    kind, truth = item.extra["kind"], item.extra["truth"]
    dev = _deviation(frames)
    mask = dev > 60
    if kind in ("stripes", "checks", "slide"):
        dx, dy = _centroid(mask[-1]) - _centroid(mask[0])
        return ("right" if dx > 0 else "left") if abs(dx) > abs(dy) else ("down" if dy > 0 else "up")
    if kind == "pinwheel":
        return _rotation(frames)
    if kind == "size":
        first, last = mask[0].sum(), mask[-1].sum()
        value = "same" if abs(int(last) - int(first)) < 0.1 * first else "grows" if last > first else "shrinks"
        phrasing = next(opts for _, opts in SIZE_QUESTIONS if set(item.options) <= set(opts))
        return phrasing[SIZES.index(value)]
    if kind in ("grow", "fill"):
        more = mask[-1].sum() > mask[0].sum()
        return {"grow": ("growing", "shrinking"), "fill": ("filling", "emptying")}[kind][not more]
    if kind == "fade":
        return "fading in" if dev[-1].sum() > dev[0].sum() else "fading out"
    if kind == "appear":
        return _first_event({s: d.sum((1, 2)).astype(float) for s, d in _halves(frames).items()}, truth["square_side"])
    if kind == "recolour":
        sat = frames.max(-1).astype(int) - frames.min(-1)
        half = frames.shape[2] // 2
        per_side = {"left": sat[:, :, :half].sum((1, 2)), "right": sat[:, :, half:].sum((1, 2))}
        return _first_event({s: np.abs(np.diff(v)).astype(float) for s, v in per_side.items()}, truth["square_side"])
    if kind in ("colour", "hue"):
        sat = frames[0].max(-1).astype(int) - frames[0].min(-1)
        return _nearest_colour(frames[0][mask[0] & (sat > 80)].astype(int))
    if kind == "shape":
        return _shape(mask[0])
    if kind == "count":
        return str(_components(mask[0]))
    if kind == "side":
        return "left" if _centroid(mask[0])[0] < frames.shape[2] / 2 else "right"
    if kind == "relative":
        subject = item.question.split()[2]
        partner = next(c for c in (truth["left"], truth["right"]) if c != subject)
        xs = {c: _centroid(_colour_mask(frames[0], c))[0] for c in (subject, partner)}
        return "yes" if xs[subject] < xs[partner] else "no"
    raise AssertionError(f"no reader for kind {kind}")


def test_answers_match_decoded_pixels(world):
    items = load_items(world / "bench.jsonl") + load_items(world / "train.jsonl")
    wrong = [(i.id, i.extra["kind"], answer_text(i), read_answer(i, decode(world / i.video))) for i in items
             if read_answer(i, decode(world / i.video)) != answer_text(i)]
    assert not wrong, wrong


# ---------------------------------------------------------------------------------------------------------------
# The router is right for every item of a synthetic bench

def test_router_is_right_for_every_bench_item(world):
    from crpo.routing.rules import choose_transform, relation

    bench = load_items(world / "bench.jsonl")
    wrong = []
    for original, twin in zip(bench[::2], bench[1::2]):
        t = twin.extra["twin_transform"]
        expected = ("same" if twin.answer == original.answer else "change", twin.answer)
        mirror_pair = original.category == "moving_direction" and t == "hflip"  # the bench's choice, not the router's
        got = (relation(original, t), t if mirror_pair else choose_transform(original))
        if got != (expected, t):
            wrong.append((original.id, original.question, got, (expected, t)))
    assert not wrong, json.dumps(wrong, indent=1)


def test_router_reads_every_items_class_and_counterfactual_answer_from_text(world):
    """Every multiple-choice item, every phrasing, options with and without the counterfactual answer: the class
    (crpo.routing.classes) follows from the world's truth, and under the class's transform the router's counterfactual
    answer is the world's where it is listed and unknown where it is not (there "None of the above" is right)."""
    from crpo.routing.classes import CLASS_TRANSFORM, question_class, relation_class
    from crpo.routing.rules import relation

    items = [i for i in load_items(world / "train.jsonl") + load_items(world / "bench.jsonl")
             if i.problem_type == "multiple_choice"]
    assert any(None in i.extra["counterfactual_answers"].values() for i in items)
    wrong = []
    for item in items:
        text, after = answer_text(item), item.extra["counterfactual_answers"]
        h, r = (after[t] != text for t in ("hflip", "reverse"))
        expected = "spatiotemporal" if h and r else "temporal" if r else "spatial" if h else "static"
        cls = question_class(item)
        t = CLASS_TRANSFORM.get(cls)
        want = ("change" if after[t] != text else "same",
                LETTERS[item.options.index(after[t])] if after[t] is not None else None) if t else None
        got = relation(item, t) if t else None
        if after.get(t, "") is None:  # left out of the options: the router cannot name it, the class still changes
            want, got = ("unknown", None, "change"), (*got, relation_class(item, t))
        if (cls, got) != (expected, want):
            wrong.append((item.id, item.question, item.options, text, (cls, got), (expected, want)))
    assert not wrong, json.dumps(wrong, indent=1)
