"""Scene definitions of the synthetic world: what each clip shows, the question asked and its ground truth.

    scene = sample_scene("moving_direction", rng, cfg, answer=1, colour="blue")
    scene.question, scene.options, scene.answer    # "Which way do the stripes move?", (left, right, up, down), "right"
    twin = transform_scene(scene, "reverse")      # the same scene as seen on the reversed clip: answer "left"

A Scene holds two dicts. `params` is everything the renderer needs to draw the original clip (positions,
texture periods, ...). `truth` holds the facts a question can be about (direction, order, sides, count, ...), in
a form that a counterfactual transform maps exactly: `transform_truth` mirrors lateral facts under hflip and
reverses temporal facts under reverse, and the answer is always derived from `truth`, never stored beside it.
That is how a twin's answer is obtained without a text rule, and what the router is tested against.

Colours: the first answers of every dynamic category have a cue colour (option 0 red, 1 blue, 2 green, 3 yellow).
The training split draws the object's colour from that cue with a controllable probability; the rest of the
time from NEUTRAL colours that say nothing about the answer. The bench draws from the whole palette at random.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

PALETTE = {
    "red": (220, 40, 40), "blue": (40, 90, 235), "green": (40, 180, 60), "yellow": (235, 215, 40),
    "orange": (245, 135, 25), "purple": (150, 60, 205), "cyan": (40, 205, 215), "pink": (245, 120, 185),
}
CUE_COLOURS = ("red", "blue", "green", "yellow")   # cue colour of option 0, 1, 2, 3 of a dynamic question
NEUTRAL_COLOURS = ("orange", "purple", "cyan", "pink")
SHAPES = ("square", "circle", "triangle", "diamond")  # all mirror-symmetric: a flip never changes a shape's name

CATEGORIES = ("moving_direction", "rotation", "reversible_dynamics", "event_sequence", "static_attribute",
              "static_spatial")
DYNAMIC = frozenset(CATEGORIES[:4])
KINDS = {
    "moving_direction": ("stripes", "checks", "slide"),
    "rotation": ("pinwheel",),
    "reversible_dynamics": ("grow", "fill", "fade", "size"),
    "event_sequence": ("appear", "recolour"),
    "static_attribute": ("colour", "hue", "shape", "count"),
    "static_spatial": ("relative", "side"),
}
MAX_COUNT = 5

DIRECTIONS = ("left", "right", "up", "down")
CHANGES = {"grow": ("growing", "shrinking"), "fill": ("filling", "emptying"), "fade": ("fading in", "fading out")}
EVENT_OBJECTS = ("the square", "the circle")
SIZES = ("grows", "shrinks", "same")  # the three answers of the "size" kind: DyBench's 3-way reversible dynamics

# Several phrasings per question, each worded so that the lexicon router (crpo/routing/rules.py) reads its class and its
# counterfactual answer from the text alone (tests/test_synth.py checks every one against the router).
MOVE_QUESTIONS = ("Which way does the checkered square move?", "In which direction is the checkered square moving?",
                  "Where does the checkered square slide to?")
SIZE_QUESTIONS = (  # (question with {shape}, option texts for SIZES in order)
    ("Is the {shape} growing, shrinking or staying the same size?", ("growing", "shrinking", "staying the same size")),
    ("How does the size of the {shape} change?", ("it grows", "it shrinks", "it stays the same size")),
    ("What happens to the size of the {shape}?", ("it gets bigger", "it gets smaller", "it does not change")),
)
APPEAR_QUESTIONS = ("Which object appears first?", "Which shape appears earlier?", "Which object appears first in the clip?")
HUE_QUESTIONS = ("What colour is the object?", "Which colour is the shape painted in?", "What is the colour of the object?")

_MIRROR = {"left": "right", "right": "left"}
_OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}
_SPIN = {"clockwise": "counterclockwise", "counterclockwise": "clockwise"}
_UNDO = {a: b for pair in CHANGES.values() for a, b in (pair, pair[::-1])}
_UNDO_SIZE = {"grows": "shrinks", "shrinks": "grows", "same": "same"}
_OTHER_EVENT = dict(zip(EVENT_OBJECTS, EVENT_OBJECTS[::-1]))


@dataclass(frozen=True)
class Config:
    """Geometry and timing shared by every clip of a dataset."""
    num_frames: int = 8
    size: int = 64          # frame height and width
    object_size: int = 32   # side of the main textured object
    speed: float = 3.0      # pixels per frame (rim speed for rotation)


@dataclass(frozen=True)
class Scene:
    category: str
    kind: str
    question: str
    options: tuple[str, ...] | None  # option texts for multiple choice, None otherwise
    problem_type: str                # multiple_choice | yes_no | numerical
    colour: str                      # colour of the main object(s): the static cue of dynamic scenes
    truth: dict                      # JSON-serialisable facts; the answer is derived from them
    params: dict                     # renderer parameters of the original clip
    values: tuple[str, ...] | None = None  # the truth value each option stands for, where option texts are phrased
                                           # ("it grows" = "grows") or some values are left out of the options

    @property
    def answer(self) -> str | None:
        """Option text, "yes"/"no" or a number as text; None when the options leave the true value out (then
        "None of the above" is the right answer)."""
        t = self.truth
        if self.values is not None:
            value = str(t[_ANSWER_KEY[self.kind]])
            return self.options[self.values.index(value)] if value in self.values else None
        if self.kind == "relative":
            return "yes" if t["left"] == t["subject"] else "no"
        if self.kind == "count":
            return str(t["count"])
        return str(t[_ANSWER_KEY[self.kind]])

    @property
    def answer_index(self) -> int | None:
        return self.options.index(self.answer) if self.options and self.answer is not None else None


_ANSWER_KEY = {"stripes": "direction", "checks": "direction", "slide": "direction", "pinwheel": "rotation", "grow": "change", "size": "size",
               "fill": "change", "fade": "change", "appear": "first", "recolour": "first", "colour": "colour", "hue": "colour",
               "shape": "shape", "side": "side"}


def transform_truth(truth: dict, transform: str) -> dict:
    """The facts as seen on the transformed clip (hflip, reverse, or hflip+reverse applied in that order)."""
    t = dict(truth)
    for op in transform.split("+"):
        if op == "hflip":
            for key in ("direction", "side", "square_side"):
                if key in t:
                    t[key] = _MIRROR.get(t[key], t[key])  # up and down survive a mirror
            if "rotation" in t:
                t["rotation"] = _SPIN[t["rotation"]]
            if "left" in t:
                t["left"], t["right"] = t["right"], t["left"]
        elif op == "reverse":
            if "direction" in t:
                t["direction"] = _OPPOSITE[t["direction"]]
            if "rotation" in t:
                t["rotation"] = _SPIN[t["rotation"]]
            if "change" in t:
                t["change"] = _UNDO[t["change"]]
            if "size" in t:
                t["size"] = _UNDO_SIZE[t["size"]]
            if "first" in t:
                t["first"] = _OTHER_EVENT[t["first"]]
        else:
            raise ValueError(f"unknown transform '{transform}'")
    return t


def transform_scene(scene: Scene, transform: str) -> Scene:
    """The scene as seen on the transformed clip: same question and options, mapped truth (and so answer)."""
    return replace(scene, truth=transform_truth(scene.truth, transform))


def twin_transform(scene: Scene, mirror: bool = False) -> str:
    """The bench twin's transform, by the router's rule: reverse when it changes the answer, else hflip (which
    changes the answer of lateral questions and is an invariance twin for the others). `mirror` asks for the
    hflip twin of a direction question instead: horizontal motion mirrors to its opposite, vertical motion is an
    invariance pair."""
    if mirror and scene.category == "moving_direction":
        return "hflip"
    return "reverse" if transform_scene(scene, "reverse").answer != scene.answer else "hflip"


def without_counterfactual_answer(scene: Scene, transform: str = "reverse") -> Scene:
    """The scene with the option of its counterfactual answer under `transform` left out, so that "None of the
    above" is the right answer on the transformed clip. Unchanged when the transform keeps the answer."""
    after = transform_scene(scene, transform).answer
    if scene.options is None or after is None or after == scene.answer:
        return scene
    keep = [i for i, o in enumerate(scene.options) if o != after]
    values = scene.values or scene.options
    return replace(scene, options=tuple(scene.options[i] for i in keep), values=tuple(values[i] for i in keep))


