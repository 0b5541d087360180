"""Procedural rendering of the synthetic clips and still images, in vectorised numpy.

A scene is a cluttered textured background (smooth colour field, muted rectangles and
lines, sometimes a stripe texture and a brick wall), a few small distractor shapes
(static or drifting, colours from the same vocabulary), and one large target object
(14-24 px) whose position, size, angle, opacity and colour follow a motion program over
time. Distractors and clutter make the informative patches a small part of the frame.

Shapes are drawn anti-aliased from signed distance functions, for all frames at once:
every per-frame quantity is an array of length T broadcast against the pixel grid.
Backgrounds are kept smooth (no per-pixel noise) so that H.264 at crf 18 reproduces
the rendered pixels closely.

Every pixel is a function of the seed alone, on any CPU: geometry uses only operations
IEEE 754 rounds exactly (+, -, *, /, sqrt, comparisons), never numpy's CPU-dispatched
transcendentals or BLAS (see exact_math.py and ``_upsample``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tcclip.synth import exact_math as exact
from tcclip.synth.vocab import (
    COLOURS,
    REVERSAL_PAIRS,
    ROUND_SHAPES,
    SHAPES,
    VIDEO_SIZE_RANGE,
    ComposedClass,
    ReversalClass,
)

VIDEO_SIDE = 72  # rendered clips are 72 x 72 (short side 72; the model crops 64)
IMAGE_SIDE = 64  # still images for CLIP pretraining match the model's 64-px input
COLOUR_NAMES = list(COLOURS)
RGB = {name: np.array(rgb, dtype=np.float32) for name, rgb in COLOURS.items()}


# --------------------------------------------------------------------------- shapes


def _grid(side: int) -> tuple[np.ndarray, np.ndarray]:
    coords = np.arange(side, dtype=np.float32) + 0.5  # pixel centres
    return coords[None, :], coords[:, None]  # x (1, W), y (H, 1)


def shape_distance(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance (negative inside) in units of the object's radius; v points down."""
    if shape == "circle":
        return np.sqrt(u * u + v * v) - 1.0
    if shape == "ring":
        return np.abs(np.sqrt(u * u + v * v) - 0.7) - 0.3
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) - 0.82
    if shape == "triangle":  # equilateral, apex up, circumradius 1.1
        r = 0.55
        return np.maximum.reduce([v - r, 0.866 * u - 0.5 * v - r, -0.866 * u - 0.5 * v - r])
    if shape == "cross":
        arm = 0.34
        bar_h = np.maximum(np.abs(u) - 1.0, np.abs(v) - arm)
        bar_v = np.maximum(np.abs(u) - arm, np.abs(v) - 1.0)
        return np.minimum(bar_h, bar_v)
    if shape == "star":  # five points, apex up; radius between 0.45 and 1.1 by angle
        radius = np.sqrt(u * u + v * v)
        angle = exact.arctan2(u, -v).astype(np.float32)  # 0 at the top
        sector = 2 * np.pi / 5
        tip = np.abs((np.mod(angle, sector) / sector) - 0.5) * 2  # 1 at a tip, 0 between tips
        return (radius - (0.45 + 0.65 * tip)) * 0.8
    raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")


def shape_alpha(shape, cx, cy, radius, angle, side: int) -> np.ndarray:
    """Coverage (T, side, side) in [0, 1] of a shape; arguments are arrays of length T."""
    alpha, (y0, x0) = shape_alpha_window(shape, cx, cy, radius, angle, side)
    full = np.zeros((alpha.shape[0], side, side), dtype=np.float32)
    full[:, y0 : y0 + alpha.shape[1], x0 : x0 + alpha.shape[2]] = alpha
    return full


