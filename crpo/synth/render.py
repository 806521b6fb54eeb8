"""Numpy drawing of the synthetic scenes: two-tone textured objects composited on a flat grey background.

    frames = render(scene, cfg)   # uint8 [T, size, size, 3], RGB

Every object is textured (stripes or checks in its colour and near-black): probes showed that a tiny video
model learns the motion of a densely textured object but not that of a uniform box. Transitions are gradual
(alpha and colour ramps over several frames) so that order survives a 2-frame temporal patch. Shapes are drawn
mirror-symmetric about their own centre, so a flipped clip shows the same shapes.

Coordinates: x to the right, y downwards, angles from +x towards +y, so an increasing angle turns clockwise on
screen.
"""
from __future__ import annotations

import numpy as np

from crpo.synth.scenes import PALETTE, Config, Scene

BACKGROUND = np.array((110, 110, 110), np.float32)
DARK = np.array((25, 25, 25), np.float32)
GREY = np.array((185, 185, 185), np.float32)   # the colour of an object before it changes colour
BORDER = np.array((235, 235, 235), np.float32)


def render(scene: Scene, cfg: Config) -> np.ndarray:
    """Draw the original clip of `scene`."""
    frames = np.broadcast_to(BACKGROUND, (cfg.num_frames, cfg.size, cfg.size, 3)).copy()
    _DRAW[scene.kind](frames, scene, cfg)
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------------------
# Primitives

def pattern(params: dict, h: int, w: int, x0: float = 0.0, y0: float = 0.0) -> np.ndarray:
    """Texture in {0, 1}, float32 [h, w]; (x0, y0) is the texture coordinate of the top-left pixel."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y, half = x + x0, y + y0, params["period"] / 2
    if params["texture"] == "checks":
        return ((np.floor(x / half) + np.floor(y / half)) % 2).astype(np.float32)
    a = np.deg2rad(params["angle"])
    return (np.floor((x * np.cos(a) + y * np.sin(a)) / half) % 2).astype(np.float32)


def two_tone(tex: np.ndarray, colour) -> np.ndarray:
    """[h, w] texture -> [h, w, 3] image: 1 -> colour, 0 -> near-black."""
    return tex[..., None] * np.asarray(colour, np.float32) + (1 - tex[..., None]) * DARK


def shape_mask(shape: str, side: int) -> np.ndarray:
    """bool [side, side], symmetric under a left-right flip."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32)
    c, r = (side - 1) / 2, side / 2
    if shape == "square":
        return np.ones((side, side), bool)
    if shape == "circle":
        return (x - c) ** 2 + (y - c) ** 2 <= r ** 2
    if shape == "triangle":  # apex up
        return np.abs(x - c) <= (y + 1) / 2
    if shape == "diamond":
        return np.abs(x - c) + np.abs(y - c) <= r
    raise ValueError(f"unknown shape '{shape}'")


def paint(frame: np.ndarray, image: np.ndarray, mask: np.ndarray, top: int, left: int, alpha: float = 1.0) -> None:
    """Alpha-composite `image` [h, w, 3] where `mask` [h, w] onto `frame` at (top, left), clipped to the frame."""
    h, w = mask.shape
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, frame.shape[0]), min(left + w, frame.shape[1])
    if y1 <= y0 or x1 <= x0:
        return
    m = mask[y0 - top:y1 - top, x0 - left:x1 - left, None] * np.float32(alpha)
    region = frame[y0:y1, x0:x1]
    region[:] = region * (1 - m) + image[y0 - top:y1 - top, x0 - left:x1 - left] * m


def _times(cfg: Config) -> np.ndarray:
    """Normalised time of each frame, 0 at the first and 1 at the last."""
    return np.linspace(0.0, 1.0, cfg.num_frames, dtype=np.float32)


def _ramp(s: np.ndarray, first: str, answer: str) -> np.ndarray:
    """s for the first answer of a reversible pair, 1 - s for the second."""
    return s if answer == first else 1 - s


# ---------------------------------------------------------------------------------------------------------------
# One function per kind; each draws into float frames [T, S, S, 3] holding the background.

def _moving(frames, scene, cfg):
    p, o = scene.params, cfg.object_size
    image = two_tone(pattern(p, o, o), PALETTE[scene.colour])  # rigid: the texture travels with the object
    mask = np.ones((o, o), bool)
    direction = scene.truth["direction"]
    sign = 1 if direction in ("right", "down") else -1
    for t, frame in enumerate(frames):
        along = p["start"] + sign * int(round(cfg.speed * t))
        top, left = (p["across"], along) if direction in ("left", "right") else (along, p["across"])
        paint(frame, image, mask, top, left)


def _pinwheel(frames, scene, cfg):
    p, size = scene.params, cfg.size
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    dx, dy = x - p["cx"], y - p["cy"]
    r, theta = np.hypot(dx, dy), np.arctan2(dy, dx)
    disk = r <= cfg.object_size / 2
    sign = 1 if scene.truth["rotation"] == "clockwise" else -1
    colour = np.asarray(PALETTE[scene.colour], np.float32)
    for t, frame in enumerate(frames):
        # A feature at angle a at frame 0 sits at a + sign * omega * t: the pattern is read at the angle it came from.
        phase = theta - p["angle0"] - sign * p["omega"] * t + p["twist"] * r
        arm = (np.floor(phase * p["arms"] / np.pi) % 2).astype(np.float32)
        paint(frame, two_tone(arm, colour), disk, 0, 0)


