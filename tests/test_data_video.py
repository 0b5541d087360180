"""Video reading/writing: both backends decode real encoded files close to what was rendered,
and every broken file becomes a one-line VideoError (never a decoder crash)."""

import warnings

import numpy as np
import pytest
from data_fixtures import moving_square_frames

from tcclip.data import video as video_module
from tcclip.data.errors import VideoError
from tcclip.data.video import open_video, read_all_frames, resolve_backend, write_video

BACKENDS = ["decord", "pyav"]


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / mse)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("size", [(72, 72), (64, 96)])  # 72 wide triggers decord's padded-row quirk
def test_decoded_pixels_match_rendered(tmp_path, backend, size):
    frames = moving_square_frames(12, *size)
    path = write_video(tmp_path / "clip.mp4", frames, fps=10, crf=18)
    reader = open_video(path, backend)
    assert reader.num_frames == 12
    decoded = reader.get_batch(range(12))
    assert decoded.shape == frames.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - frames).mean() < 3.0
    assert psnr(decoded, frames) > 30


@pytest.mark.parametrize("backend", BACKENDS)
def test_get_batch_any_order_with_repeats(tmp_path, backend):
    frames = moving_square_frames(10)
    path = write_video(tmp_path / "clip.mp4", frames)
    every = read_all_frames(path, "pyav")
    picked = open_video(path, backend).get_batch([7, 2, 2, 9, 0])
    assert np.array_equal(picked, every[[7, 2, 2, 9, 0]])


def test_backends_agree(tmp_path):
    path = write_video(tmp_path / "clip.mp4", moving_square_frames(8))
    a = read_all_frames(path, "decord")
    b = read_all_frames(path, "pyav")
    assert np.abs(a.astype(int) - b).max() <= 2


def _broken_files(tmp_path):
    good = write_video(tmp_path / "good.mp4", moving_square_frames(8)).read_bytes()
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "garbage.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    (tmp_path / "truncated.mp4").write_bytes(good[: len(good) // 2])
    return {"missing.mp4": "missing", "zero.mp4": "empty", "garbage.mp4": "unreadable", "truncated.mp4": "unreadable"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_broken_videos_raise_one_line_video_error(tmp_path, backend):
    for name, kind in _broken_files(tmp_path).items():
        with pytest.raises(VideoError) as info:
            reader = open_video(tmp_path / name, backend)
            reader.get_batch([0, reader.num_frames - 1])
        message = str(info.value)
        assert info.value.kind == kind, (name, message)
        assert name in message and "\n" not in message


@pytest.mark.parametrize("backend", BACKENDS)
def test_out_of_range_index_is_a_video_error(tmp_path, backend):
    path = write_video(tmp_path / "clip.mp4", moving_square_frames(6))
    with pytest.raises(VideoError, match="out of range"):
        open_video(path, backend).get_batch([0, 6])


def test_missing_decord_falls_back_to_pyav(monkeypatch):
    monkeypatch.setattr(video_module, "decord_available", lambda: False)
    monkeypatch.setattr(video_module, "_warned_no_decord", False)
    with pytest.warns(RuntimeWarning, match="PyAV"):
        assert resolve_backend("decord") == "pyav"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_backend("decord") == "pyav"  # warned once only
    assert resolve_backend("pyav") == "pyav"


def test_missing_decord_stops_a_paper_scale_run_in_one_line(monkeypatch):
    """No silent PyAV at the paper scale: resolve_task refuses before any catalog root is needed,
    unless data.backend=pyav asks for it; the embedded scale only warns (above)."""
    from tcclip.engine.run_config import resolve_run_config, resolve_task
    from tcclip.errors import ConfigError

    monkeypatch.setattr(video_module, "decord_available", lambda: False)
    with pytest.raises(ConfigError, match="pip install decord.*data.backend=pyav") as info:
        resolve_task(resolve_run_config(["paper"]))
    assert "\n" not in str(info.value)
    video_module.check_backend("pyav", "paper")
    video_module.check_backend("decord", "embedded")


def test_write_video_rejects_odd_sizes(tmp_path):
    with pytest.raises(ValueError, match="even"):
        write_video(tmp_path / "odd.mp4", np.zeros((2, 9, 8, 3), np.uint8))
