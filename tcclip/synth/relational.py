"""The SSv2-like set of the synthetic benchmark: classes told apart only by relating frames.

Why relations, not order. Every temporal variant of the suite is blind to frame order (no
temporal position embedding, mean over frames, a symmetric window), so a set of exact
time-reversal pairs leaves every model at chance and separates none of them. What
separates a frame-wise model from one whose frames attend to each other is *relation*.
A frame-wise model (ViFi-CLIP) decides

    argmax_c  sum_t <f(x_t), w_c>

a sum of per-frame scores, with class embeddings w_c that do not depend on the video
(hand-crafted or learned text prompts; the norm of the mean feature is common to every
class and changes no argmax). If every single frame has the same distribution whatever
the class, the expected score of every class is the same under every class: no frame
carries evidence, and a sum of per-frame scores can only exploit how the frames of a
clip co-vary (a clip whose frames all agree lands nearer an extreme of the sum). A class
defined by a relation between frames - the same object throughout or not, one shot
unlike the others, things seen in different frames sharing a colour or not - is
therefore out of a frame-wise model's reach by construction, up to that second-order
effect, which the probe measures (benchmarks/relational_probe.py). A model whose frames
attend to each other (cross-frame, window, joint space-time, TC) computes per-frame
features that depend on the other frames and can learn it.

The clips. A video is cut into ``SHOTS`` (4) equal shots; each shot shows one object (a
colour and a shape of the vocabulary) at a freshly drawn position, size and tilt, drifting
slightly, on one cluttered background with small distractor shapes that stay for the
whole clip. A class fixes, independently for colour and for shape, how the shots'
values relate:

    same           one value in all four shots              (4)
    one odd        one shot differs from the other three    (3 + 1)
    two            two values, two shots each               (2 + 2)
    all different  a new value in every shot                (1 + 1 + 1 + 1)

The values are drawn uniformly without replacement and assigned to shots by a uniformly
random arrangement, so each shot's (colour, shape) is uniform over the 42 pairs in every
class (tests/test_data_synthetic_relational.py checks it on the drawn values and on the
rendered pixels). Only the pattern of equalities between shots names the class.

Class names are compositions of words that recombine ("same colour and two shapes",
"one odd colour and all different shapes"): the 4 x 4 = 16 classes reuse eight phrases,
so a base-to-novel split recombines phrases seen in base classes. Four shots over T = 8
sampled frames (TSN segments) put two sampled frames in every shot, so no shot is missed.

Measured (benchmarks/relational_probe.py, the DAG's pretrained tiny-clip-p16, T = 8, 2,000
training / 800 held-out clips, a linear head on each variant's frozen video feature; chance
6.25%, 95% Wilson intervals): frame-wise 7.5 [5.9, 9.5], cross-frame 8.6 [6.9, 10.8],
window 8.2 [6.5, 10.4], joint 12.4 [10.3, 14.8], TC 10.5 [8.6, 12.8]. The colour relation
is read (joint 47.9%, TC 35.1%, frame-wise 24.8%; chance 25%), the shape relation by no
variant (23.9-26.8%): the tiny CLIP hardly sees shape (its pretraining report: zero-shot
shape 21.7%, chance 16.7%). Objects of 12-20 px with 2-4 distractors gave joint 11.4%
(2,000 clips), 18-26 px with 0-2 gave 12.5% (1,200 clips): object size is not what holds
the set back, shape is. Fine-tuning encoder and head together (``--finetune 150``, lr 1e-4,
batch 32, 1,200 / 480 clips) gives the same picture: frame-wise 7.3 [5.3, 10.0], cross-frame
11.9, window 10.6, joint 12.1 [9.5, 15.3], TC 10.6 [8.2, 13.7]; colour relation 37-47% for
the attending variants, 30.0% frame-wise; shape relation 25-29% for all. Longer and faster
(``--finetune 400 --lr 3e-4``): cross-frame 13.3% [10.6, 16.7] (colour relation 55.0%,
shape 23.3%), frame-wise 6.7% [4.8, 9.3] (colour 26.9%, shape 26.2%).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from tcclip.synth.render import VIDEO_SIDE, background, composite, shape_alpha_window
from tcclip.synth.vocab import COLOURS, SHAPES

SHOTS = 4
COLOUR_NAMES = tuple(COLOURS)
RGB = {name: np.array(rgb, dtype=np.float32) for name, rgb in COLOURS.items()}


@dataclass(frozen=True)
class Relation:
    key: str
    word: str  # before the attribute in class names: "<word> colour(s)"
    counts: tuple[int, ...]  # how many shots share each value, largest first
    description: str  # rephrased-name template: {a} attribute, {as} its plural


RELATIONS: tuple[Relation, ...] = (
    Relation("same", "same", (4,), "every object has the same {a}"),
    Relation("one_odd", "one odd", (3, 1), "one object's {a} differs from the other three"),
    Relation("two", "two", (2, 2), "two {as} appear, each on two of the objects"),
    Relation("all_different", "all different", (1, 1, 1, 1), "every object has a different {a}"),
)
RELATION_BY_KEY = {r.key: r for r in RELATIONS}
ATTRIBUTES = {"colour": "colours", "shape": "shapes"}


def relation_phrase(relation: str, attribute: str) -> str:
    """'same colour', 'one odd shape', 'two colours', 'all different shapes'."""
    rel = RELATION_BY_KEY[relation]
    noun = attribute if rel.counts[0] >= 3 else ATTRIBUTES[attribute]
    return f"{rel.word} {noun}"


@dataclass(frozen=True)
class RelationalClass:
    """An SSv2-like class: how the shots' colours relate and how their shapes relate."""

    colour: str  # Relation.key
    shape: str  # Relation.key

    @property
    def name(self) -> str:
        return f"{relation_phrase(self.colour, 'colour')} and {relation_phrase(self.shape, 'shape')}"

    @property
    def rephrased(self) -> str:
        colour = RELATION_BY_KEY[self.colour].description.format(a="colour", **{"as": "colours"})
        shape = RELATION_BY_KEY[self.shape].description.format(a="shape", **{"as": "shapes"})
        return f"{self.name[0].upper()}{self.name[1:]}: four objects shown one after another; {colour} and {shape}."

    @property
    def words(self) -> tuple[str, str]:
        return relation_phrase(self.colour, "colour"), relation_phrase(self.shape, "shape")


