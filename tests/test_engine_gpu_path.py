"""The GPU/cluster path's logic, checked on CPU (issue #16 item 4): per-rank worker seeds,
resuming across devices (loss-scaler state), evaluation's autocast dtype and float32 logits."""

from __future__ import annotations

import torch

from test_engine_train import ToyVideos, config
from test_model import micro_model, video
from tcclip.engine.evaluate import view_logits
from tcclip.engine.runtime import Dist, autocast_dtype
from tcclip.engine.train import Trainer, _loader, load_scaler_state


class Draws(torch.utils.data.Dataset):
    """Each item: what an augmentation draws from the worker's generators (torch, NumPy, random)."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        import random

        import numpy as np

        return torch.tensor([torch.rand(()).item(), np.random.rand(), random.random()])


def worker_draws(rank: int, world: int = 2, epoch: int = 0) -> torch.Tensor:
    cfg = config(batch_size=2, total_batch=4, workers=1)
    return torch.cat(list(_loader(Draws(), cfg, Dist(rank=rank, world_size=world), seed=5, epoch=epoch)))


def test_ranks_workers_draw_different_augmentations_reproducibly():
    """Worker w of each rank was seeded from (seed, epoch) alone: every rank drew the same crops,
    flips, jitter and frame offsets. Now the rank is in the seed; each rank's draws still repeat."""
    rank0, rank1 = worker_draws(0), worker_draws(1)
    assert not torch.equal(rank0, rank1)
    assert not torch.isclose(rank0, rank1).any()
    assert torch.equal(rank0, worker_draws(0)) and torch.equal(rank1, worker_draws(1))
    assert not torch.equal(rank0, worker_draws(0, epoch=1))
    single = worker_draws(0, world=1)  # a single process keeps the stream it always had
    assert torch.equal(single, torch.cat(list(_loader(Draws(), config(batch_size=2, total_batch=4, workers=1),
                                                       Dist(), seed=5, epoch=0))))


def test_cpu_checkpoint_resumes_with_an_enabled_loss_scaler(tmp_path):
    """A run started on CPU saves a disabled scaler's empty state; resuming it on a GPU with float16
    (an enabled scaler) failed with "the source state dict is empty". torch.amp.GradScaler("cpu")
    stands for the GPU's enabled scaler here."""
    trainer = Trainer(micro_model(), ToyVideos(), 3, config(epochs=1), seed=7, checkpoint_dir=tmp_path, rt=Dist())
    trainer.fit()
    assert trainer.scaler.state_dict() == {}  # CPU: disabled
    resumed = Trainer(micro_model(), ToyVideos(), 3, config(epochs=2), seed=7, checkpoint_dir=tmp_path, rt=Dist())
    resumed.scaler = torch.amp.GradScaler("cpu", enabled=True)
    assert resumed.resume("auto") == 1
    assert resumed.scaler.get_scale() == 2.0**16  # a fresh scale
    enabled = torch.amp.GradScaler("cpu", enabled=True, init_scale=8.0)
    load_scaler_state(enabled, None)  # no "scaler" key at all
    disabled = torch.amp.GradScaler("cpu", enabled=False)
    load_scaler_state(disabled, enabled.state_dict())  # a GPU run's state, resumed on CPU
    assert not disabled.is_enabled()
    other = torch.amp.GradScaler("cpu", enabled=True)
    load_scaler_state(other, enabled.state_dict())
    assert other.get_scale() == 8.0


def test_autocast_dtype_follows_the_configuration():
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert autocast_dtype(True, "bfloat16", cpu) == torch.bfloat16
    assert autocast_dtype(True, "float16", cpu) is None  # CPU float16 autocast: never used
    assert autocast_dtype(False, "bfloat16", cpu) is None
    assert autocast_dtype(True, "bfloat16", cuda) == torch.bfloat16  # not float16 whatever was set
    assert autocast_dtype(True, "float16", cuda) == torch.float16


def test_evaluation_logits_are_float32_under_bf16_autocast():
    """Under bfloat16 autocast the x100 logits came from a bf16 matmul (steps of 0.25-0.5 near
    100: ties). The encoders autocast; the logits are float32, equal to the float32 formula on the
    same features, and in full precision equal to the model's own forward."""
    model = micro_model().eval()
    clips = video()
    with torch.no_grad():
        logits = view_logits(model, clips, torch.bfloat16)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            vision = model.encode_video(clips)
            text = model.encode_text(vision)
        assert vision.video.dtype == torch.bfloat16  # the encoders did run in bf16
        expected = model.clip.logit_scale.exp() * torch.nn.functional.normalize(vision.video.float(), dim=-1) \
            @ torch.nn.functional.normalize(text.float(), dim=-1).t() if text.ndim == 2 else \
            model.clip.logit_scale.exp() * torch.einsum("be,bke->bk",
                                                        torch.nn.functional.normalize(vision.video.float(), dim=-1),
                                                        torch.nn.functional.normalize(text.float(), dim=-1))
        assert logits.dtype == torch.float32
        torch.testing.assert_close(logits, expected, rtol=0, atol=0)
        assert torch.equal(view_logits(model, clips, None), model(clips))  # the forward's formula
    with torch.no_grad():
        double = view_logits(micro_model(torch.float64).eval(), clips.double(), None)
    assert double.dtype == torch.float64  # float64 stays float64 (exactness checks)
