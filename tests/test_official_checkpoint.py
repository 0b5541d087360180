"""The authors' checkpoint layouts (TC-CLIP, ViFi-CLIP): a file in their key layout, made from a
model of ours, loads back to the same logits; anything unmappable is refused in one line."""

from __future__ import annotations

import sys

import pytest
import torch

from data_fixtures import synth_tiny  # noqa: F401
from test_model import CLASSES, micro_clip, micro_model, video
from tcclip.errors import TcclipError
from tcclip.model.official_checkpoint import detect_layout, export_official, load_released, read_checkpoint
from tcclip.model.video_clip import VideoCLIP, model_config


def trained(model: VideoCLIP) -> VideoCLIP:
    """Every parameter moved off its initial value (as training would), the frozen token embedding
    excepted; bias row 0 too, which TC attention never reads."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name != "clip.token_embedding.weight":
                param.add_(torch.randn_like(param) * 0.05)
    return model


def fresh(preset: str = "tc_clip", **overrides) -> VideoCLIP:
    """A model of the same configuration with its own initialisation (CLIP: the same backbone)."""
    torch.manual_seed(123)
    model = VideoCLIP(micro_clip(), model_config(preset, {"backbone": {"weights": None}, **overrides}))
    model.set_class_names(CLASSES)
    return model


def save_official(tmp_path, model, layout="tc_clip", edit=None, **kwargs):
    checkpoint = export_official(model, layout, **kwargs)
    checkpoint.update(optimizer={"state": {}, "param_groups": []}, lr_scheduler={}, max_accuracy=0.0)
    if edit is not None:
        edit(checkpoint["model"])
    path = tmp_path / "best.pth"
    torch.save(checkpoint, path)
    return path


def logits(model: VideoCLIP) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(video(t=3))


def test_tc_clip_layout_round_trip_gives_the_same_logits(tmp_path):
    ours = trained(micro_model(vision__num_context=5, vision__seed_ratio=0.5, vision__merge_step=3))
    path = save_official(tmp_path, ours)
    keys = list(torch.load(path, weights_only=True)["model"])
    assert all(k.startswith("module.") for k in keys)
    assert "module.prompt_learner.token_prefix" in keys and "module.prompt_learner.token_suffix" in keys
    assert "module.image_encoder.transformer.resblocks.0.attn.q_proj.weight" in keys
    assert "module.image_encoder.transformer.resblocks.1.attn.local_global_bias_table" in keys
    assert "module.image_encoder.transformer.resblocks.0.attn.local_global_bias_table" not in keys
    assert "module.text_encoder.prompt_generation_layer.0.ln_1_kv.weight" in keys
    assert not any("token_embedding" in k for k in keys)

    loaded = fresh(vision={"num_context": 5, "seed_ratio": 0.5, "merge_step": 3})
    before = logits(loaded)
    assert load_released(loaded, path) == "tc_clip"
    after = logits(loaded)
    assert not torch.equal(before, after)
    assert torch.equal(after, logits(ours))
    mine, theirs = ours.state_dict(), loaded.state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine if k != "vision.attn_bias")
    assert torch.equal(theirs["vision.attn_bias"][1:], mine["vision.attn_bias"][1:])
    assert not theirs["vision.attn_bias"][0].any()  # no official counterpart: 0, never read


def test_vifi_clip_layout_round_trip(tmp_path):
    ours = trained(fresh("vifi_clip"))
    path = save_official(tmp_path, ours, "vifi_clip", module_prefix=False)
    state = read_checkpoint(path)
    assert detect_layout(state) == "vifi_clip"
    assert "prompt_learner.complete_text_embeddings" in state
    assert "image_encoder.transformer.resblocks.0.attn.in_proj_weight" in state
    torch.manual_seed(7)
    loaded = VideoCLIP(micro_clip(), ours.cfg)
    loaded.set_class_names(CLASSES)
    assert load_released(loaded, path) == "vifi_clip"
    assert torch.equal(logits(loaded), logits(ours))


def test_a_pickled_config_of_an_absent_package_is_not_needed(tmp_path, monkeypatch):
    """The official files pickle their OmegaConf / yacs config: read without that package, no code of it run."""
    (tmp_path / "their_config.py").write_text(
        "import enum\nclass Mode(enum.Enum):\n    A = 1\n"
        "class Config:\n    def __init__(self):\n        self.mode = Mode.A\n        self.n_ctx = 4\n"
        "class Node(dict):\n    pass\n")  # yacs' CfgNode is a dict
    monkeypatch.syspath_prepend(str(tmp_path))
    import their_config

    ours = trained(micro_model(vision__num_context=5, vision__seed_ratio=0.5, vision__merge_step=3))
    checkpoint = export_official(ours)
    checkpoint["config"] = their_config.Config()
    checkpoint["yacs_like"] = their_config.Node(TRAINER=their_config.Node(N_CTX=4), LIST=[1, 2])
    torch.save(checkpoint, tmp_path / "ckpt.pth")
    monkeypatch.delitem(sys.modules, "their_config")
    (tmp_path / "their_config.py").unlink()
    loaded = fresh(vision={"num_context": 5, "seed_ratio": 0.5, "merge_step": 3})
    load_released(loaded, tmp_path / "ckpt.pth")
    assert torch.equal(logits(loaded), logits(ours))


def _refusal(tmp_path, edit, preset="tc_clip", layout="tc_clip", **overrides) -> str:
    source = micro_model() if preset == "tc_clip" else fresh(preset)
    path = save_official(tmp_path, source, layout, edit=edit)
    with pytest.raises(TcclipError) as err:
        load_released(fresh(preset, **overrides), path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


def test_unknown_key_is_refused_by_name(tmp_path):
    def add_visual_prompts(state):
        state["module.image_encoder.VPT"] = torch.zeros(8, 64)
    assert "cannot map key 'image_encoder.VPT'" in _refusal(tmp_path, add_visual_prompts)

    def add_second_vp_layer(state):
        state["module.text_encoder.prompt_generation_layer.1.ln_1.weight"] = torch.ones(64)
    assert "'text_encoder.prompt_generation_layer.1.ln_1.weight'" in _refusal(tmp_path, add_second_vp_layer)


def test_first_unmapped_key_is_the_one_named(tmp_path):
    """Of several unmappable keys, the first in the file's order is named."""
    def extra(state):
        state["module.aaa_first"] = torch.zeros(1)
        state["module.zzz_second"] = torch.zeros(1)
    message = _refusal(tmp_path, extra)
    assert "'aaa_first'" in message and "zzz_second" not in message


