"""TSN sampling: one frame per segment, random offset in training, centre in test, wrap-around."""

import numpy as np
import pytest

from tcclip.data.sampling import centre_indices
from tcclip.data.sampling import train_indices, view_indices, view_rng


@pytest.mark.parametrize("n,t", [(30, 8), (24, 8), (300, 16), (17, 16)])
def test_train_indices_one_per_segment(n, t):
    rng = np.random.default_rng(0)
    segment = n // t
    seen = set()
    for _ in range(50):
        idx = train_indices(n, t, rng)
        assert idx.shape == (t,)
        for i, frame in enumerate(idx):
            assert i * segment <= frame < (i + 1) * segment
        seen.add(tuple(idx))
    assert len(seen) > 1 or segment == 1  # offsets are random


def test_train_indices_reproducible():
    a = train_indices(30, 8, np.random.default_rng(3))
    b = train_indices(30, 8, np.random.default_rng(3))
    assert np.array_equal(a, b)


def test_centre_indices_follow_the_protocol():
    assert centre_indices(30, 8).tolist() == [1, 5, 9, 13, 16, 20, 24, 28]  # floor((i + .5) * 30 / 8)
    n, t = 250, 16
    assert centre_indices(n, t).tolist() == [int((i + 0.5) * n / t) for i in range(t)]


@pytest.mark.parametrize("sampler", ["train", "test"])
def test_short_videos_repeat_frames_in_order(sampler):
    idx = train_indices(5, 8, np.random.default_rng(0)) if sampler == "train" else centre_indices(5, 8)
    assert idx.min() >= 0 and idx.max() < 5
    assert np.all(np.diff(idx) >= 0)
    assert len(set(idx.tolist())) == 5


def test_indices_wrap_around():
    from tcclip.data.sampling import _wrap

    assert _wrap(np.array([-1, 5, 12, 3]), 5).tolist() == [4, 0, 2, 3]
    assert centre_indices(1, 4).tolist() == [0, 0, 0, 0]
    assert train_indices(1, 3, np.random.default_rng(0)).tolist() == [0, 0, 0]


def test_views_deterministic_and_official():
    n, t = 40, 8
    det = view_indices(n, t, 2, "deterministic")
    assert det.shape == (2, t)
    assert det[0].tolist() == centre_indices(n, t, 0.25).tolist()
    assert det[1].tolist() == centre_indices(n, t, 0.75).tolist()
    # official: one clip = segment centres; several clips = random offsets, reproducible per video
    assert view_indices(n, t, 1, "official").tolist() == [centre_indices(n, t).tolist()]
    a = view_indices(n, t, 3, "official", view_rng(0, "a/x.mp4"))
    b = view_indices(n, t, 3, "official", view_rng(0, "a/x.mp4"))
    c = view_indices(n, t, 3, "official", view_rng(0, "a/y.mp4"))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    for clip in a:
        assert all(i * 5 <= f < (i + 1) * 5 for i, f in enumerate(clip))
    with pytest.raises(ValueError):
        view_indices(n, t, 2, "official")  # needs a generator
