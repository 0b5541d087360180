"""Words and classes of the synthetic benchmark.

A Kinetics-like class is a composition "<colour> <shape> <motion>" ("red square
blinking"). Zero-shot target datasets use classes that never occur in training but are
made only of words that do (new compositions): the embedded-scale study found that
unseen words stay at chance, recombined seen words transfer.

Motions are chosen so that most need several frames but are not time reversals of each
other (blinking, shaking, zigzagging, bouncing, spinning, changing colour, orbiting,
sliding, passing behind a wall, pulsing) — a model that sees several frames can gain
over a single frame, and an order-blind model is not at a loss. The optional reversal
set (``tcclip synth --reversal-extra``) is the opposite: classes come in exact
time-reversal pairs ("moving something up" / "moving something down"), which no
order-blind model (frame averaging, TC-CLIP without temporal position embeddings) can
tell apart: its ceiling there is 50%. The SSv2-like set relates frames instead
(tcclip/synth/relational.py); its backdrop tints are here with the colours.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

# Saturated colours that survive yuv420p chroma subsampling on 14-24 px objects.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (225, 35, 35),
    "green": (40, 185, 60),
    "blue": (40, 90, 235),
    "yellow": (240, 215, 30),
    "purple": (155, 60, 210),
    "orange": (250, 135, 20),
    "white": (245, 245, 245),
}
# SSv2-like set's backdrop tints (relational.py): muted, far from the object colours and from
# each other, so that a shot's backdrop and its object are not confused.
BACKDROPS: dict[str, tuple[int, int, int]] = {
    "grey": (128, 128, 128),
    "brown": (125, 80, 40),
    "pink": (235, 165, 190),
    "teal": (30, 130, 130),
    "navy": (30, 40, 100),
    "olive": (120, 120, 30),
}
SHAPES = ("circle", "square", "triangle", "cross", "ring", "star")
ROUND_SHAPES = ("circle", "ring")  # rotation is invisible on them: never spinning/turning
# Object diameters in pixels: "small"/"big" for still images; video objects take any size
# in between (a nuisance factor), big enough to span a few 8-px patches.
IMAGE_SIZES = {"small": (13.0, 16.0), "big": (21.0, 25.0)}
VIDEO_SIZE_RANGE = (14.0, 24.0)


@dataclass(frozen=True)
class Motion:
    key: str  # used by the renderer
    phrase: str  # as it appears in class names
    description: str  # rephrased-name template: {c} colour, {s} shape


MOTIONS: tuple[Motion, ...] = (
    Motion("still", "standing still", "a {c} {s} that stays perfectly still in one place"),
    Motion("shaking", "shaking", "a {c} {s} trembling and jittering rapidly around one spot"),
    Motion("blinking", "blinking", "a {c} {s} that flashes on and off again and again"),
    Motion("zigzag", "zigzagging", "a {c} {s} travelling across the scene along a zigzag path"),
    Motion("bouncing", "bouncing", "a {c} {s} that hops up and down off the ground"),
    Motion("spinning", "spinning", "a {c} {s} rotating quickly around its own centre"),
    Motion("colour_change", "changing colour", "a {s} that keeps switching from {c} to other colours and back"),
    Motion("orbiting", "orbiting", "a {c} {s} travelling round and round a circular path"),
    Motion("sliding", "sliding", "a {c} {s} gliding steadily along a straight line"),
    Motion("passing_wall", "passing behind a wall", "a {c} {s} moving sideways and vanishing behind a wall for a moment"),
    Motion("pulsing", "pulsing", "a {c} {s} that repeatedly swells up and shrinks back"),
)
MOTION_BY_KEY = {m.key: m for m in MOTIONS}


@dataclass(frozen=True)
class ReversalPair:
    key: str  # renderer key of the forward process
    forward: str
    backward: str  # the forward clip played backwards
    forward_description: str
    backward_description: str
    needs_rotation: bool = False


REVERSAL_PAIRS: tuple[ReversalPair, ...] = (
    ReversalPair("left_right", "moving something from left to right", "moving something from right to left",
                 "an object slides from the left side of the scene over to the right side",
                 "an object slides from the right side of the scene over to the left side"),
    ReversalPair("up", "moving something up", "moving something down",
                 "an object rises steadily from the bottom of the scene towards the top",
                 "an object sinks steadily from the top of the scene towards the bottom"),
    ReversalPair("grow", "something growing", "something shrinking",
                 "an object gets bigger and bigger while staying in place",
                 "an object gets smaller and smaller while staying in place"),
    ReversalPair("fade_in", "something fading in", "something fading out",
                 "an object slowly appears out of nothing",
                 "an object slowly dissolves until it is gone"),
    ReversalPair("turn_cw", "turning something clockwise", "turning something counterclockwise",
                 "an object rotates slowly in the direction of a clock's hands",
                 "an object rotates slowly against the direction of a clock's hands", needs_rotation=True),
    ReversalPair("approach", "moving something towards something", "moving something away from something",
                 "an object travels closer and closer to another object until they touch",
                 "an object starts next to another object and travels away from it"),
    ReversalPair("cover", "covering something", "uncovering something",
                 "a panel slides over an object until it is hidden",
                 "a panel slides away from an object and reveals it"),
)


@dataclass(frozen=True)
class ComposedClass:
    """A Kinetics-like / zero-shot class: colour + shape + motion."""

    colour: str
    shape: str
    motion: str  # Motion.key

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape} {MOTION_BY_KEY[self.motion].phrase}"

    @property
    def rephrased(self) -> str:
        description = MOTION_BY_KEY[self.motion].description.format(c=self.colour, s=self.shape)
        return f"{self.name[0].upper()}{self.name[1:]}: {description}."

    @property
    def slug(self) -> str:
        return self.name.replace(" ", "_")


@dataclass(frozen=True)
class ReversalClass:
    """An SSv2-like class: one direction of a reversal pair; the object is a nuisance."""

    pair: int  # index into REVERSAL_PAIRS
    backward: bool

    @property
    def name(self) -> str:
        pair = REVERSAL_PAIRS[self.pair]
        return pair.backward if self.backward else pair.forward

    @property
    def rephrased(self) -> str:
        pair = REVERSAL_PAIRS[self.pair]
        description = pair.backward_description if self.backward else pair.forward_description
        return f"{self.name[0].upper()}{self.name[1:]}: {description}."


def all_compositions() -> list[ComposedClass]:
    return [
        ComposedClass(c, s, m.key)
        for c, s, m in product(COLOURS, SHAPES, MOTIONS)
        if not (m.key == "spinning" and s in ROUND_SHAPES)
    ]


def reversal_classes() -> list[ReversalClass]:
    return [ReversalClass(i, backward) for i in range(len(REVERSAL_PAIRS)) for backward in (False, True)]


def pick_balanced(
    candidates: list[ComposedClass], n: int, rng: np.random.Generator, forbid: set | None = None
) -> list[ComposedClass]:
    """``n`` classes whose motions, colours and shapes are spread as evenly as possible.

    Greedy: each step takes the candidate whose words are least used so far (motion
    first, as it is the word video training must teach), random among ties.
    """
    forbid = forbid or set()
    pool = [c for c in candidates if c not in forbid]
    if len(pool) < n:
        raise ValueError(f"only {len(pool)} candidate classes left, {n} wanted")
    order = rng.permutation(len(pool))
    pool = [pool[i] for i in order]
    motion_n = {m.key: 0 for m in MOTIONS}
    colour_n = {c: 0 for c in COLOURS}
    shape_n = {s: 0 for s in SHAPES}
    chosen: list[ComposedClass] = []
    for _ in range(n):
        best = min(
            range(len(pool)),
            key=lambda i: (motion_n[pool[i].motion], colour_n[pool[i].colour] + shape_n[pool[i].shape], i),
        )
        pick = pool.pop(best)
        chosen.append(pick)
        motion_n[pick.motion] += 1
        colour_n[pick.colour] += 1
        shape_n[pick.shape] += 1
    return chosen


@dataclass(frozen=True)
class ClassPlan:
    """Which classes each synthetic dataset has."""

    k400: list[ComposedClass]  # training set (Kinetics-like)
    hmdb51: list[ComposedClass]  # zero-shot targets: disjoint from k400, partly shared with each other
    ucf101: list[ComposedClass]
    k600: list[ComposedClass]  # pool of the K-600-like zero-shot splits
    ssv2: list[ReversalClass]


def plan_classes(seed: int, n_train: int, n_hmdb: int, n_ucf: int, n_k600: int, shared: int) -> ClassPlan:
    """Choose every dataset's classes from the seed.

    ``shared`` target classes are common to HMDB- and UCF-like sets (as real HMDB-51 and
    UCF-101 share actions); the K-600-like pool takes ``shared`` // 2 of them too.
    """
    rng = np.random.default_rng([seed, 101])
    everything = all_compositions()
    train = pick_balanced(everything, n_train, rng)
    if {m.key for m in MOTIONS} - {c.motion for c in train} or set(COLOURS) - {c.colour for c in train} \
            or set(SHAPES) - {c.shape for c in train}:
        raise ValueError(f"{n_train} training classes cannot cover every word; use at least {len(MOTIONS)}")
    novel = [c for c in everything if c not in set(train)]
    hmdb = pick_balanced(novel, n_hmdb, rng)
    common = [hmdb[i] for i in sorted(rng.choice(len(hmdb), size=min(shared, n_hmdb), replace=False))]
    ucf = common + pick_balanced(novel, n_ucf - len(common), rng, forbid=set(hmdb))
    ucf = [ucf[i] for i in rng.permutation(len(ucf))]
    k600_common = [ucf[i] for i in sorted(rng.choice(len(ucf), size=min(shared // 2, n_ucf), replace=False))]
    k600 = k600_common + pick_balanced(novel, n_k600 - len(k600_common), rng, forbid=set(hmdb) | set(ucf))
    k600 = [k600[i] for i in rng.permutation(len(k600))]
    return ClassPlan(k400=train, hmdb51=hmdb, ucf101=ucf, k600=k600, ssv2=reversal_classes())