def test_shape_mismatch_is_refused(tmp_path):
    def joint_positional_embedding(state):  # the official joint space-time variant: (T, N+1, D)
        key = "module.image_encoder.positional_embedding"
        state[key] = state[key][None].repeat(3, 1, 1)
    message = _refusal(tmp_path, joint_positional_embedding)
    assert "shape mismatch at 'image_encoder.positional_embedding'" in message and "(3, 17, 64)" in message


def test_missing_keys_are_refused(tmp_path):
    def drop(key):
        return lambda state: state.pop(key)
    message = _refusal(tmp_path, drop("module.text_encoder.ln_final.weight"))
    assert "missing key" in message and "clip.ln_final.weight" in message
    message = _refusal(tmp_path, drop("module.image_encoder.transformer.resblocks.1.attn.v_proj.bias"))
    assert "missing key 'image_encoder.transformer.resblocks.1.attn.v_proj.bias'" in message
    message = _refusal(tmp_path, drop("module.image_encoder.transformer.resblocks.1.attn.local_global_bias_table"))
    assert "local_global_bias_table" in message and "local_global_bias=false" in message


def test_a_file_of_another_variant_is_refused(tmp_path):
    message = _refusal(tmp_path, None, preset="vifi_clip", layout="vifi_clip", text={"prompt": "vp_context"},
                       vision={"temporal": "tc", "num_context": 5})
    assert "missing key" in message
    message = _refusal(tmp_path, None, text={"prompt": "learnable"})  # the file has VP, the model not
    assert "cannot map key 'text_encoder.prompt_generation_layer.0." in message