def num_answers(category: str, kind: str) -> int:
    """How many distinct answers a (category, kind) has: what balancing and priors cycle over."""
    return {"stripes": 4, "checks": 4, "slide": 2, "size": len(SIZES), "colour": 4, "hue": len(CUE_COLOURS), "shape": len(SHAPES), "count": MAX_COUNT}.get(kind, 2)


# ---------------------------------------------------------------------------------------------------------------
# Sampling. `answer` is the index of the correct answer (count - 1 for counts); `colour` the main object's colour.

def sample_scene(category: str, kind: str, rng: np.random.Generator, cfg: Config, answer: int,
                 colour: str) -> Scene:
    return _SAMPLERS[kind](category, kind, rng, cfg, answer, colour)


def _texture(rng: np.random.Generator, cfg: Config, texture: str | None = None) -> dict:
    """Texture parameters (`texture`: checks | stripes | None for either). The period is more than twice the
    per-frame motion, so one frame's step never aliases into the opposite direction."""
    period = int(max(rng.choice([8, 10, 12]), 2 * np.ceil(cfg.speed) + 2))
    texture = texture or str(rng.choice(["checks", "stripes"]))
    if texture == "checks":
        return {"texture": "checks", "period": period}
    return {"texture": "stripes", "period": period, "angle": int(rng.choice([0, 45, 90, 135]))}


