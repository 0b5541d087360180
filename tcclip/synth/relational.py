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
defined by a relation between frames - the same object colour throughout or not, one shot
unlike the others, a new scene in every shot - is therefore out of a frame-wise model's
reach by construction, up to that second-order effect, which the probe measures
(benchmarks/relational_probe.py). A model whose frames attend to each other (cross-frame,
window, joint space-time, TC) computes per-frame features that depend on the other frames
and can learn it.

The clips. A video is cut into ``SHOTS`` (3) equal shots. Each shot shows one object of a
vocabulary colour (any shape, a fresh position, size and tilt, drifting slightly) on the
clip's cluttered background washed with the shot's backdrop tint; small distractor shapes
stay in place for the whole clip. A class fixes, independently for the object's colour
and for the backdrop, how the shots' values relate:

    same           one value in all three shots          (3)
    one odd        one shot differs from the other two   (2 + 1)
    all different  a new value in every shot             (1 + 1 + 1)

The values are drawn uniformly without replacement and dealt to the shots in a uniformly
random arrangement, so each shot's (colour, backdrop) is uniform over the 7 x 6 pairs in
every class (tests/test_data_synthetic_relational.py checks it on the drawn values and on
the rendered pixels). Only the pattern of equalities between shots names the class.

Class names are compositions of words that recombine ("same colour and all different
backdrops", "one odd colour and same backdrop"): the 3 x 3 = 9 classes reuse six phrases,
so a base-to-novel split recombines phrases seen in base classes. Three shots over T = 8
sampled frames (TSN segments) put at least two sampled frames in every shot.

Why colour and backdrop. Both attributes are ones the pretrained tiny CLIP sees (its
pretraining report: zero-shot colour 98%). An earlier version related object colour and
object *shape* across four shots (16 classes); the tiny CLIP hardly sees shape (zero-shot
shape 21.7%, chance 16.7%), so no variant read the shape relation (23.9-26.8%, chance 25%)
and the DAG's few-shot K=16 table put every variant at chance (3.3-6.1%, chance 6.25%).
Object size and place (quadrant) relations were not read from the frozen features either
(size relation 36-40%, chance 33%; place 25-28%, chance 25%).

Measured (benchmarks/relational_probe.py, the DAG's pretrained tiny-clip-p16, T = 8, 1,800
training / 720 held-out clips, a linear head on each variant's frozen video feature; chance
11.1%, 95% Wilson intervals): frame-wise 11.8 [9.6, 14.4], cross-frame 16.8 [14.3, 19.7],
window 19.6 [16.8, 22.6], joint 36.9 [33.5, 40.5], TC 23.5 [20.5, 26.7]; the colour
relation 34.0% frame-wise, 43-57% for the others, the backdrop relation 32.6% frame-wise,
41-63% for the others (chance 33.3%). Through the few-shot protocol (K = 16: 144 clips, the
text classifier) the embedded 6 epochs leave every variant's loss near ln 9 (2.14-2.19) and
all of them within 2 points of chance but joint; 30 epochs (workflow/config/synthetic.yaml, table_overrides) let joint attention learn
it (seed 1, selection top-1 after 5-30 epochs: 16.7, 19.9, 20.4, 21.8, 22.2, 22.7%) while
frame-wise stays near chance (12.5, 13.0, 12.0, 13.9, 13.9, 14.4%; 216 clips). The DAG's
table over three seeds: temporal_modeling_ssv2.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from tcclip.synth.render import VIDEO_SIDE, background, composite, shape_alpha_window
from tcclip.synth.vocab import BACKDROPS, COLOURS, SHAPES

SHOTS = 3
COLOUR_NAMES = tuple(COLOURS)
RGB = {name: np.array(rgb, dtype=np.float32) for name, rgb in COLOURS.items()}
BACKDROP_NAMES = tuple(BACKDROPS)


@dataclass(frozen=True)
class Relation:
    key: str
    word: str  # before the attribute in class names: "<word> colour(s)"
    counts: tuple[int, ...]  # how many shots share each value, largest first
    description: str  # rephrased-name template: {a} attribute, {as} its plural


RELATIONS: tuple[Relation, ...] = (
    Relation("same", "same", (3,), "every shot has the same {a}"),
    Relation("one_odd", "one odd", (2, 1), "one shot's {a} differs from the other two"),
    Relation("all_different", "all different", (1, 1, 1), "every shot has a different {a}"),
)
RELATION_BY_KEY = {r.key: r for r in RELATIONS}
ATTRIBUTES = {"colour": "colours", "backdrop": "backdrops"}


def relation_phrase(relation: str, attribute: str) -> str:
    """'same colour', 'one odd backdrop', 'all different colours'."""
    rel = RELATION_BY_KEY[relation]
    noun = attribute if rel.counts[0] >= 2 else ATTRIBUTES[attribute]
    return f"{rel.word} {noun}"


@dataclass(frozen=True)
class RelationalClass:
    """An SSv2-like class: how the shots' object colours relate and how their backdrops relate."""

    colour: str  # Relation.key
    backdrop: str  # Relation.key

    @property
    def name(self) -> str:
        return f"{relation_phrase(self.colour, 'colour')} and {relation_phrase(self.backdrop, 'backdrop')}"

    @property
    def rephrased(self) -> str:
        colour = RELATION_BY_KEY[self.colour].description.format(a="object colour", **{"as": "object colours"})
        backdrop = RELATION_BY_KEY[self.backdrop].description.format(a="backdrop", **{"as": "backdrops"})
        return (f"{self.name[0].upper()}{self.name[1:]}: three shots, one object in each; "
                f"{colour} and {backdrop}.")

    @property
    def words(self) -> tuple[str, str]:
        return relation_phrase(self.colour, "colour"), relation_phrase(self.backdrop, "backdrop")


def relational_classes() -> list[RelationalClass]:
    """All 9 (colour relation, backdrop relation) classes, in a fixed order."""
    return [RelationalClass(c.key, b.key) for c, b in product(RELATIONS, RELATIONS)]


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
    tint: float = 0.6  # weight of the backdrop colour in each shot's background (0: no backdrop)


STYLE = RelationalStyle()


def _draw_distractors(frames: np.ndarray, count: int, rng: np.random.Generator) -> None:
    """Small, duller shapes of the vocabulary, in the same place on every frame of ``frames``."""
    side = frames.shape[1]
    for _ in range(count):
        shape = SHAPES[rng.integers(len(SHAPES))]
        rgb = 128 + rng.uniform(0.5, 1.0) * (RGB[COLOUR_NAMES[rng.integers(len(COLOUR_NAMES))]] - 128)
        x, y = rng.uniform(6, side - 6, 2)
        alpha, at = shape_alpha_window(shape, [x], [y], [rng.uniform(3.0, 4.5)], [rng.uniform(0, 2 * np.pi)], side)
        composite(frames, alpha, rgb, at)


def _draw_object(frames: np.ndarray, colour: str, rng: np.random.Generator, style: RelationalStyle) -> None:
    """One object of any shape over all of ``frames`` (one shot): fresh position, size and tilt, slow drift."""
    t, side = frames.shape[0], frames.shape[1]
    shape = SHAPES[rng.integers(len(SHAPES))]
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
    """(num_frames, side, side, 3) uint8: SHOTS shots whose objects and backdrops follow the class's relations."""
    if num_frames < SHOTS:
        raise ValueError(f"a relational clip needs at least {SHOTS} frames, got {num_frames}")
    colours = shot_values(cls.colour, COLOUR_NAMES, rng)
    backdrops = shot_values(cls.backdrop, BACKDROP_NAMES, rng)
    frames = np.repeat(background(rng, side, wall=bool(rng.random() < 0.2))[None], num_frames, axis=0)
    bounds = shot_bounds(num_frames)
    for shot in range(SHOTS):  # the backdrop: the clip's background washed with the shot's tint
        tint = np.float32(style.tint) * np.array(BACKDROPS[backdrops[shot]], dtype=np.float32)
        frames[bounds[shot] : bounds[shot + 1]] *= np.float32(1 - style.tint)
        frames[bounds[shot] : bounds[shot + 1]] += tint
    _draw_distractors(frames, int(rng.integers(style.distractors[0], style.distractors[1] + 1)), rng)
    for shot in range(SHOTS):
        _draw_object(frames[bounds[shot] : bounds[shot + 1]], colours[shot], rng, style)
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
