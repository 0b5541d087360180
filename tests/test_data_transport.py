"""uint8 clip transport (issue #18): where the dataset's transform is integral its items are
uint8 pixels, normalised by the engine where the model runs (``transforms.model_input``),
and that gives bit for bit today's float path (normalised float32 built in the worker):
the same model inputs, training losses and evaluation scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_fixtures import moving_square_frames, write_list

from tcclip.data import transforms
from tcclip.data.dataset import DataConfig, VideoDataset
from tcclip.data.video import write_video


class FloatTransport(VideoDataset):
    """Today's path, for reference: never uint8, so every item is float32 normalised in the
    worker (``augment`` / ``_test_views`` then run the code they ran before uint8 transport)."""

    @property
    def pixels(self) -> bool:
        return False


def _frames(height: int, width: int, seed: int, t: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, height, width, 3), dtype=np.uint8)


def _integral(clip: torch.Tensor) -> bool:
    return bool(torch.equal(clip, clip.round()) and clip.min() >= 0 and clip.max() <= 255)


# Frame sizes that need resampling in both official steps (short side -> 72, the crop -> 64),
# one that needs none for the centre crop (72 x 72), and a portrait one.
SIZES = [(90, 120), (72, 72), (100, 64)]


@pytest.mark.parametrize("height,width", SIZES)
def test_official_resampling_cuts_and_flips_are_integral(height, width):
    """Every step before normalisation of the official train crop and test views yields
    integers 0..255, so uint8 holds them exactly."""
    rng = np.random.default_rng(0)
    frames = _frames(height, width, seed=height + width)
    for _ in range(20):
        clip = transforms.train_crop(frames, 72, 64, rng)
        assert clip.dtype == torch.float32 and _integral(clip) and _integral(clip.flip(-1))
        assert torch.equal(transforms.train_crop(frames, 72, 64, np.random.default_rng(1), pixels=True).float(),
                           transforms.train_crop(frames, 72, 64, np.random.default_rng(1)))
    for crops in (1, 3):
        for view in transforms.view_crops(frames, 72, 64, crops):
            assert _integral(view)


def test_jitter_greyscale_and_antialiased_resizing_are_not_integral():
    """Why those configs keep float32 transport: their values are not integers (the colour
    jitter runs in float, unlike the official PIL ops that round to uint8)."""
    frames = _frames(90, 120, seed=3)
    clip = transforms.train_crop(frames, 72, 64, np.random.default_rng(0))
    assert not _integral(transforms.ColorJitter()(clip, np.random.default_rng(0)))
    assert not _integral(transforms.grayscale(clip))
    assert not _integral(transforms.train_crop(frames, 72, 64, np.random.default_rng(0),
                                               resize="single_antialiased"))
    with pytest.raises(ValueError, match="uint8 clips need resize='official'"):
        transforms.view_crops(frames, 72, 64, 1, resize="single_antialiased", pixels=True)


def _config(mode: str, **changes) -> DataConfig:
    return DataConfig.embedded(mode=mode, **changes)


TRAIN_CASES = {
    "plain": dict(color_jitter_p=0.0, grayscale_p=0.0),        # uint8
    "jitter+grey": dict(color_jitter_p=1.0, grayscale_p=1.0),  # float: not integral
    "default": dict(),                                         # p 0.8 / 0.2: float
    "antialiased": dict(color_jitter_p=0.0, grayscale_p=0.0, resize="single_antialiased"),  # float
}


@pytest.mark.parametrize("case", sorted(TRAIN_CASES))
@pytest.mark.parametrize("height,width", SIZES)
def test_train_clips_as_the_engine_normalises_them_equal_the_float_path(case, height, width):
    cfg = _config("train", **TRAIN_CASES[case])
    ds, today = VideoDataset("<l>", "", cfg, entries=[]), FloatTransport("<l>", "", cfg, entries=[])
    assert ds.pixels == (case == "plain")
    frames = _frames(height, width, seed=7)
    for seed in range(12):  # crops, flips, per-frame jitter and greyscale draws
        item = ds.augment(frames, np.random.default_rng(seed))
        assert item.dtype == (torch.uint8 if ds.pixels else torch.float32)
        expected = today.augment(frames, np.random.default_rng(seed))
        batch = ds.collate([{"video": item, "label": 0, "index": 0}])["video"]
        assert batch.dtype == item.dtype
        assert torch.equal(transforms.model_input(batch)[0], expected)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("transport")
    write_video(root / "a.mp4", moving_square_frames(30, seed=1))
    write_video(root / "b.mp4", moving_square_frames(20, 64, 96, seed=2))  # resampled: short side 64 -> 72
    write_video(root / "c.mp4", moving_square_frames(16, 80, 60, seed=3))
    write_list(root / "list.txt", ["a.mp4 0", "b.mp4 1", "c.mp4 2", "a.mp4 1"])
    return root


@pytest.mark.parametrize("resize", ["official", "single_antialiased"])
@pytest.mark.parametrize("clips,crops", [(1, 1), (2, 3)])
def test_test_views_as_the_engine_normalises_them_equal_the_float_path(videos, resize, clips, crops):
    cfg = _config("test", num_clips=clips, num_crops=crops, resize=resize)
    ds, today = VideoDataset(videos / "list.txt", videos, cfg), FloatTransport(videos / "list.txt", videos, cfg)
    assert ds.pixels == (resize == "official")
    batch = ds.collate([ds[i] for i in range(len(ds))])["video"]
    expected = today.collate([today[i] for i in range(len(today))])["video"]
    assert batch.dtype == (torch.uint8 if resize == "official" else torch.float32)
    assert batch.nbytes * (4 if resize == "official" else 1) == expected.nbytes
    assert torch.equal(transforms.model_input(batch), expected)
    assert torch.equal(transforms.to_pixels(batch[0]), transforms.to_pixels(transforms.model_input(batch[0]))) \
        if resize == "single_antialiased" else torch.equal(transforms.to_pixels(batch), batch.float())


def test_an_all_skipped_batch_keeps_the_dtype(videos):
    ds = VideoDataset(videos / "list.txt", videos, _config("test"))
    batch = ds.collate([{"video": None, "label": 0, "index": 0, "skipped": "x"}])
    assert batch["video"].dtype == torch.uint8 and batch["video"].shape == (0, *ds.sample_shape)
    assert transforms.model_input(batch["video"]).dtype == torch.float32


MICRO = dict(num_frames=4, input_size=32, short_side=36)


def test_training_losses_and_eval_scores_are_those_of_the_float_path(videos, tmp_path):
    """The engine end to end (train loop with mixup/cutmix on the normalised clips, then
    evaluation): uint8 transport gives exactly today's losses and scores."""
    from test_model import CLASSES, micro_model

    from tcclip.engine.evaluate import predict
    from tcclip.engine.mixup import MixConfig
    from tcclip.engine.run_config import TrainConfig
    from tcclip.engine.runtime import Dist
    from tcclip.engine.train import Trainer

    train_cfg = TrainConfig(epochs=2, warmup_epochs=1, lr=1e-3, total_batch=2, batch_size=2, amp=False, log_every=0,
                            mix=MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5, label_smoothing=0.1))
    data = DataConfig(mode="train", color_jitter_p=0.0, grayscale_p=0.0, **MICRO)
    test = data.replace(mode="test", num_clips=2)
    runs = []
    for kind in (VideoDataset, FloatTransport):
        train_set = kind(videos / "list.txt", videos, data)
        assert train_set.pixels == (kind is VideoDataset)
        model = micro_model()
        trainer = Trainer(model, train_set, len(CLASSES), train_cfg, seed=7, checkpoint_dir=tmp_path / kind.__name__,
                          rt=Dist())
        history = trainer.fit("never")
        scores = predict(model, kind(videos / "list.txt", videos, test), CLASSES, batch_size=3, rt=Dist())["scores"]
        runs.append(([h["loss"] for h in history.history], scores))
    (losses, scores), (float_losses, float_scores) = runs
    assert losses == float_losses and len(losses) == 2
    assert torch.equal(scores, float_scores)
