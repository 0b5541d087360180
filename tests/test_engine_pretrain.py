"""Tiny-CLIP pretraining: the loss falls, and the file is a backbone the video model loads."""

from __future__ import annotations

import json

import pytest
import torch

from data_fixtures import synth_tiny  # noqa: F401
from tcclip.cli import main
from tcclip.model.backbone import BackboneConfig, build_clip
from tcclip.engine.pretrain import clip_loss

pytestmark = pytest.mark.slow


def test_pretrain_writes_loadable_weights_and_learns(synth_tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("TCCLIP_THREADS", "1")
    out = tmp_path / "tiny-clip.pt"
    assert main(["pretrain-clip", "--data", str(synth_tiny), "--out", str(out),
                 "steps=20", "batch_size=24", "warmup_steps=3", "lr=1e-3", "log_every=0"]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["final_loss"] < report["first_loss"]
    assert set(report["zero_shot_val"]) >= {"colour_shape", "colour_shape_chance", "colour", "shape"}
    clip = build_clip(BackboneConfig(arch="tiny-clip-p16", weights=str(out), fp16_round=False))
    saved = torch.load(out, weights_only=True)
    assert all(torch.equal(clip.state_dict()[k], v) for k, v in saved.items())


def test_clip_loss_treats_repeated_captions_as_positives():
    features = torch.eye(3)
    scale = torch.tensor(0.0)  # logit scale exp(0) = 1
    distinct = clip_loss(features, features, scale, torch.tensor([0, 1, 2]))
    # images 0 and 1 share caption 0: their texts are both right answers, uniform target over them
    shared = clip_loss(features, features, scale, torch.tensor([0, 0, 2]))
    logits = features @ features.t()
    log_p = logits.log_softmax(1)
    target = torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    expected = -(target * log_p).sum(1).mean()  # symmetric logits: both directions equal
    assert shared.item() == pytest.approx(expected.item())
    assert distinct.item() == pytest.approx(-log_p.diag().mean().item())


def test_text_features_do_not_depend_on_padding_length():
    import open_clip

    from tcclip.model.backbone import create_clip
    from tcclip.engine.pretrain import encode_text

    torch.manual_seed(0)
    clip = create_clip("tiny-clip-p8").eval()
    captions = ["a big red circle", "a small blue star on the left in front of a wall"]
    short = encode_text(clip, open_clip.tokenize(captions, context_length=30))
    full = clip.encode_text(open_clip.tokenize(captions, context_length=77))  # open_clip's own, 77 positions
    assert torch.allclose(short, full, atol=1e-5)
