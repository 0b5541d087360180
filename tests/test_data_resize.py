"""data.resize: the official resampling (OpenCV bilinear on uint8, no antialiasing, two
resizes in training) and ours before issue #15 (one antialiased resize), by name."""

import hashlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from data_fixtures import moving_square_frames, write_list

from tcclip.data import transforms
from tcclip.data.dataset import DataConfig, VideoDataset
from tcclip.data.sampling import centre_indices
from tcclip.data.video import read_all_frames, write_video
from tcclip.errors import ConfigError


def _noise(shape, seed) -> np.ndarray:
    """Random uint8 pixels: a box one pixel off, or a wrong sample grid, shows as a large error."""
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _reference_resize(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """One official step written with torch's float bilinear: half-pixel centres, no
    antialiasing, rounded to uint8 as cv2.resize stores it."""
    clip = F.interpolate(frames.permute(0, 3, 1, 2).float(), size=(height, width), mode="bilinear",
                         align_corners=False, antialias=False)
    return clip.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


# sha256 (first 16 hex digits) of cv2.resize(INTER_LINEAR) on _noise((2, h, w, 3), h * 1000 + w),
# opencv-python-headless 4.14.0.94, x86-64 (benchmarks/resize_modes.py checks it live): a
# downscale, an exact 2x (where OpenCV switches to INTER_AREA), an upscale, the training crop.
CV2_DIGESTS = [
    ((240, 320), (256, 341), "f3e52072673f3e10"),
    ((512, 680), (256, 340), "7afdefbc5e807604"),
    ((36, 36), (72, 72), "fbf79f17d464f017"),
    ((256, 341), (224, 224), "1ba1a784519c9346"),
    ((63, 72), (64, 64), "5ce18b3452c89a9d"),
]


@pytest.mark.parametrize("source,target,digest", CV2_DIGESTS)
def test_resize_like_opencv_reproduces_cv2_bit_for_bit(source, target, digest):
    frames = torch.from_numpy(_noise((2, *source, 3), source[0] * 1000 + source[1]))
    out = transforms.resize_like_opencv(frames, *target)
    assert out.dtype == torch.uint8 and tuple(out.shape) == (2, *target, 3)
    assert hashlib.sha256(out.numpy().tobytes()).hexdigest()[:16] == digest


@pytest.mark.parametrize("source,target", [((240, 320), (256, 341)), ((256, 341), (224, 224)), ((47, 54), (64, 64))])
def test_resize_like_opencv_is_plain_bilinear_up_to_its_fixed_point_rounding(source, target):
    frames = torch.from_numpy(_noise((2, *source, 3), 3))
    ours = transforms.resize_like_opencv(frames, *target).int()
    diff = (ours - _reference_resize(frames, *target).int()).abs()
    assert diff.max() <= 1 and diff.float().mean() < 0.2
    assert torch.equal(transforms.resize_like_opencv(frames, *source), frames)  # same size: a copy


def test_new_size_is_rounded_as_mmcv_rescale_size():
    assert transforms.rescaled_size(240, 320, 256) == (256, 341)
    assert transforms.rescaled_size(480, 854, 256) == (256, 455)
    assert transforms.rescaled_size(64, 100, 72) == (72, 113)  # 112.5 rounds up, not to even
    assert transforms.rescaled_size(72, 72, 72) == (72, 72)


def test_official_train_crop_is_two_bilinear_resizes_on_the_integer_grid():
    """240 x 320 -> 256 x 341, a 192 x 192 crop at a fixed position (integer steps of
    (341 - 192) // 4 = 37 and (256 - 192) // 4 = 16), resized again to 224."""
    frames = _noise((3, 240, 320, 3), 0)
    positions = {0: (0, 0), 1: (148, 0), 2: (0, 64), 3: (148, 64), 4: (74, 32)}
    for seed in range(6):
        draws = np.random.default_rng(seed)
        draws.integers(1)  # the crop size: one candidate
        x, y = positions[int(draws.integers(5))]
        got = transforms.train_crop(frames, 256, 224, np.random.default_rng(seed), scales=(0.75,))
        resized = _reference_resize(torch.from_numpy(frames), 256, 341)
        expected = _reference_resize(resized[:, y : y + 192, x : x + 192], 224, 224).permute(0, 3, 1, 2).float()
        assert got.shape == (3, 3, 224, 224)
        assert (got - expected).abs().max() <= 2 and (got - expected).abs().mean() < 0.3


def test_embedded_clips_pass_the_first_step_exactly():
    """72-px frames, short side 72: no first resize. A 0.875 crop (63 px, within 3 of 64) is
    taken at 64 and not resampled; a full 72-px crop is resized once, without antialiasing."""
    frames = _noise((2, 72, 72, 3), 1)
    for seed in range(5):
        got = transforms.train_crop(frames, 72, 64, np.random.default_rng(seed), scales=(0.875,))
        step = (72 - 64) // 4
        originals = [frames[:, y : y + 64, x : x + 64] for x in (0, 2 * step, 4 * step) for y in (0, 2 * step, 4 * step)]
        assert any(np.array_equal(got.permute(0, 2, 3, 1).numpy(), crop) for crop in originals)
    full = transforms.train_crop(frames, 72, 64, np.random.default_rng(0), scales=(1.0,))
    expected = transforms.resize_like_opencv(torch.from_numpy(frames), 64, 64).permute(0, 3, 1, 2).float()
    assert torch.equal(full, expected)
    for mode in transforms.RESIZE_MODES:
        (view,) = transforms.view_crops(frames, 72, 64, 1, mode)
        assert torch.equal(view, torch.from_numpy(frames[:, 4:68, 4:68]).permute(0, 3, 1, 2).float())


def test_official_test_views_are_cut_without_a_second_resize():
    frames = _noise((2, 240, 320, 3), 2)
    resized = transforms.resize_like_opencv(torch.from_numpy(frames), 256, 341)
    (centre,) = transforms.view_crops(frames, 256, 224, 1)
    assert torch.equal(centre, resized[:, 16:240, 58:282].permute(0, 3, 1, 2).float())
    resized = transforms.resize_like_opencv(torch.from_numpy(frames), 224, 299)
    starts = [view for view in transforms.view_crops(frames, 256, 224, 3)]
    for view, x in zip(starts, (0, 37, 74)):  # 2 * ((299 - 224) // 2) = 74: the official "end" crop
        assert torch.equal(view, resized[:, :, x : x + 224].permute(0, 3, 1, 2).float())
    assert transforms.official_test_boxes(299, 224, 224, 3) == [transforms.Box(0, y, 224, 224) for y in (0, 37, 74)]


# The outputs of the transforms before data.resize existed (computed at the parent commit of
# this option): (sum in float64, value at [1, 2, 10, 20]) per training seed 0-2, then the views
# (1 centre crop, then 3 crops).
PREVIOUS = {
    "paper": ((240, 320, 256, 224), 0, [
        (38334248.232975125, 195.14984130859375), (38303582.51213527, 158.56639099121094),
        (38333415.35407269, 93.31229400634766)], [
        (38253899.8046875, 116.5439453125), (38295673.32500172, 181.98538208007812),
        (38302769.25197315, 184.2149200439453), (38299632.33862829, 84.93848419189453)]),
    "embedded": ((72, 72, 72, 64), 1, [
        (3155460.6400146484, 145.1956787109375), (3165500.728149414, 105.2431640625),
        (3150465.365234375, 186.8961181640625)], [
        (3156590.0, 121.0), *[(3151520.8019886017, 36.6299934387207)] * 3]),
    "wide": ((64, 96, 72, 64), 2, [
        (3122306.29296875, 159.173828125), (3131749.046875, 220.1875), (3122627.537109375, 235.115234375)], [
        (3139896.52734375, 93.69140625), (3137769.0, 95.0), (3141939.0, 129.0), (3128594.0, 25.0)]),
}


@pytest.mark.parametrize("geometry", sorted(PREVIOUS))
def test_single_antialiased_is_the_previous_transform(geometry):
    (height, width, short_side, size), seed, train, views = PREVIOUS[geometry]
    frames = _noise((2, height, width, 3), seed)

    def digest(clip):
        return clip.double().sum().item(), clip[1, 2, 10, 20].item()

    for draw, expected in enumerate(train):
        clip = transforms.train_crop(frames, short_side, size, np.random.default_rng(draw), resize="single_antialiased")
        assert digest(clip) == pytest.approx(expected, rel=1e-6)
    got = [*transforms.view_crops(frames, short_side, size, 1, "single_antialiased"),
           *transforms.view_crops(frames, short_side, size, 3, "single_antialiased")]
    assert [digest(view) for view in got] == [pytest.approx(e, rel=1e-6) for e in views]


def test_resize_is_a_data_setting_and_a_bad_value_is_one_line():
    assert DataConfig().resize == "official" and DataConfig.embedded().resize == "official"
    with pytest.raises(ConfigError) as err:
        DataConfig(resize="bicubic")
    assert str(err.value) == "data.resize: expected official or single_antialiased, got 'bicubic'"


def test_dataset_resamples_by_the_setting(tmp_path):
    """A 64 x 96 video, 1 centre crop: the short side 64 -> 72 needs resampling, so the two
    modes differ, and the official view is the decoded frames resized to 72 x 108, cut. With 3
    crops (short side -> 64: no resize) both modes cut the same decoded pixels."""
    write_video(tmp_path / "b.mp4", moving_square_frames(20, 64, 96, seed=2))
    write_list(tmp_path / "list.txt", ["b.mp4 0"])

    def views(mode, crops):
        cfg = DataConfig.embedded(mode="test", num_crops=crops, resize=mode)
        return transforms.to_pixels(VideoDataset(tmp_path / "list.txt", tmp_path, cfg)[0]["video"].flatten(0, 1))

    official, ours = views("official", 1), views("single_antialiased", 1)
    assert 0 < (official - ours).abs().mean() < 5
    frames = read_all_frames(tmp_path / "b.mp4", "pyav")[centre_indices(20, 8)]
    resized = transforms.resize_like_opencv(torch.from_numpy(frames), 72, 108)
    assert (official - resized[:, 4:68, 22:86].permute(0, 3, 1, 2).float()).abs().max() < 1e-3
    assert (views("official", 3) - views("single_antialiased", 3)).abs().max() < 1e-3