def shape_alpha_window(shape, cx, cy, radius, angle, side: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Coverage inside the smallest window holding the shape in every frame: (T, h, w), (y0, x0).

    Drawing only inside that window is what keeps rendering fast (most of a frame is
    untouched by any one object).
    """
    cx, cy, radius, angle = (np.asarray(a, dtype=np.float32).reshape(-1, 1, 1) for a in (cx, cy, radius, angle))
    reach = 1.2 * radius + 1.0  # every shape fits in 1.1 radii, plus the anti-aliasing pixel
    x0 = int(np.clip(np.floor((cx - reach).min()), 0, side - 1))
    x1 = int(np.clip(np.ceil((cx + reach).max()), x0 + 1, side))
    y0 = int(np.clip(np.floor((cy - reach).min()), 0, side - 1))
    y1 = int(np.clip(np.ceil((cy + reach).max()), y0 + 1, side))
    x = np.arange(x0, x1, dtype=np.float32)[None, None, :] + 0.5
    y = np.arange(y0, y1, dtype=np.float32)[None, :, None] + 0.5
    dx, dy = x - cx, y - cy
    sin, cos = (a.astype(np.float32) for a in exact.sin_cos(angle))
    u = (dx * cos + dy * sin) / radius
    v = (-dx * sin + dy * cos) / radius
    return np.clip(0.5 - shape_distance(shape, u, v) * radius, 0.0, 1.0), (y0, x0)


def composite(frames: np.ndarray, alpha: np.ndarray, colour: np.ndarray, at: tuple[int, int] = (0, 0)) -> None:
    """In place: paint colour (3,) or (T, 3) at coverage alpha (T or 1, h, w) onto frames
    (T, H, W, 3), with the alpha window's top-left corner at ``at`` = (y0, x0)."""
    colour = np.asarray(colour, dtype=np.float32)
    colour = colour.reshape(-1, 1, 1, 3) if colour.ndim == 2 else colour.reshape(1, 1, 1, 3)
    y0, x0 = at
    region = frames[:, y0 : y0 + alpha.shape[1], x0 : x0 + alpha.shape[2]]
    a = alpha[..., None]
    region *= 1.0 - a
    region += a * colour


# --------------------------------------------------------------------------- background


def _upsample(coarse: np.ndarray, side: int) -> np.ndarray:
    """Bilinear upsampling of a (g, g, 3) grid to (side, side, 3), rows then columns.

    Elementwise gathers and blends, not a matrix product: BLAS picks its kernel by CPU
    (measured: OpenBLAS's Sandybridge and Haswell kernels round differently), while
    elementwise float32 multiply-adds round the same everywhere.
    """
    g = coarse.shape[0]
    pos = (np.arange(side) + 0.5) / side * (g - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, g - 2)
    frac = (pos - lo).astype(np.float32)
    rows = coarse[lo] * (1 - frac)[:, None, None] + coarse[lo + 1] * frac[:, None, None]  # (side, g, 3)
    return rows[:, lo] * (1 - frac)[None, :, None] + rows[:, lo + 1] * frac[None, :, None]


def _muted(rng: np.random.Generator, grey: float, amount: float) -> np.ndarray:
    return grey + amount * (rng.uniform(0, 255, 3).astype(np.float32) - 128.0)


def background(rng: np.random.Generator, side: int, wall: bool = False) -> np.ndarray:
    """A cluttered, smooth, low-saturation background (side, side, 3) float32 0-255."""
    grey = rng.uniform(75, 145)
    img = np.full((side, side, 3), grey, dtype=np.float32) + rng.normal(0, 10, 3).astype(np.float32)
    img += _upsample(rng.normal(0, 18, (5, 5, 3)).astype(np.float32), side)
    x, y = _grid(side)
    if rng.random() < 0.5:  # faint stripes
        theta, period = rng.uniform(0, np.pi), rng.uniform(6, 11)
        sin_theta, cos_theta = exact.sin_cos(theta)
        stripes = exact.sin((x * cos_theta + y * sin_theta) * 2 * np.pi / period)
        img += (4.0 * stripes)[..., None]
    for _ in range(rng.integers(5, 10)):  # clutter: muted rectangles and bars
        w, h = rng.uniform(3, 26, 2)
        if rng.random() < 0.3:  # thin bar
            w, h = (rng.uniform(1.5, 3), rng.uniform(15, 50)) if rng.random() < 0.5 else (rng.uniform(15, 50), rng.uniform(1.5, 3))
        x0, y0 = rng.uniform(-5, side - 5, 2)
        inside = ((x >= x0) & (x < x0 + w) & (y >= y0) & (y < y0 + h)).astype(np.float32)[..., None]
        opacity = rng.uniform(0.35, 0.8)
        img = img * (1 - opacity * inside) + opacity * inside * _muted(rng, grey, 0.35)
    if wall:
        img = draw_wall(img[None], np.array([rng.uniform(4, side - 20)]), rng.uniform(9, 13), rng)[0]
    return img


def draw_wall(frames: np.ndarray, x0: np.ndarray, width: float, rng: np.random.Generator) -> np.ndarray:
    """A full-height brick wall starting at x0[t] (per frame), width px, painted over frames."""
    t_count, side = frames.shape[0], frames.shape[1]
    x, y = _grid(side)
    base = np.array([118, 100, 84], dtype=np.float32) + rng.normal(0, 12, 3).astype(np.float32)
    mortar = (np.mod(y, 6.0) < 1.0).astype(np.float32)  # (H, 1) horizontal brick lines
    texture = base[None, None] * (1 - 0.25 * mortar)[..., None]  # (H, 1, 3)
    left = np.asarray(x0, dtype=np.float32).reshape(-1, 1, 1)
    coverage = np.clip(np.minimum(x[None] - left + 0.5, left + width - x[None] + 0.5), 0, 1)  # (T, 1, W)
    coverage = np.broadcast_to(coverage, (t_count, side, side))[..., None]
    return frames * (1 - coverage) + coverage * texture[None]


# --------------------------------------------------------------------------- motion programs


@dataclass
class Track:
    """Per-frame state of the target object."""

    cx: np.ndarray
    cy: np.ndarray
    scale: np.ndarray
    angle: np.ndarray
    opacity: np.ndarray
    colour: np.ndarray  # (T, 3)
    front_walls: list[tuple[np.ndarray, float]] = field(default_factory=list)  # (x0 per frame, width)
    companions: list[tuple[str, np.ndarray, float, float, float]] = field(default_factory=list)  # shape, rgb, cx, cy, radius


def _const(value: float, t: int) -> np.ndarray:
    return np.full(t, value, dtype=np.float32)


def _line(start: float, stop: float, t: int) -> np.ndarray:
    return np.linspace(start, stop, t, dtype=np.float32)


def _tilt(rng, t):
    """Objects stand at a small random tilt; spinning is what rotates them a lot."""
    return _const(np.deg2rad(rng.uniform(-20, 20)), t)


def _track(rng, t, colour_name, cx, cy, **kw) -> Track:
    values = dict(scale=_const(1.0, t), angle=_tilt(rng, t), opacity=_const(1.0, t),
                  colour=np.tile(RGB[colour_name], (t, 1)))
    values.update(kw)
    return Track(cx=np.asarray(cx, np.float32), cy=np.asarray(cy, np.float32), **values)


def _bounds(radius: float) -> tuple[float, float]:
    """Lowest and highest centre coordinate that keeps the object 6 px inside the frame."""
    return radius + 6, VIDEO_SIDE - radius - 6


def _steps(t: int) -> np.ndarray:
    return np.arange(t, dtype=np.float32)


# Each program takes (rng, t, colour, radius, cx0, cy0), the start point (cx0, cy0) drawn
# by the caller first; a program's draws from ``rng`` are in the order the clip's bytes
# depend on (reordering them changes every rendered benchmark).


def _still(rng, t, colour, radius, cx0, cy0) -> Track:
    return _track(rng, t, colour, _const(cx0, t), _const(cy0, t))


def _shaking(rng, t, colour, radius, cx0, cy0) -> Track:
    jitter = rng.uniform(-3.0, 3.0, (2, t)).astype(np.float32)
    track = _track(rng, t, colour, cx0 + jitter[0], cy0 + jitter[1])
    track.angle = track.angle + np.deg2rad(rng.uniform(-8, 8, t)).astype(np.float32)
    return track


def _blinking(rng, t, colour, radius, cx0, cy0) -> Track:
    on, off = rng.integers(2, 5, 2)
    phase = rng.integers(0, on + off)
    visible = (np.mod(_steps(t) + phase, on + off) < on).astype(np.float32)
    return _track(rng, t, colour, _const(cx0, t), _const(cy0, t), opacity=visible)


def _zigzag(rng, t, colour, radius, cx0, cy0) -> Track:
    side, (lo, hi) = VIDEO_SIDE, _bounds(radius)
    span = rng.uniform(32, 40)
    direction = rng.choice([-1.0, 1.0])
    x = _line(side / 2 - direction * span / 2, side / 2 + direction * span / 2, t)
    period, amp = rng.uniform(6, 10), rng.uniform(7, 10)
    tri = 2 * np.abs(np.mod(_steps(t) / period + rng.uniform(), 1.0) - 0.5) * 2 - 1  # -1..1 triangle wave
    return _track(rng, t, colour, x, np.clip(cy0, lo + amp, hi - amp) + amp * tri)


def _bouncing(rng, t, colour, radius, cx0, cy0) -> Track:
    side, (lo, hi) = VIDEO_SIDE, _bounds(radius)
    period, height = rng.uniform(8, 12), rng.uniform(16, 24)
    floor = side - radius - rng.uniform(4, 8)
    y = floor - height * np.abs(exact.sin(np.pi * (_steps(t) / period + rng.uniform())))
    x = cx0 + _line(0, rng.uniform(-10, 10), t)
    return _track(rng, t, colour, np.clip(x, lo, hi), y)


def _spinning(rng, t, colour, radius, cx0, cy0) -> Track:
    step = np.deg2rad(rng.uniform(22, 32)) * rng.choice([-1.0, 1.0])
    track = _track(rng, t, colour, _const(cx0, t), _const(cy0, t))
    track.angle = (rng.uniform(0, 2 * np.pi) + step * _steps(t)).astype(np.float32)
    return track


def _colour_change(rng, t, colour, radius, cx0, cy0) -> Track:
    others = [c for c in COLOUR_NAMES if c != colour]
    hold = rng.integers(3, 6)
    segments = int(np.ceil(t / hold)) + 1
    names = [colour if i % 2 == 0 else others[rng.integers(len(others))] for i in range(segments)]
    per_frame = np.stack([RGB[names[int(i // hold)]] for i in _steps(t)])
    return _track(rng, t, colour, _const(cx0, t), _const(cy0, t), colour=per_frame)


def _orbiting(rng, t, colour, radius, cx0, cy0) -> Track:
    side = VIDEO_SIDE
    orbit = rng.uniform(11, 15)
    centre = rng.uniform(side / 2 - 4, side / 2 + 4, 2)
    omega = 2 * np.pi / rng.uniform(12, 20) * rng.choice([-1.0, 1.0])
    phi = rng.uniform(0, 2 * np.pi) + omega * _steps(t)
    sin_phi, cos_phi = exact.sin_cos(phi)
    return _track(rng, t, colour, centre[0] + orbit * cos_phi, centre[1] + orbit * sin_phi)


def _sliding(rng, t, colour, radius, cx0, cy0) -> Track:
    side = VIDEO_SIDE
    theta, span = rng.uniform(0, 2 * np.pi), rng.uniform(30, 38)
    sin_theta, cos_theta = exact.sin_cos(theta)
    dx, dy = cos_theta * span / 2, sin_theta * span / 2
    centre = rng.uniform(side / 2 - 3, side / 2 + 3, 2)
    return _track(rng, t, colour, _line(centre[0] - dx, centre[0] + dx, t), _line(centre[1] - dy, centre[1] + dy, t))


def _passing_wall(rng, t, colour, radius, cx0, cy0) -> Track:
    side = VIDEO_SIDE
    direction = rng.choice([-1.0, 1.0])
    x = _line(side / 2 - direction * 27, side / 2 + direction * 27, t)
    width = 2 * radius + 4  # wide enough to hide the object completely for a moment
    wall_x = side / 2 - width / 2 + rng.uniform(-3, 3)
    return _track(rng, t, colour, x, _const(cy0, t), front_walls=[(_const(wall_x, t), width)])


def _pulsing(rng, t, colour, radius, cx0, cy0) -> Track:
    period = rng.uniform(6, 10)
    scale = 1.0 + 0.35 * exact.sin(2 * np.pi * _steps(t) / period + rng.uniform(0, 2 * np.pi))
    return _track(rng, t, colour, _const(cx0, t), _const(cy0, t), scale=scale.astype(np.float32))


MOTION_PROGRAMS = {
    "still": _still, "shaking": _shaking, "blinking": _blinking, "zigzag": _zigzag, "bouncing": _bouncing,
    "spinning": _spinning, "colour_change": _colour_change, "orbiting": _orbiting, "sliding": _sliding,
    "passing_wall": _passing_wall, "pulsing": _pulsing,
}


def motion_track(motion: str, colour: str, radius: float, t: int, rng: np.random.Generator) -> Track:
    """The Kinetics-like motions (see tcclip.synth.vocab.MOTIONS)."""
    lo, hi = _bounds(radius)
    cx0, cy0 = rng.uniform(lo + 4, hi - 4, 2)
    if motion not in MOTION_PROGRAMS:
        raise ValueError(f"unknown motion {motion!r}")
    return MOTION_PROGRAMS[motion](rng, t, colour, radius, cx0, cy0)


def _left_right(rng, t, colour, radius, cx0, cy0) -> Track:
    lo, hi = _bounds(radius)
    return _track(rng, t, colour, _line(lo - 2, hi + 2, t), _const(cy0, t) + _line(0, rng.uniform(-6, 6), t))


def _up(rng, t, colour, radius, cx0, cy0) -> Track:
    lo, hi = _bounds(radius)
    return _track(rng, t, colour, _const(cx0, t) + _line(0, rng.uniform(-6, 6), t), _line(hi + 2, lo - 2, t))


def _grow(rng, t, colour, radius, cx0, cy0) -> Track:
    return _track(rng, t, colour, _const(cx0, t), _const(cy0, t), scale=_line(0.45, 1.25, t))


def _fade_in(rng, t, colour, radius, cx0, cy0) -> Track:
    return _track(rng, t, colour, _const(cx0, t), _const(cy0, t), opacity=np.clip(_line(-0.15, 1.15, t), 0, 1))


def _turn_cw(rng, t, colour, radius, cx0, cy0) -> Track:
    """Clockwise on screen = increasing angle with y pointing down."""
    track = _track(rng, t, colour, _const(cx0, t), _const(cy0, t))
    track.angle = (rng.uniform(0, 2 * np.pi) + np.deg2rad(rng.uniform(9, 14)) * np.arange(t)).astype(np.float32)
    return track


def _approach(rng, t, colour, radius, cx0, cy0) -> Track:
    side, (lo, hi) = VIDEO_SIDE, _bounds(radius)
    other_shape = SHAPES[rng.integers(len(SHAPES))]
    other_colour = COLOUR_NAMES[rng.integers(len(COLOUR_NAMES))]
    other_radius = rng.uniform(7, 10)
    near, far = radius + other_radius + 2, 38.0
    for _ in range(100):  # a start point that lies inside the frame (deterministic given rng)
        ox, oy = rng.uniform(14, side - 14, 2)
        theta = rng.uniform(0, 2 * np.pi)
        sin_theta, cos_theta = exact.sin_cos(theta)
        sx, sy = ox + far * cos_theta, oy + far * sin_theta
        if lo <= sx <= hi and lo <= sy <= hi:
            break
    distance = _line(far, near, t)
    x, y = ox + distance * cos_theta, oy + distance * sin_theta
    return _track(rng, t, colour, np.clip(x, radius, side - radius), np.clip(y, radius, side - radius),
                  companions=[(other_shape, RGB[other_colour], ox, oy, other_radius)])


def _cover(rng, t, colour, radius, cx0, cy0) -> Track:
    width = 2 * radius + 8
    direction = rng.choice([-1.0, 1.0])
    target_left = cx0 - width / 2
    start = target_left - direction * (width + 14)
    x0 = np.concatenate([_line(start, target_left, max(2, (2 * t) // 3)),
                         _const(target_left, t - max(2, (2 * t) // 3))])
    return _track(rng, t, colour, _const(cx0, t), _const(cy0, t), front_walls=[(x0, width)])


REVERSAL_PROGRAMS = {
    "left_right": _left_right, "up": _up, "grow": _grow, "fade_in": _fade_in, "turn_cw": _turn_cw,
    "approach": _approach, "cover": _cover,
}


def reversal_track(key: str, colour: str, shape: str, radius: float, t: int, rng: np.random.Generator) -> Track:
    """Forward process of an SSv2-like reversal pair (the backward class plays it in reverse)."""
    lo, hi = _bounds(radius)
    cx0, cy0 = rng.uniform(lo + 4, hi - 4, 2)
    if key not in REVERSAL_PROGRAMS:
        raise ValueError(f"unknown reversal process {key!r}")
    return REVERSAL_PROGRAMS[key](rng, t, colour, radius, cx0, cy0)


# --------------------------------------------------------------------------- scenes


def _distractors(rng, frames: np.ndarray, count: int) -> None:
    """Small shapes in the vocabulary's (duller) colours; half static, half drifting slowly.

    ``frames`` may hold a single frame (static layer) or all T frames.
    """
    t, side = frames.shape[0], frames.shape[1]
    steps = np.arange(t, dtype=np.float32)
    for _ in range(count):
        shape = SHAPES[rng.integers(len(SHAPES))]
        rgb = RGB[COLOUR_NAMES[rng.integers(len(COLOUR_NAMES))]]
        rgb = 128 + rng.uniform(0.5, 1.0) * (rgb - 128)
        radius = rng.uniform(3.0, 4.5)  # clearly smaller than any target (radius >= 6.5)
        x0, y0 = rng.uniform(6, side - 6, 2)
        drift = rng.uniform(-0.4, 0.4, 2) if (t > 1 and rng.random() < 0.5) else np.zeros(2)
        alpha, at = shape_alpha_window(shape, x0 + drift[0] * steps, y0 + drift[1] * steps, _const(radius, t),
                                       _const(rng.uniform(0, 2 * np.pi), t), side)
        composite(frames, alpha, rgb, at)


def render_track(track: Track, shape: str, radius: float, rng: np.random.Generator, side: int = VIDEO_SIDE,
                 background_wall: bool = False, distractors: int = 3) -> np.ndarray:
    """Draw background, distractors, companions, the target and front walls: (T, H, W, 3) uint8."""
    t = len(track.cx)
    still = background(rng, side, wall=background_wall)[None]  # static layers are drawn once
    moving = int(rng.integers(0, distractors + 1)) if t > 1 else 0
    _distractors(rng, still, distractors - moving)
    for other_shape, rgb, ox, oy, other_radius in track.companions:
        alpha, at = shape_alpha_window(other_shape, [ox], [oy], [other_radius], [0.0], side)
        composite(still, alpha, rgb, at)
    frames = np.repeat(still, t, axis=0)
    _distractors(rng, frames, moving)
    alpha, at = shape_alpha_window(shape, track.cx, track.cy, radius * track.scale, track.angle, side)
    composite(frames, alpha * track.opacity.reshape(-1, 1, 1), track.colour, at)
    for x0, width in track.front_walls:
        frames = draw_wall(frames, x0, width, rng)
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def render_composed(cls: ComposedClass, num_frames: int, rng: np.random.Generator) -> np.ndarray:
    radius = rng.uniform(*VIDEO_SIZE_RANGE) / 2
    if cls.motion == "pulsing":
        radius = min(radius, 9.0)  # room to swell
    track = motion_track(cls.motion, cls.colour, radius, num_frames, rng)
    wall_behind = cls.motion != "passing_wall" and rng.random() < 0.25  # walls are not a giveaway
    return render_track(track, cls.shape, radius, rng, background_wall=wall_behind, distractors=int(rng.integers(2, 5)))


def render_reversal(cls: ReversalClass, num_frames: int, rng: np.random.Generator) -> np.ndarray:
    pair = REVERSAL_PAIRS[cls.pair]
    shapes = [s for s in SHAPES if not (pair.needs_rotation and s in ROUND_SHAPES)]
    shape = shapes[rng.integers(len(shapes))]
    colour = COLOUR_NAMES[rng.integers(len(COLOUR_NAMES))]
    radius = rng.uniform(*VIDEO_SIZE_RANGE) / 2
    if pair.key == "grow":
        radius = min(radius, 10.0)
    track = reversal_track(pair.key, colour, shape, radius, num_frames, rng)
    frames = render_track(track, shape, radius, rng, background_wall=rng.random() < 0.2,
                          distractors=int(rng.integers(2, 5)))
    return frames[::-1].copy() if cls.backward else frames


# --------------------------------------------------------------------------- still images

POSITIONS = {"on the left": (0.3, 0.5), "on the right": (0.7, 0.5), "at the top": (0.5, 0.3), "at the bottom": (0.5, 0.7)}


def render_image(colour: str, shape: str, size: str, rng: np.random.Generator, position: str | None = None,
                 wall: bool = False, side: int = IMAGE_SIDE) -> np.ndarray:
    """One still (side, side, 3) uint8 with a single described object."""
    from tcclip.synth.vocab import IMAGE_SIZES

    radius = rng.uniform(*IMAGE_SIZES[size]) / 2
    if position is None:
        cx, cy = rng.uniform(radius + 8, side - radius - 8, 2)
    else:
        fx, fy = POSITIONS[position]
        cx, cy = fx * side + rng.uniform(-3, 3), fy * side + rng.uniform(-3, 3)
    track = _track(rng, 1, colour, _const(cx, 1), _const(cy, 1))
    if shape not in ROUND_SHAPES and rng.random() < 0.15:  # a few strongly rotated ones (seen in spinning clips)
        track.angle = _const(rng.uniform(0, 2 * np.pi), 1)
    return render_track(track, shape, radius, rng, side=side, background_wall=wall, distractors=int(rng.integers(1, 4)))[0]
