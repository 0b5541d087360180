"""The relational SSv2-like set: no single frame separates its classes, relations between
frames do; its lists follow the SSv2 protocols; rendering is a function of the seed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from data_fixtures import synth_tiny  # noqa: F401

from tcclip.data.annotations import load_class_names, read_annotation_list
from tcclip.synth.generator import SIZES, SynthBenchmark
from tcclip.synth.relational import (
    BACKDROP_NAMES,
    BACKDROPS,
    RELATIONS,
    SHOTS,
    RelationalClass,
    relational_classes,
    render_relational,
    shot_bounds,
    shot_values,
    word_covering_split,
)
from tcclip.synth.vocab import COLOURS, SHAPES, ReversalClass

TINY = SIZES["tiny"]
RELATION_KEYS = [r.key for r in RELATIONS]
VOCAB_RGB = np.array(list(COLOURS.values()), dtype=np.float64)
BACKDROP_RGB = np.array(list(BACKDROPS.values()), dtype=np.float64)


def homogeneity_p(table: np.ndarray) -> float:
    """Chi-square test that every row (class) has the same distribution over columns."""
    table = table[:, table.sum(0) > 0]
    return chi2_contingency(table).pvalue


def test_each_shot_has_the_same_value_distribution_in_every_class():
    """The drawn colour, backdrop and (colour, backdrop) of any one shot: one distribution for all classes."""
    draws, colour_names = 1000, tuple(COLOURS)
    colours = np.zeros((SHOTS, len(RELATIONS), len(COLOURS)), int)  # shot, relation, value
    backdrops = np.zeros((SHOTS, len(RELATIONS), len(BACKDROP_NAMES)), int)
    pairs = np.zeros((SHOTS, len(relational_classes()), len(COLOURS) * len(BACKDROP_NAMES)), int)
    shot = np.arange(SHOTS)
    for row, relation in enumerate(RELATION_KEYS):
        rng = np.random.default_rng([3, row])
        for _ in range(draws):
            colours[shot, row, [colour_names.index(v) for v in shot_values(relation, colour_names, rng)]] += 1
            backdrops[shot, row, [BACKDROP_NAMES.index(v) for v in shot_values(relation, BACKDROP_NAMES, rng)]] += 1
    for row, cls in enumerate(relational_classes()):
        rng = np.random.default_rng([4, row])
        for _ in range(draws // 4):
            colour = [colour_names.index(v) for v in shot_values(cls.colour, colour_names, rng)]
            backdrop = [BACKDROP_NAMES.index(v) for v in shot_values(cls.backdrop, BACKDROP_NAMES, rng)]
            pairs[shot, row, np.array(colour) * len(BACKDROP_NAMES) + np.array(backdrop)] += 1
    for table in (*colours, *backdrops, *pairs):
        assert homogeneity_p(table) > 0.001


def test_relations_hold_in_every_draw():
    rng = np.random.default_rng(0)
    for relation in RELATIONS:
        for _ in range(50):
            values = shot_values(relation.key, tuple(COLOURS), rng)
            assert tuple(sorted(Counter(values).values(), reverse=True)) == relation.counts


def _dominant_colour(frame: np.ndarray) -> int:
    """The vocabulary colour covering most pixels (the object is the largest saturated thing)."""
    distance = np.linalg.norm(frame.reshape(-1, 1, 3).astype(np.float64) - VOCAB_RGB[None], axis=-1)
    near = distance.min(1) < 12
    return int(np.bincount(distance.argmin(1)[near], minlength=len(COLOURS)).argmax())


def _backdrop(frame: np.ndarray) -> int:
    """The backdrop tint nearest to the frame's median colour once the grey background's
    share (1 - tint, around grey 110) is taken out."""
    from tcclip.synth.relational import STYLE

    tint = (np.median(frame.reshape(-1, 3).astype(np.float64), axis=0) - (1 - STYLE.tint) * 110) / STYLE.tint
    return int(np.linalg.norm(BACKDROP_RGB - tint, axis=1).argmin())


@pytest.mark.parametrize("attribute", ["colour", "backdrop"])
def test_a_single_frame_cannot_tell_the_classes_apart_but_relating_frames_can(attribute):
    """From rendered pixels: a single frame's object colour (backdrop) has the same distribution
    under every colour (backdrop) relation, while the pattern across the shots reveals it."""
    frames, per_relation = 8, 40
    read, vocabulary = (_dominant_colour, COLOURS) if attribute == "colour" else (_backdrop, BACKDROPS)
    single = np.zeros((len(RELATIONS), len(vocabulary)), int)
    recovered = 0
    for row, relation in enumerate(RELATION_KEYS):
        for i in range(per_relation):
            rng = np.random.default_rng([5, row, i])
            other = RELATION_KEYS[i % len(RELATIONS)]
            cls = RelationalClass(relation, other) if attribute == "colour" else RelationalClass(other, relation)
            video = render_relational(cls, frames, rng)
            values = [read(video[s]) for s in shot_bounds(frames)[:-1]]
            single[row, values[i % SHOTS]] += 1  # one frame of the clip, any shot
            pattern = tuple(sorted(Counter(values).values(), reverse=True))
            recovered += pattern == RELATIONS[row].counts
    assert homogeneity_p(single) > 0.001
    assert recovered / (len(RELATIONS) * per_relation) > 0.8  # the statistic above has the power to see it


def test_rendering_is_a_function_of_the_seed():
    cls = RelationalClass("all_different", "one_odd")
    first = render_relational(cls, 12, np.random.default_rng([1, 2, 3]))
    again = render_relational(cls, 12, np.random.default_rng([1, 2, 3]))
    other = render_relational(cls, 12, np.random.default_rng([1, 2, 4]))
    assert first.shape == (12, 72, 72, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    bounds = shot_bounds(12)
    assert list(bounds) == [0, 4, 8, 12]
    with pytest.raises(ValueError, match="at least 3 frames"):
        render_relational(cls, 2, np.random.default_rng(0))


def test_class_names_recombine_a_few_phrases():
    classes = relational_classes()
    assert len({c.name for c in classes}) == 9
    assert classes[1].name == "same colour and one odd backdrop"
    assert classes[-1].name == "all different colours and all different backdrops"
    phrases = {w for c in classes for w in c.words}
    assert len(phrases) == 6 and all(sum(w in c.words for c in classes) == 3 for w in phrases)
    for seed in range(6):  # base-to-novel: every phrase of a novel class occurs in a base class
        base, novel = word_covering_split(classes, 5, seed * 1000 + 5)
        assert sorted(base + novel) == list(range(9)) and len(base) == 5
        assert {w for i in novel for w in classes[i].words} <= {w for i in base for w in classes[i].words}


def test_ssv2_lists_follow_the_ssv2_protocols(synth_tiny):
    names = load_class_names(synth_tiny / "labels" / "ssv2_labels.csv")
    assert names == [c.name for c in relational_classes()]
    train = read_annotation_list(synth_tiny / "splits/ssv2_splits/train.txt", len(names))
    val = read_annotation_list(synth_tiny / "splits/ssv2_splits/validation.txt", len(names))
    assert Counter(e.label for e in train) == {i: TINY.ssv2_train for i in range(9)}
    assert Counter(e.label for e in val) == {i: TINY.ssv2_val for i in range(9)}
    assert not {e.path for e in train} & {e.path for e in val}
    base = load_class_names(synth_tiny / "labels" / "ssv2_base_labels.csv")
    novel = load_class_names(synth_tiny / "labels" / "ssv2_novel_labels.csv")
    by_name = {c.name: c for c in relational_classes()}
    assert (len(base), len(novel)) == (5, 4)
    assert {w for n in novel for w in by_name[n].words} <= {w for n in base for w in by_name[n].words}


def test_reversal_set_is_an_optional_extra(tmp_path):
    plain = SynthBenchmark(tmp_path / "a", 0, "tiny")
    plain.plan_videos()
    assert "ssv2_reversal" not in plain.lists
    assert all(isinstance(job.cls, RelationalClass) for job in plain.video_jobs if job.dataset == "ssv2")
    extra = SynthBenchmark(tmp_path / "b", 0, "tiny", reversal_extra=True)
    extra.plan_videos()
    jobs = [job for job in extra.video_jobs if job.dataset == "ssv2_reversal"]
    assert jobs and all(isinstance(job.cls, ReversalClass) for job in jobs)
    assert len({job.cls for job in jobs}) == 14
    # the relational set is planned exactly as without the extra
    def ssv2(bench):
        return [(Path(j.path).name, j.class_index, j.instance) for j in bench.video_jobs if j.dataset == "ssv2"]

    assert ssv2(extra) == ssv2(plain)
