"""train.compile: the compiled encoders give eager's logits and gradients; the option validates.

The check compiles with the aot_eager backend and fullgraph=True: the whole graph capture
(dynamo, no graph break allowed) and AOT autograd of both presets, without kernel generation,
on a 2-layer CLIP (tracing unrolls every layer: the 4-layer tiny CLIP took 53 s / 91 s). The
inductor backend the option uses also generates C++ kernels (minutes per preset on 2 cores):
its logits are compared with eager's by benchmarks/compile_speed.py (within 1.4e-6), not here."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tcclip.engine.run_config import resolve_run_config, run_id
from tcclip.errors import ConfigError
from open_clip.model import CLIP

from tcclip.model.video_clip import VideoCLIP, model_config

PRESETS = ["vifi_clip", "tc_clip"]


# A 2-layer CLIP of the open_clip class the suite builds (tests/test_model.py's MICRO).
MICRO = dict(embed_dim=64, quick_gelu=True,
             vision_cfg=dict(image_size=32, layers=2, width=64, head_width=32, patch_size=8),
             text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2))


def _tiny(preset: str) -> VideoCLIP:
    overrides = {"backbone": {"weights": None}}
    if preset == "tc_clip":
        overrides["vision"] = {"num_context": 8}  # the embedded run's k
    torch.manual_seed(0)
    model = VideoCLIP(CLIP(**MICRO), model_config(preset, overrides))
    model.set_class_names(["jump", "run", "wave hands"])
    return model


def _logits_and_grads(model: VideoCLIP, video: torch.Tensor, labels: torch.Tensor):
    model.eval()
    with torch.no_grad():
        logits = model(video)
    model.train()
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(video), labels)
    loss.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return logits, loss.detach(), grads


def _check_against_eager(preset: str, backend: str, frames: int) -> None:
    torch.manual_seed(1)
    video, labels = torch.randn(2, frames, 3, 32, 32), torch.tensor([0, 2])
    eager = _logits_and_grads(_tiny(preset), video, labels)
    compiled_model = _tiny(preset).compile_encoders(backend=backend, fullgraph=True)
    compiled = _logits_and_grads(compiled_model, video, labels)
    # float32 reassociation only: logits are ~x100 cosines, so 1e-4 absolute is a few ulps of them.
    torch.testing.assert_close(compiled[0], eager[0], rtol=1e-5, atol=1e-4)
    assert torch.isfinite(compiled[1]) and compiled[1].item() == pytest.approx(eager[1].item(), abs=1e-5)
    assert compiled[2].keys() == eager[2].keys() and len(eager[2]) > 10
    for name, grad in eager[2].items():
        torch.testing.assert_close(compiled[2][name], grad, rtol=1e-3, atol=1e-5, msg=lambda m: f"{name}: {m}")
    assert list(compiled_model.state_dict()) == list(_tiny(preset).state_dict())  # checkpoints keep their keys


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_compiled_encoders_match_eager_without_graph_breaks(preset):
    torch._dynamo.reset()
    _check_against_eager(preset, "aot_eager", frames=4)


def test_compile_option_validates_and_keeps_the_run_id():
    on = resolve_run_config(["embedded"], ["train.compile=true"])
    off = resolve_run_config(["embedded"])
    assert on.train.compile and not off.train.compile
    assert run_id(on) == run_id(off)  # float reassociation only, like train.device
    with pytest.raises(ConfigError, match=r"^train\.compile: expected true or false, got 'yes please'$"):
        resolve_run_config(["embedded"], ["train.compile=yes please"])