def test_our_own_checkpoint_loads_and_garbage_is_refused(tmp_path):
    ours = trained(micro_model())
    torch.save({"model": ours.state_dict(), "epoch": 3}, tmp_path / "last.pt")
    loaded = fresh()
    assert load_released(loaded, tmp_path / "last.pt") == "tcclip"
    assert torch.equal(logits(loaded), logits(ours))
    torch.save({"model": {"encoder.weight": torch.zeros(2)}}, tmp_path / "other.pt")
    with pytest.raises(TcclipError, match="not a TC-CLIP, ViFi-CLIP or tcclip checkpoint.*'encoder.weight'"):
        load_released(loaded, tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(TcclipError, match="cannot be read"):
        load_released(loaded, tmp_path / "text.pt")


def test_model_load_from_applies_at_build(tmp_path):
    """``model.load_from`` in the config: VideoCLIP.build loads the file over the built model."""
    overrides = {"backbone": {"arch": "tiny-clip-p16", "weights": None},
                 "vision": {"num_context": 4, "seed_ratio": 0.3, "merge_step": 3}}
    torch.manual_seed(5)
    ours = trained(VideoCLIP.build(model_config("tc_clip", overrides)))
    path = save_official(tmp_path, ours)
    torch.manual_seed(5)  # same random backbone: the token embedding the file lacks
    loaded = VideoCLIP.build(model_config("tc_clip", {**overrides, "load_from": str(path)}))
    for model in (ours, loaded):
        model.set_class_names(CLASSES)
        model.eval()
    clips = torch.randn(1, 2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(loaded(clips), ours(clips))


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def test_code_named_in_a_file_is_never_run(tmp_path):
    """Reading a downloaded file resolves only tensors and plain containers: a pickled call is inert."""
    ours = micro_model()
    checkpoint = export_official(ours)
    checkpoint["config"] = _Payload(tmp_path / "ran")
    torch.save(checkpoint, tmp_path / "ckpt.pth")
    load_released(fresh(), tmp_path / "ckpt.pth")
    assert not (tmp_path / "ran").exists()


@pytest.mark.slow
def test_evaluate_scores_a_released_file_without_training(synth_tiny, tmp_path, monkeypatch):
    """`tcclip evaluate ... train.epochs=0 model.load_from=FILE`: a file in the official layout, made
    from a trained run, scores as that run does (and WiSE-FT 1.0 is the file's weights)."""
    import json

    from data_fixtures import fast_run_args, only_run
    from tcclip.cli import main
    from tcclip.engine.checkpoint import load_checkpoint
    from tcclip.engine.run_config import load_resolved

    monkeypatch.setenv("TCCLIP_THREADS", "1")
    catalog = synth_tiny / "catalog.yaml"
    assert main(["train", *fast_run_args(catalog, tmp_path / "trained", "train.epochs=1")]) == 0
    assert main(["evaluate", str(only_run(tmp_path / "trained"))]) == 0
    run = only_run(tmp_path / "trained")
    model = VideoCLIP.build(load_resolved(run / "config.yaml").model)
    model.load_state_dict(load_checkpoint(run / "checkpoints/last.pt")["model"])
    torch.save(export_official(model, "vifi_clip"), tmp_path / "released.pth")

    args = fast_run_args(catalog, tmp_path / "released", "train.epochs=0", f"model.load_from={tmp_path / 'released.pth'}")
    assert main(["evaluate", *args, "--wiseft", "1.0"]) == 0
    released = only_run(tmp_path / "released")
    trained_rows = json.loads((run / "metrics.json").read_text())["results"]
    for name in ("metrics.json", "metrics_wiseft1.json"):
        metrics = json.loads((released / name).read_text())
        assert metrics["weights"]["checkpoint"] == str(tmp_path / "released.pth")
        assert [(r["key"], r["top1"], r["top5"]) for r in metrics["results"]] == \
            [(r["key"], r["top1"], r["top5"]) for r in trained_rows]
