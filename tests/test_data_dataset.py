"""VideoDataset: shapes per mode, exact pixels through the test transform, augmentation
geometry, and bad videos as a clear error or a counted skip."""

import json

import numpy as np
import pytest
import torch
from data_fixtures import moving_square_frames, write_list

from tcclip.config import from_dict
from tcclip.data import transforms
from tcclip.data.dataset import DataConfig, SkipLog, VideoDataset, build_loader
from tcclip.data.errors import VideoError
from tcclip.data.sampling import centre_indices
from tcclip.data.video import read_all_frames, write_video
from tcclip.errors import ConfigError

EMBEDDED = dict(num_frames=8, input_size=64, short_side=72)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "a.mp4", moving_square_frames(30, seed=1))
    write_video(root / "b.mp4", moving_square_frames(20, 64, 96, seed=2))  # 4:3, like real videos
    (root / "zero.mp4").write_bytes(b"")
    (root / "bad.mp4").write_bytes(b"not a video at all" * 100)
    write_list(root / "good.txt", ["a.mp4 0", "b.mp4 1"])
    write_list(root / "mixed.txt", ["a.mp4 0", "missing.mp4 1", "zero.mp4 1", "b.mp4 1", "bad.mp4 0"])
    return root


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_train_mode_shape_and_normalisation(videos, backend):
    ds = VideoDataset(videos / "good.txt", videos, DataConfig.embedded(backend=backend))
    item = ds[1]
    assert set(item) == {"video", "label", "index"}
    assert item["video"].shape == (8, 3, 64, 64) and item["video"].dtype == torch.float32
    assert item["label"] == 1 and item["index"] == 1
    pixels = transforms.to_pixels(item["video"])
    assert pixels.min() >= -1e-3 and pixels.max() <= 255 + 1e-3


@pytest.mark.parametrize("clips,crops", [(1, 1), (2, 1), (4, 3)])
def test_test_mode_views(videos, clips, crops):
    cfg = DataConfig.embedded(mode="test", num_clips=clips, num_crops=crops)
    item = VideoDataset(videos / "good.txt", videos, cfg)[1]
    assert item["video"].shape == (clips * crops, 8, 3, 64, 64)