def relational_classes() -> list[RelationalClass]:
    """All 16 (colour relation, shape relation) classes, in a fixed order."""
    return [RelationalClass(c.key, s.key) for c, s in product(RELATIONS, RELATIONS)]


# --------------------------------------------------------------------------- shot values


def shot_values(relation: str, vocabulary: tuple[str, ...], rng: np.random.Generator) -> list[str]:
    """The value of each of the SHOTS shots under a relation: distinct values drawn uniformly,
    dealt to the shots in a uniformly random arrangement (so each shot is uniform)."""
    counts = RELATION_BY_KEY[relation].counts
    values = [vocabulary[i] for i in rng.choice(len(vocabulary), size=len(counts), replace=False)]
    dealt = [value for value, n in zip(values, counts) for _ in range(n)]
    return [dealt[i] for i in rng.permutation(SHOTS)]


def shot_bounds(num_frames: int) -> np.ndarray:
    """Frame index where each shot starts, plus the end: SHOTS + 1 integers."""
    return np.rint(np.linspace(0, num_frames, SHOTS + 1)).astype(int)


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class RelationalStyle:
    """Difficulty knobs (calibrated with benchmarks/relational_probe.py)."""

    diameter: tuple[float, float] = (14.0, 22.0)  # object diameter range, px (72-px frames)
    distractors: tuple[int, int] = (1, 3)  # small shapes on the whole clip, inclusive range
    drift: float = 0.6  # max px per frame an object moves inside its shot


STYLE = RelationalStyle()


def _draw_distractors(still: np.ndarray, count: int, rng: np.random.Generator) -> None:
    """Small, duller shapes of the vocabulary, fixed for the whole clip (drawn on one frame)."""
    side = still.shape[1]
    for _ in range(count):
        shape = SHAPES[rng.integers(len(SHAPES))]
        rgb = 128 + rng.uniform(0.5, 1.0) * (RGB[COLOUR_NAMES[rng.integers(len(COLOUR_NAMES))]] - 128)
        x, y = rng.uniform(6, side - 6, 2)
        alpha, at = shape_alpha_window(shape, [x], [y], [rng.uniform(3.0, 4.5)], [rng.uniform(0, 2 * np.pi)], side)
        composite(still, alpha, rgb, at)


def _draw_object(frames: np.ndarray, colour: str, shape: str, rng: np.random.Generator, style: RelationalStyle) -> None:
    """One object over all of ``frames`` (one shot): fresh position, size and tilt, slow drift."""
    t, side = frames.shape[0], frames.shape[1]
    radius = rng.uniform(*style.diameter) / 2
    margin = radius + 4 + style.drift * t
    cx, cy = rng.uniform(margin, side - margin, 2)
    vx, vy = rng.uniform(-style.drift, style.drift, 2)
    steps = np.arange(t, dtype=np.float32)
    angle = np.full(t, rng.uniform(-np.pi, np.pi), dtype=np.float32)
    alpha, at = shape_alpha_window(shape, cx + vx * steps, cy + vy * steps, np.full(t, radius, np.float32), angle, side)
    composite(frames, alpha, RGB[colour], at)


def render_relational(cls: RelationalClass, num_frames: int, rng: np.random.Generator,
                      style: RelationalStyle = STYLE, side: int = VIDEO_SIDE) -> np.ndarray:
    """(num_frames, side, side, 3) uint8: SHOTS shots whose objects follow the class's relations."""
    if num_frames < SHOTS:
        raise ValueError(f"a relational clip needs at least {SHOTS} frames, got {num_frames}")
    colours = shot_values(cls.colour, COLOUR_NAMES, rng)
    shapes = shot_values(cls.shape, SHAPES, rng)
    still = background(rng, side, wall=bool(rng.random() < 0.2))[None]
    _draw_distractors(still, int(rng.integers(style.distractors[0], style.distractors[1] + 1)), rng)
    frames = np.repeat(still, num_frames, axis=0)
    bounds = shot_bounds(num_frames)
    for shot in range(SHOTS):
        _draw_object(frames[bounds[shot] : bounds[shot + 1]], colours[shot], shapes[shot], rng, style)
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- base-to-novel


def word_covering_split(classes: list[RelationalClass], num_base: int, seed: int) -> tuple[list[int], list[int]]:
    """The seeded base/novel partition of base_novel_classes, redrawn until every phrase of a
    novel class also occurs in a base class (novel classes must recombine seen words).

    The first draw is base_novel_classes(seed) itself, so a seed whose plain draw already
    covers every phrase gets exactly the split the other datasets' rule would give.
    """
    from tcclip.data.splits import base_novel_classes

    for attempt in range(1000):
        base, novel = base_novel_classes(len(classes), num_base, seed if attempt == 0 else [seed, attempt])
        seen = {word for i in base for word in classes[i].words}
        if all(set(classes[i].words) <= seen for i in novel):
            return base, novel
    raise ValueError(f"no base/novel split of {len(classes)} classes with {num_base} base classes covers every phrase")