def _grow(frames, scene, cfg):
    _draw_sized(frames, scene, cfg, _ramp(_times(cfg), "growing", scene.truth["change"]))


def _size(frames, scene, cfg):
    # "same" holds the middle size: the first frame alone cannot tell it from a change, only the clip can.
    size = scene.truth["size"]
    t = _times(cfg)
    _draw_sized(frames, scene, cfg, t if size == "grows" else 1 - t if size == "shrinks" else np.full_like(t, 0.5))


def _draw_sized(frames, scene, cfg, amounts):
    """A textured square or circle whose side goes from params small (amount 0) to big (amount 1)."""
    p, size = scene.params, cfg.size
    image = two_tone(pattern(p, size, size, -p["cx"], -p["cy"]), PALETTE[scene.colour])  # anchored at the centre
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    dx, dy = x - p["cx"], y - p["cy"]
    for frame, s in zip(frames, amounts):
        half = (p["small"] + (p["big"] - p["small"]) * s) / 2
        mask = np.hypot(dx, dy) <= half if p["shape"] == "circle" else np.maximum(abs(dx), abs(dy)) <= half
        paint(frame, image, mask, 0, 0)


def _fill(frames, scene, cfg):
    p = scene.params
    w, h, wall = p["width"], p["height"], 2
    box = np.ones((h, w), bool)
    box[wall:-wall, wall:-wall] = False
    inner_h = h - 2 * wall
    liquid = two_tone(pattern({"texture": "checks", "period": p["period"]}, inner_h, w - 2 * wall),
                      PALETTE[scene.colour])
    rows = np.arange(inner_h)[:, None]
    for frame, s in zip(frames, _ramp(_times(cfg), "filling", scene.truth["change"])):
        level = (0.12 + 0.8 * s) * inner_h
        mask = np.broadcast_to(rows >= inner_h - level, liquid.shape[:2])
        paint(frame, liquid, mask, p["top"] + wall, p["left"] + wall)
        paint(frame, np.broadcast_to(BORDER, (h, w, 3)), box, p["top"], p["left"])


def _fade(frames, scene, cfg):
    p, o = scene.params, cfg.object_size
    image, mask = two_tone(pattern(p, o, o), PALETTE[scene.colour]), shape_mask(p["shape"], o)
    for frame, s in zip(frames, _ramp(_times(cfg), "fading in", scene.truth["change"])):
        paint(frame, image, mask, p["top"], p["left"], alpha=0.06 + 0.94 * s)


def _event_slots(scene):
    """(shape, slot) of the object that goes first and of the one that goes second; slot 0 is the left one."""
    square_slot = 0 if scene.truth["square_side"] == "left" else 1
    slots = {"square": square_slot, "circle": 1 - square_slot}
    first = scene.truth["first"].removeprefix("the ")
    second = "circle" if first == "square" else "square"
    return [(first, slots[first]), (second, slots[second])]


def _appear(frames, scene, cfg):
    p = scene.params
    tex = pattern(p, p["side"], p["side"])
    image = two_tone(tex, PALETTE[scene.colour])
    s, ramp = _times(cfg), 0.2
    # Visible windows are mirror images in time: on the reversed clip the second object appears first.
    for (shape, slot), (a0, a1) in zip(_event_slots(scene), ((0.05, 0.6), (0.4, 0.95))):
        alpha = np.clip((s - a0) / ramp, 0, 1) * np.clip((a1 - s) / ramp, 0, 1)
        mask = shape_mask(shape, p["side"])
        for frame, a in zip(frames, alpha):
            paint(frame, image, mask, p["tops"][slot], p["lefts"][slot], alpha=float(a))


def _recolour(frames, scene, cfg):
    p = scene.params
    tex = pattern(p, p["side"], p["side"])
    colour = np.asarray(PALETTE[scene.colour], np.float32)
    s = _times(cfg)
    for (shape, slot), centre in zip(_event_slots(scene), (1 / 3, 2 / 3)):
        amount = np.clip((s - centre) / 0.3 + 0.5, 0, 1)  # grey -> colour, centred on a third of the clip
        mask = shape_mask(shape, p["side"])
        for frame, c in zip(frames, amount):
            paint(frame, two_tone(tex, GREY * (1 - c) + colour * c), mask, p["tops"][slot], p["lefts"][slot])


def _static(frames, scene, cfg):
    p = scene.params
    if "objects" in p:
        objects, side = p["objects"], p["side"]
    else:
        objects, side = [{"shape": p["shape"], "colour": scene.colour,
                          "left": p["left"], "top": p["top"]}], cfg.object_size
    tex = pattern(p, side, side)
    for ob in objects:
        paint(frames[0], two_tone(tex, PALETTE[ob["colour"]]), shape_mask(ob["shape"], side), ob["top"], ob["left"])
    frames[1:] = frames[0]


_DRAW = {"stripes": _moving, "checks": _moving, "slide": _moving, "pinwheel": _pinwheel, "grow": _grow, "size": _size, "fill": _fill, "fade": _fade,
         "appear": _appear, "recolour": _recolour, "colour": _static, "hue": _static, "shape": _static, "count": _static,
         "relative": _static, "side": _static}