def _moving(category, kind, rng, cfg, answer, colour):
    # "slide" is the two-way (left/right) version of "checks": the easiest motion for a tiny model to learn.
    options = DIRECTIONS[:2] if kind == "slide" else DIRECTIONS
    direction = options[answer]
    o, s = cfg.object_size, cfg.size
    travel = int(round(cfg.speed * (cfg.num_frames - 1)))
    start = int(rng.integers(0, s - o - travel + 1))
    if direction in ("left", "up"):
        start += travel
    across = int(rng.integers(0, s - o + 1))
    # Stripe orientation is drawn independently of the direction: it must not give the axis away.
    tex = _texture(rng, cfg, "checks" if kind == "slide" else kind)
    question = "Which way do the stripes move?" if kind == "stripes" else str(rng.choice(MOVE_QUESTIONS))
    return Scene(category, kind, question, options, "multiple_choice", colour, {"direction": direction},
                 {"start": start, "across": across, **tex})


def _size(category, kind, rng, cfg, answer, colour):
    """3-way reversible dynamics: a textured square or circle grows, shrinks or keeps its (middle) size."""
    o, s = cfg.object_size, cfg.size
    shape = str(rng.choice(["square", "circle"]))
    big = min(s - 4, o * 3 // 2)
    question, options = SIZE_QUESTIONS[int(rng.integers(len(SIZE_QUESTIONS)))]
    params = {"shape": shape, "small": max(6, o // 3), "big": big,
              "cx": float(rng.uniform(big / 2 + 1, s - big / 2 - 1)),
              "cy": float(rng.uniform(big / 2 + 1, s - big / 2 - 1)), **_texture(rng, cfg, "checks")}
    return Scene(category, kind, question.format(shape=shape), options, "multiple_choice", colour,
                 {"size": SIZES[answer]}, params, values=SIZES)


def _pinwheel(category, kind, rng, cfg, answer, colour):
    rotation = ("clockwise", "counterclockwise")[answer]
    o, s = cfg.object_size, cfg.size
    omega = cfg.speed / (0.35 * o)  # rad/frame: `speed` px/frame at 70% of the radius
    # Half an arm period must exceed one frame's turn, or the pattern would seem to spin the other way.
    arms = [n for n in (3, 4, 5, 6) if np.pi / n > 1.5 * omega] or [2]
    params = {"cx": float(rng.uniform(o / 2, s - o / 2)), "cy": float(rng.uniform(o / 2, s - o / 2)),
              "arms": int(rng.choice(arms)), "twist": float(rng.choice([-0.12, 0.0, 0.12])),
              "angle0": float(rng.uniform(0, 2 * np.pi)), "omega": float(omega)}
    return Scene(category, kind, "Which way does the disk rotate?", ("clockwise", "counterclockwise"),
                 "multiple_choice", colour, {"rotation": rotation}, params)


def _reversible(category, kind, rng, cfg, answer, colour):
    change = CHANGES[kind][answer]
    o, s = cfg.object_size, cfg.size
    if kind == "grow":
        shape = str(rng.choice(["square", "circle"]))
        big = min(s - 4, o * 3 // 2)
        params = {"shape": shape, "small": max(6, o // 3), "big": big,
                  "cx": float(rng.uniform(big / 2 + 1, s - big / 2 - 1)),
                  "cy": float(rng.uniform(big / 2 + 1, s - big / 2 - 1)), **_texture(rng, cfg, "checks")}
        question = f"Is the {shape} growing or shrinking?"
    elif kind == "fill":
        height = min(s - 4, o * 3 // 2)
        params = {"width": o, "height": height, "left": int(rng.integers(0, s - o + 1)),
                  "top": int(rng.integers(0, s - height + 1)), "period": int(rng.choice([6, 8]))}
        question = "Is the box filling or emptying?"
    else:
        params = {"shape": str(rng.choice(["square", "circle"])), "left": int(rng.integers(0, s - o + 1)),
                  "top": int(rng.integers(0, s - o + 1)), **_texture(rng, cfg)}
        question = "Does the object fade in or fade out?"
    return Scene(category, kind, question, CHANGES[kind], "multiple_choice", colour, {"change": change}, params)


def _event(category, kind, rng, cfg, answer, colour):
    s = cfg.size
    side = min(cfg.object_size, s // 2 - 4)
    square_side = str(rng.choice(["left", "right"]))
    lefts = [int(rng.integers(1, s // 2 - side)), int(rng.integers(s // 2 + 1, s - side))]
    tops = [int(rng.integers(0, s - side + 1)) for _ in range(2)]
    params = {"side": side, "lefts": lefts, "tops": tops, **_texture(rng, cfg)}
    question = str(rng.choice(APPEAR_QUESTIONS)) if kind == "appear" else "Which object changes colour first?"
    return Scene(category, kind, question, EVENT_OBJECTS, "multiple_choice", colour,
                 {"first": EVENT_OBJECTS[answer], "square_side": square_side}, params)


def _attribute(category, kind, rng, cfg, answer, colour):
    s, o = cfg.size, cfg.object_size
    if kind == "count":
        cell = max(o // 2, 12)
        grid = s // cell
        cells = rng.choice(grid * grid, size=answer + 1, replace=False)
        objects = [{"shape": str(rng.choice(SHAPES)), "colour": str(rng.choice(list(PALETTE))),
                    "left": int(c % grid * cell + rng.integers(1, 4)), "top": int(c // grid * cell + rng.integers(1, 4))}
                   for c in cells]
        tex = _texture(rng, cfg)
        tex["period"] = min(tex["period"], max(4, (cell - 4) // 2))  # static: a fine texture cannot alias
        return Scene(category, kind, "How many objects are there?", None, "numerical", colour,
                     {"count": answer + 1}, {"objects": objects, "side": cell - 4, **tex})
    place = {"left": int(rng.integers(0, s - o + 1)), "top": int(rng.integers(0, s - o + 1)), **_texture(rng, cfg)}
    if kind == "shape":
        shape = SHAPES[answer]
        return Scene(category, kind, "What shape is the object?", SHAPES, "multiple_choice", colour,
                     {"shape": shape}, {"shape": shape, **place})
    if kind == "hue":  # fixed options: the answer's letter is a function of the pixels, no option text to read
        colour = CUE_COLOURS[answer]
        return Scene(category, kind, str(rng.choice(HUE_QUESTIONS)), CUE_COLOURS, "multiple_choice", colour,
                     {"colour": colour}, {"shape": str(rng.choice(SHAPES)), **place})
    others = [c for c in PALETTE if c != colour]
    options = [str(c) for c in rng.choice(others, size=3, replace=False)]
    options.insert(answer, colour)
    return Scene(category, kind, "What colour is the object?", tuple(options), "multiple_choice", colour,
                 {"colour": colour}, {"shape": str(rng.choice(SHAPES)), **place})


def _spatial(category, kind, rng, cfg, answer, colour):
    s = cfg.size
    side = min(cfg.object_size, s // 2 - 4)
    shapes = [str(x) for x in rng.choice(SHAPES, size=2)]
    lefts = [int(rng.integers(1, s // 2 - side)), int(rng.integers(s // 2 + 1, s - side))]
    tops = [int(rng.integers(0, s - side + 1)) for _ in range(2)]
    if kind == "side":
        where = ("left", "right")[answer]
        params = {"side": side, "objects": [{"shape": shapes[0], "colour": colour, "top": tops[0],
                                             "left": lefts[where == "right"]}], **_texture(rng, cfg)}
        return Scene(category, kind, f"Which side of the frame is the {colour} object on?", ("left", "right"),
                     "multiple_choice", colour, {"side": where}, params)
    other = str(rng.choice([c for c in PALETTE if c != colour]))
    subject, partner = (colour, other) if rng.random() < 0.5 else (other, colour)
    # answer 0 = "yes": the subject is on the left.
    left, right = (subject, partner) if answer == 0 else (partner, subject)
    params = {"side": side, "objects": [{"shape": shapes[0], "colour": left, "left": lefts[0], "top": tops[0]},
                                        {"shape": shapes[1], "colour": right, "left": lefts[1], "top": tops[1]}],
              **_texture(rng, cfg)}
    return Scene(category, kind, f"Is the {subject} object left of the {partner} one?", None, "yes_no", colour,
                 {"left": left, "right": right, "subject": subject}, params)


_SAMPLERS = {"stripes": _moving, "checks": _moving, "slide": _moving, "pinwheel": _pinwheel, "grow": _reversible,
             "size": _size,
             "fill": _reversible, "fade": _reversible, "appear": _event, "recolour": _event,
             "colour": _attribute, "hue": _attribute, "shape": _attribute, "count": _attribute, "relative": _spatial, "side": _spatial}