def test_centre_crop_passes_pixels_through_exactly(videos):
    """Short side 72 -> 72 and a 64 crop: no resampling, the decoded pixels come out unchanged."""
    cfg = DataConfig.embedded(mode="test", num_clips=1, num_crops=1)
    video = VideoDataset(videos / "good.txt", videos, cfg)[0]["video"][0]
    frames = read_all_frames(videos / "a.mp4", "pyav")
    expected = frames[centre_indices(30, 8)][:, 4:68, 4:68]
    got = transforms.to_pixels(video).permute(0, 2, 3, 1).numpy()
    assert np.abs(got - expected).max() < 1e-3
    mean = torch.tensor(transforms.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(transforms.IMAGENET_STD).view(1, 3, 1, 1)
    raw = torch.from_numpy(expected).permute(0, 3, 1, 2).float()
    assert video.dtype == torch.uint8 and torch.equal(transforms.model_input(video), (raw - mean) / std)


def test_deterministic_views_are_shifted_centres(videos):
    cfg = DataConfig.embedded(mode="test", num_clips=2, view_sampling="deterministic")
    views = VideoDataset(videos / "good.txt", videos, cfg)[0]["video"]
    frames = read_all_frames(videos / "a.mp4", "pyav")
    for clip, position in enumerate((0.25, 0.75)):
        expected = frames[centre_indices(30, 8, position)][:, 4:68, 4:68]
        got = transforms.to_pixels(views[clip]).permute(0, 2, 3, 1).numpy()
        assert np.abs(got - expected).max() < 1e-3


def test_crop_geometry():
    rng = np.random.default_rng(0)
    allowed = {int(256 * s) for s in transforms.MULTISCALE}
    for _ in range(200):
        box = transforms.multiscale_crop_box(240, 320, 256, rng)  # 240x320 -> 256x341 virtually
        assert 0 <= box.x and box.x + box.w <= 320 and 0 <= box.y and box.y + box.h <= 240
        assert round(box.w * 256 / 240) in {a + d for a in allowed for d in (-1, 0, 1)}
    assert transforms.center_crop_box(72, 72, 72, 64) == transforms.Box(4, 4, 64, 64)
    left, centre, right = transforms.three_crop_boxes(72, 96, 72)
    assert (left.x, centre.x, right.x) == (0, 12, 24) and left.w == left.h == 72


def _still_clip(frames: int = 4) -> torch.Tensor:
    """A (T, 3, 6, 6) clip on the 0-255 scale whose frames are all the same picture."""
    picture = (torch.rand(3, 6, 6, generator=torch.Generator().manual_seed(0)) * 255).round()
    return picture.expand(frames, 3, 6, 6).clone()


def test_colour_jitter_per_frame_draws_new_factors_each_frame_from_the_seed():
    """Official: torchvision's ColorJitter on each frame, so a still clip flickers; same seed, same flicker."""
    jitter = transforms.ColorJitter()  # official ranges and mode
    assert (jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue, jitter.mode) == (
        0.4, 0.4, 0.2, 0.1, "per_frame")
    out = jitter(_still_clip(), np.random.default_rng(5))
    assert all(not torch.allclose(out[0], out[t]) for t in range(1, 4))
    assert torch.equal(out, jitter(_still_clip(), np.random.default_rng(5)))
    assert not torch.equal(out, jitter(_still_clip(), np.random.default_rng(6)))


def test_colour_jitter_per_clip_is_the_previous_transform():
    """per_clip (ours before issue #15): one draw for the clip; the reference numbers were computed
    with the previous ColorJitter(0.4, 0.4, 0.4, 0.1) at the same seed."""
    jitter = transforms.ColorJitter(0.4, 0.4, 0.4, 0.1, mode="per_clip")
    clip = (torch.rand(4, 3, 6, 6, generator=torch.Generator().manual_seed(0)) * 255).round()
    out = jitter(clip, np.random.default_rng(5))
    assert out.sum().item() == pytest.approx(63671.8359375, rel=1e-5)
    assert out[1, 2, 3, 4].item() == pytest.approx(13.908308982849121, rel=1e-5)
    still = jitter(_still_clip(), np.random.default_rng(5))
    assert all(torch.equal(still[0], still[t]) for t in range(1, 4))


def test_colour_jitter_mode_is_a_data_setting():
    assert DataConfig().color_jitter == "per_frame" and DataConfig().saturation == 0.2
    with pytest.raises(ConfigError, match="data.color_jitter"):
        DataConfig(color_jitter="per_video")


def _square_column(clip):
    pixels = transforms.to_pixels(clip)[0]
    red = pixels[0] - pixels[1]
    return torch.nonzero((red > 100).any(0)).float().mean().item()


def test_hflip_follows_config(videos):
    """Full-frame crops only: the red square starts on the left unless the clip is flipped."""
    plain = dict(color_jitter_p=0.0, grayscale_p=0.0, scales=[1.0])
    torch.manual_seed(0)
    no_flip = VideoDataset(videos / "good.txt", videos, DataConfig.embedded(hflip=False, **plain))
    assert all(_square_column(no_flip[0]["video"]) < 32 for _ in range(8))
    flip = VideoDataset(videos / "good.txt", videos, DataConfig.embedded(hflip=True, **plain))
    assert any(_square_column(flip[0]["video"]) > 32 for _ in range(8))


def test_train_mode_is_reproducible_under_torch_seed(videos):
    ds = VideoDataset(videos / "good.txt", videos, DataConfig.embedded())
    torch.manual_seed(5)
    a = ds[0]["video"]
    torch.manual_seed(5)
    b = ds[0]["video"]
    assert torch.equal(a, b)


def test_bad_video_raises_naming_file_and_list_line(videos):
    ds = VideoDataset(videos / "mixed.txt", videos, DataConfig.embedded(on_error="raise"))
    with pytest.raises(VideoError, match=r"missing.mp4: file not found \(listed at .*mixed.txt:2\)"):
        ds[1]
    with pytest.raises(VideoError, match=r"bad.mp4: .*cannot open"):
        ds[4]


@pytest.mark.parametrize("workers", [0, 1])
def test_skipped_videos_are_counted_not_dropped_silently(videos, workers):
    cfg = DataConfig.embedded(mode="test", on_error="skip", num_clips=2)
    ds = VideoDataset(videos / "mixed.txt", videos, cfg)
    log = SkipLog()
    seen = []
    for batch in build_loader(ds, batch_size=3, num_workers=workers):
        log.update(batch)
        seen += batch["index"].tolist()
        assert batch["video"].shape[1:] == (2, 8, 3, 64, 64)
        assert len(batch["label"]) == batch["video"].shape[0]
    assert sorted(seen) == [0, 3]
    summary = log.to_dict()
    assert summary["skipped_videos"] == 3
    assert summary["by_kind"] == {"empty": 1, "missing": 1, "unreadable": 1}
    json.dumps(summary)  # ready for a metrics file
    if workers == 0:
        assert len(ds.skipped) == 3


def test_data_config_validation_and_from_dict():
    cfg = from_dict(DataConfig, {"num_frames": 8, "input_size": 64, "short_side": 72, "mode": "test"})
    assert cfg.num_views == 1 and cfg.mode == "test"
    with pytest.raises(ConfigError, match="data.short_side"):
        DataConfig(input_size=224, short_side=128)
    with pytest.raises(ConfigError, match="num_crops"):
        DataConfig(num_crops=2)
    with pytest.raises(ConfigError, match="unknown key 'frames'"):
        from_dict(DataConfig, {"frames": 8})
    assert DataConfig().num_frames == 16 and DataConfig().input_size == 224 and DataConfig().short_side == 256


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_dataset_frames_are_the_protocol_indices(tmp_path, backend):
    """Frame t of the video is a flat grey 8*t: the level read back names the frame."""
    n = 30
    frames = np.repeat((np.arange(n, dtype=np.uint8) * 8)[:, None, None, None], 72 * 72 * 3, axis=1).reshape(n, 72, 72, 3)
    write_video(tmp_path / "count.mp4", frames)
    write_list(tmp_path / "list.txt", ["count.mp4 0"])

    def frame_ids(video):
        level = transforms.to_pixels(video).mean(dim=(1, 2, 3))
        return torch.round(level / 8).long().tolist()

    test = VideoDataset(tmp_path / "list.txt", tmp_path, DataConfig.embedded(mode="test", backend=backend))
    assert frame_ids(test[0]["video"][0]) == centre_indices(n, 8).tolist()
    plain = dict(color_jitter_p=0.0, grayscale_p=0.0, backend=backend)
    train = VideoDataset(tmp_path / "list.txt", tmp_path, DataConfig.embedded(**plain))
    segment = n // 8
    for _ in range(5):
        ids = frame_ids(train[0]["video"])
        assert all(i * segment <= f < (i + 1) * segment for i, f in enumerate(ids)), ids
