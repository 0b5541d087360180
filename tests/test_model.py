"""The TC-CLIP model: equivalences that would break if the method were wrong."""

from __future__ import annotations

import copy
import math
import warnings

import open_clip
import pytest
import torch
import torch.nn.functional as F
from open_clip.model import CLIP

from reference_tc import reference_tc_encoder, reference_vp_text
from tcclip.config import config_hash, from_dict
from tcclip.errors import ConfigError, TcclipError
from tcclip.model.backbone import BackboneConfig, build_clip, read_state_dict
from tcclip.model.prompts import PROMPTS, readable_class_name
from tcclip.model.seeds import SEED_SELECTORS
from tcclip.model.summarize import SUMMARIZERS
from tcclip.model.temporal import TEMPORAL
from tcclip.model.video_clip import ModelConfig, VideoCLIP, model_config, preset_names

# 32 px, patch 8 -> 16 patches; widths 64; embed width == text width (VP needs it).
MICRO = dict(
    embed_dim=64,
    quick_gelu=True,
    vision_cfg=dict(image_size=32, layers=2, width=64, head_width=32, patch_size=8),
    text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2),
)
CLASSES = ["brush hair", "ApplyEyeMakeup", "ride a bike"]


def micro_clip(dtype=torch.float32) -> CLIP:
    torch.manual_seed(0)
    return CLIP(**MICRO).to(dtype)


def micro_model(dtype=torch.float32, **overrides) -> VideoCLIP:
    sections: dict = {"backbone": {"weights": None}}
    for dotted, value in overrides.items():
        section, key = dotted.split("__")
        sections.setdefault(section, {})[key] = value
    cfg = model_config("tc_clip", sections)
    model = VideoCLIP(micro_clip(dtype), cfg).to(dtype)
    model.set_class_names(CLASSES)
    return model


def video(b=2, t=4, size=32, dtype=torch.float32):
    return torch.randn(b, t, 3, size, size, generator=torch.Generator().manual_seed(1), dtype=dtype)


# ------------------------------------------------------------------ vision encoder
def test_no_context_no_bias_equals_open_clip_framewise():
    clip = micro_clip()
    clips = video()
    for temporal, k in [("tc", 0), ("frame", 0)]:
        cfg = model_config("tc_clip", {"vision": {"temporal": temporal, "num_context": k, "local_global_bias": False},
                                       "text": {"prompt": "learnable"}})
        model = VideoCLIP(clip, cfg)
        ours = model.encode_video(clips).video
        with torch.no_grad():
            theirs = clip.encode_image(clips.flatten(0, 1)).view(2, 4, -1).mean(1)
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("frames", [3, 4, 8])
def test_tc_encoder_matches_loop_reference_in_float64(frames):
    """The batched encoder equals an independent per-frame / per-head / per-merge loop."""
    model = micro_model(torch.float64, vision__num_context=5, vision__seed_ratio=0.5, vision__merge_step=3)
    with torch.no_grad():
        model.vision.attn_bias.normal_(0, 0.5)  # exercise the local/global bias too
    clips = video(t=frames, dtype=torch.float64)
    with torch.no_grad():
        out = model.encode_video(clips)
        ref_video, ref_context = reference_tc_encoder(model.clip.visual, clips, k=5, alpha=0.5, r=3, bias=model.vision.attn_bias)
    torch.testing.assert_close(out.video, ref_video, rtol=0, atol=1e-12)
    torch.testing.assert_close(out.context, ref_context, rtol=0, atol=1e-12)


def _masked_attention(q, k, v, bias, p):
    """Plain math-path attention with the local/extra bias added to the logits, (F, H, P, hd)."""
    logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    per_key = torch.cat([bias[:, :1].expand(-1, p), bias[:, 1:].expand(-1, k.shape[2] - p)], dim=1)
    return (logits + per_key[None, :, None, :]).softmax(-1) @ v


def test_folded_bias_equals_masked_attention_with_gradients_in_float64():
    """The bias folded into one extra head channel: same outputs and gradients (q, k, v, bias)."""
    from tcclip.model.temporal import _fold_bias

    g = torch.Generator().manual_seed(5)
    f, heads, p, extra, hd = 3, 2, 7, 5, 8
    q, k, v = (torch.randn(f, heads, n, hd, generator=g, dtype=torch.float64, requires_grad=True)
               for n in (p, p + extra, p + extra))
    bias = torch.randn(heads, 2, generator=g, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(f, heads, p, hd, generator=g, dtype=torch.float64)
    scale = 1 / math.sqrt(hd)

    expected = _masked_attention(q, k, v, bias, p)
    grads_expected = torch.autograd.grad((expected * upstream).sum(), (q, k, v, bias))
    folded = F.scaled_dot_product_attention(*_fold_bias(q, k, v, bias, scale), scale=scale)[..., :hd]
    grads_folded = torch.autograd.grad((folded * upstream).sum(), (q, k, v, bias))
    torch.testing.assert_close(folded, expected, rtol=0, atol=1e-12)
    for name, got, want in zip("q k v bias".split(), grads_folded, grads_expected):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12, msg=lambda m, n=name: f"grad {n}: {m}")


def test_context_keys_once_per_video_equal_per_frame_projection_in_float64():
    """The encoder's layer (context projected once per video) == concatenating the context
    to every frame's tokens before projecting (the official order), outputs and [CLS] stats."""
    from tcclip.model.temporal import _attention

    model = micro_model(torch.float64, vision__num_context=5)
    block, encoder = model.clip.visual.transformer.resblocks[1], model.vision
    with torch.no_grad():
        encoder.attn_bias.normal_(0, 0.5)
    b, t, p, d = 2, 4, 17, 64
    g = torch.Generator().manual_seed(6)
    x = torch.randn(b * t, p, d, generator=g, dtype=torch.float64)
    context = torch.randn(b, 5, d, generator=g, dtype=torch.float64)
    ours, ours_stats = encoder._attention_block(block, 1, x, context, b, t)
    per_frame = block.ln_1(context)[:, None].expand(b, t, 5, d).reshape(b * t, 5, d)
    out, stats = _attention(block.attn, block.ln_1(x), per_frame, None, encoder.attn_bias[1], frozenset())
    torch.testing.assert_close(ours, x + out, rtol=0, atol=1e-12)
    torch.testing.assert_close(ours_stats.cls_attn, stats.cls_attn, rtol=0, atol=1e-12)


def test_context_tokens_change_features_and_only_bias_difference_matters():
    model = micro_model(vision__num_context=4)
    clips = video()
    with torch.no_grad():
        tc = model.encode_video(clips).video
        framewise = model.clip.encode_image(clips.flatten(0, 1)).view(2, 4, -1).mean(1)
        assert not torch.allclose(tc, framewise, atol=1e-4)
        model.vision.attn_bias.normal_()
        before = model.encode_video(clips).video
        model.vision.attn_bias.add_(3.0)  # same shift for local and global keys: softmax unchanged
        after = model.encode_video(clips).video
    torch.testing.assert_close(before, after, rtol=1e-5, atol=1e-5)


def test_local_global_bias_starts_from_a_seeded_truncated_normal():
    """As the official table: trunc_normal_(std=0.02) (bounds +-2, timm's), from torch's global RNG."""
    from tcclip.model.temporal import TemporalVisionEncoder, VisionConfig

    visual = micro_clip().visual
    torch.manual_seed(3)
    bias = TemporalVisionEncoder(visual, VisionConfig(num_context=4)).attn_bias.detach()
    torch.manual_seed(3)
    expected = torch.nn.init.trunc_normal_(torch.empty(2, 2, 2), std=0.02, a=-2.0, b=2.0)
    assert torch.equal(bias, expected) and (bias != 0).all()
    torch.manual_seed(4)
    assert not torch.equal(TemporalVisionEncoder(visual, VisionConfig(num_context=4)).attn_bias.detach(), bias)


def test_context_is_per_video_and_frames_interact():
    """A change in one frame reaches the other frames' features only through temporal keys."""
    clips = video(b=1, t=3)
    changed = clips.clone()
    changed[0, 2] += 1.0
    for temporal, expect_change in [("frame", False), ("tc", True), ("cross_frame", True), ("window", True), ("joint", True)]:
        model = micro_model(vision__temporal=temporal, vision__num_context=4 if temporal == "tc" else 0,
                            text__prompt="learnable")
        with torch.no_grad():
            a = model.encode_video(clips).frames[0, 0]
            b = model.encode_video(changed).frames[0, 0]
        assert (not torch.allclose(a, b, atol=1e-6)) == expect_change, temporal


def test_window_sees_only_neighbours():
    model = micro_model(vision__temporal="window", vision__num_context=0, text__prompt="learnable")
    clips = video(b=1, t=4)
    far = clips.clone()
    far[0, 3] += 1.0  # frame 3 is two away from frame 1: invisible in one layer, but two layers relay it
    model_one_layer = copy.deepcopy(model)
    del model_one_layer.clip.visual.transformer.resblocks[1]
    with torch.no_grad():
        a = model_one_layer.encode_video(clips).frames[0, 1]
        b = model_one_layer.encode_video(far).frames[0, 1]
    torch.testing.assert_close(a, b)


def test_trace_names_patches_of_each_context_token():
    model = micro_model(vision__num_context=3, vision__seed_ratio=0.25)
    out = model.encode_video(video(b=1, t=2), trace=True)
    assert len(out.trace) == 2
    for record in out.trace:
        assert record["patch_index"].shape == (1, 2, 4)
        assert int(record["patch_index"].max()) < 16
        assert sorted(record["assignment"].unique().tolist()) == [0, 1, 2]


# ------------------------------------------------------------------ text side
@pytest.mark.parametrize("vp_block", [-1, 0])  # last block at [EOT] only / general path
def test_vp_batched_equals_per_video_loop(vp_block):
    model = micro_model(torch.float64, vision__num_context=4, text__vp_block=vp_block)
    clips = video(dtype=torch.float64)
    with torch.no_grad():
        vision = model.encode_video(clips)
        ours = model.encode_text(vision)
        ref = reference_vp_text(model.clip, model.text, model.class_tokens, vision.context)
    assert ours.shape == (2, len(CLASSES), 64)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)


def test_vp_changes_only_prompt_positions():
    """The input of the block after VP differs from the no-VP input at positions 1..n_ctx only."""
    model = micro_model(torch.float64, vision__num_context=4, text__vp_block=0)
    with torch.no_grad():
        vision = model.encode_video(video(dtype=torch.float64))
    seen = []
    first = model.clip.transformer.resblocks[0]
    handle = first.register_forward_pre_hook(lambda mod, args, kwargs: seen.append(args[0]), with_kwargs=True)
    with torch.no_grad():
        model.encode_text(vision)
        learnable = PROMPTS.get("learnable")(model.clip, model.cfg.text).to(torch.float64)
        learnable.ctx.data.copy_(model.text.ctx.data)
        learnable(model.clip, model.class_tokens)
    handle.remove()
    with_vp = seen[0].view(2, len(CLASSES), 30, 64)
    without = seen[1]
    differs = (with_vp - without[None]).abs().amax(dim=(0, 1, 3)) > 1e-12
    assert differs[1:5].all() and not differs[0] and not differs[5:].any()


def test_vp_gradient_stops_at_visual_tokens():
    model = micro_model(vision__num_context=4)
    vision = model.encode_video(video())
    model.encode_text(vision).sum().backward()
    assert model.text.vp.attn.in_proj_weight.grad is not None
    assert model.vision.attn_bias.grad is None  # text loss alone does not reach the vision side
    assert model.clip.visual.conv1.weight.grad is None


def test_prompt_tokens_and_class_names():
    assert readable_class_name("ApplyEyeMakeup") == "Apply Eye Makeup"
    assert readable_class_name("YoYo") == "Yo Yo"
    assert readable_class_name("brush_hair") == "brush hair"
    model = micro_model()
    text = open_clip.decode(model.class_tokens[1])
    assert "x x x x apply eye makeup ." in text
    assert model.class_tokens.shape == (3, 30)
    model.set_class_names(["a", "b"])  # zero-shot: swap the label set
    assert model(video()).shape == (2, 2)


def test_learnable_prompt_starts_as_a_photo_of_a():
    clip = micro_clip()
    model = VideoCLIP(clip, model_config("tc_clip", {"text": {"prompt": "learnable"}}))
    model.set_class_names(CLASSES)
    handcrafted = VideoCLIP(clip, model_config("vifi_clip"))
    handcrafted.set_class_names(CLASSES)
    with torch.no_grad():
        torch.testing.assert_close(model.encode_text(), handcrafted.encode_text(), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ every variant
VARIANTS = (
    [("vision", "seed_selection", n) for n in SEED_SELECTORS.names()]
    + [("vision", "summarization", n) for n in SUMMARIZERS.names()]
    + [("vision", "temporal", n) for n in TEMPORAL.names()]
    + [("text", "prompt", n) for n in PROMPTS.names()]
)


@pytest.mark.parametrize("section,key,name", VARIANTS)
def test_every_variant_runs_forward_and_backward(section, key, name):
    overrides = {f"{section}__{key}": name, "vision__num_context": 5}
    if section == "vision" and key == "temporal" and name != "tc":
        overrides["text__prompt"] = "vp_frames"
    model = micro_model(**overrides)
    logits = model(video(t=3))
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    logits.logsumexp(-1).sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert model.clip.visual.conv1.weight.grad.abs().sum() > 0


def test_token_embedding_is_frozen_unless_asked():
    """The official prompt learner keeps the embedded prompts as buffers: CLIP's token table never trains."""
    from tcclip.engine.optim import parameter_groups

    model = micro_model(text__prompt="learnable")
    assert not model.clip.token_embedding.weight.requires_grad
    assert model.text.ctx.requires_grad and model.clip.text_projection.requires_grad
    grouped = {name for group in parameter_groups(model, 1e-3, 1e-3, 10.0) for name in group["names"]}
    assert "clip.token_embedding.weight" not in grouped and "text.ctx" in grouped
    model(video()).logsumexp(-1).sum().backward()
    assert model.clip.token_embedding.weight.grad is None and model.text.ctx.grad is not None
    trained = micro_model(text__prompt="learnable", text__train_token_embedding=True)
    assert trained.clip.token_embedding.weight.requires_grad


def test_runs_in_float64():
    model = micro_model(torch.float64, vision__num_context=4)
    assert model(video(dtype=torch.float64)).dtype == torch.float64


# ------------------------------------------------------------------ configs and weights
def test_config_rejects_unknown_keys_and_names():
    with pytest.raises(ConfigError, match="unknown key 'model.vision.num_contxt'.*num_context"):
        model_config("tc_clip", {"vision": {"num_contxt": 3}})
    with pytest.raises(ConfigError, match="unknown summarization 'tome'.*bipartite"):
        model_config("tc_clip", {"vision": {"summarization": "tome"}})
    with pytest.raises(ConfigError, match="model.vision.num_context: expected an integer"):
        model_config("tc_clip", {"vision": {"num_context": "many"}})
    with pytest.raises(ConfigError, match="needs model.vision.temporal=tc"):
        model_config("vifi_clip", {"text": {"prompt": "vp_context"}})


def test_presets_and_paper_defaults():
    assert set(preset_names()) >= {"tc_clip", "vifi_clip", "vanilla_clip"}
    cfg = model_config("tc_clip")
    assert (cfg.vision.num_context, cfg.vision.seed_ratio, cfg.vision.merge_step) == (96, 0.3, 100)
    assert (cfg.text.n_ctx, cfg.text.context_length, cfg.backbone.arch) == (4, 30, "ViT-B-16-quickgelu")
    assert config_hash(cfg) == config_hash(model_config("tc_clip"))
    assert config_hash(cfg) != config_hash(model_config("tc_clip", {"vision": {"num_context": 95}}))
    assert from_dict(ModelConfig, {}) == ModelConfig()


def test_state_dict_file_roundtrip_reproduces_outputs(tmp_path):
    source = build_clip(BackboneConfig(arch="tiny-clip-p8", fp16_round=True))
    path = tmp_path / "tiny.pt"
    torch.save({"state_dict": source.state_dict()}, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a plain state dict never goes through torch.jit.load (deprecated)
        read_state_dict(path)
    loaded = build_clip(BackboneConfig(arch="tiny-clip-p8", weights=str(path)))
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_image(images), source.encode_image(images))


def test_torchscript_archive_like_openai_release(tmp_path):
    """OpenAI ships a traced TorchScript CLIP whose parameters carry CLIP's own names."""
    source = build_clip(BackboneConfig(arch="tiny-clip-p8"))
    images = torch.randn(2, 3, 64, 64)
    traced = torch.jit.trace_module(source, {"encode_image": images})
    path = tmp_path / "ViT-tiny.pt"
    torch.jit.save(traced, str(path))
    assert set(read_state_dict(path)) >= set(source.state_dict())  # plus buffers such as attn_mask
    loaded = build_clip(BackboneConfig(arch="tiny-clip-p8", weights=str(path)))
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_image(images), source.encode_image(images))


def test_weights_of_another_architecture_are_rejected(tmp_path):
    path = tmp_path / "micro.pt"
    torch.save(micro_clip().state_dict(), path)
    with pytest.raises(TcclipError, match=r"does not fit architecture 'tiny-clip-p8'.*shape mismatch"):
        build_clip(BackboneConfig(arch="tiny-clip-p8", weights=str(path)))
    with pytest.raises(TcclipError, match="file not found"):
        build_clip(BackboneConfig(arch="tiny-clip-p8", weights=str(tmp_path / "nope.pt")))
    (tmp_path / "junk.pt").write_text("not weights")
    with pytest.raises(TcclipError, match="neither a TorchScript archive nor a state dict"):
        build_clip(BackboneConfig(arch="tiny-clip-p8", weights=str(tmp_path / "junk.pt")))


@pytest.mark.slow
def test_vit_b16_geometry_runs_on_cpu():
    """ViT-B/16 shapes (random weights): 2 frames of 224 px, k=96, the full TC-CLIP."""
    cfg = model_config("tc_clip", {"backbone": {"fp16_round": False}})
    model = VideoCLIP.build(cfg).eval()
    model.set_class_names(["abseiling", "air drumming"])
    assert model.vision.num_patches == 196 and model.vision.num_seeds == 58
    with torch.no_grad():
        out = model.encode_video(torch.randn(1, 2, 3, 224, 224))
        logits = model(torch.randn(1, 2, 3, 224, 224))
    assert out.context.shape == (1, 96, 512) and out.video.shape == (1, 512)
    assert logits.shape == (1, 2) and torch.isfinite(logits).all()


@pytest.mark.slow
def test_trainable_parameter_counts_match_the_papers():
    """ViT-B/16 (random weights): ViFi-CLIP trains 124.3 M parameters, TC-CLIP 127.5 M, as printed.

    Convention, from what the official model holds: every parameter of it trains
    (``freeze: null``); it holds CLIP's image encoder, the text transformer, the whole
    positional embedding (77 rows, though 30 are read), ln_final, the text projection and
    logit_scale, plus for TC-CLIP the 4 prompt vectors, the VP block and the local/global
    bias; it does not hold the token embedding table (the prompts are embedded once into
    buffers). So: CLIP ViT-B/16's 149,620,737 minus the 25,296,896 of the token table.
    TC-CLIP adds the VP block (3,153,408), the prompt vectors (4 x 512) and the bias table;
    ours has a row for every layer (12 x 12 heads x 2 = 288), the official one none for the
    first (264): 24 more parameters, never read by ``tc``, the same 127.5 M.
    """
    clip = build_clip(BackboneConfig(weights=None, fp16_round=False))
    counts = {}
    for preset in ("vifi_clip", "tc_clip"):
        model = VideoCLIP(clip, model_config(preset, {"backbone": {"weights": None, "fp16_round": False}}))
        counts[preset] = sum(p.numel() for p in model.parameters() if p.requires_grad)
        assert sum(p.numel() for p in model.clip.parameters()) == 149_620_737
    assert counts["vifi_clip"] == 149_620_737 - 25_296_896 == 124_323_841
    assert counts["tc_clip"] == 124_323_841 + 3_153_408 + 4 * 512 + 12 * 12 * 2 == 127_479_585
    assert (round(counts["vifi_clip"] / 1e6, 1), round(counts["tc_clip"] / 1e6, 1)) == (124.3, 127.5)


def test_check_weights_command(tmp_path, capsys):
    from tcclip.cli import main

    path = tmp_path / "tiny.pt"
    torch.save(build_clip(BackboneConfig(arch="tiny-clip-p8")).state_dict(), path)
    assert main(["check-weights", "--arch", "tiny-clip-p8", "--weights", str(path)]) == 0
    assert "fits tiny-clip-p8" in capsys.readouterr().out
    assert main(["check-weights", "--arch", "ViT-B-16-quickgelu", "--weights", str(path)]) == 2
    assert "does not fit architecture 'ViT-B-16-quickgelu'" in capsys.readouterr().err


def test_choices_and_logits_are_computed_in_float32_under_bf16_autocast():
    """Under bf16 autocast the x100 class logits, the [CLS] scores that pick seeds and the merge
    similarities came from bf16 products (8-bit mantissa: near-equal values tie). They are float32
    now (issue #16 item 4), and in a float32 run nothing changes."""
    from tcclip.model.summarize import _merge_step
    from tcclip.model.temporal import _masked_logits

    model, clips = micro_model().eval(), video()
    with torch.no_grad():
        exact = model(clips)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert model.encode_video(clips).video.dtype == torch.bfloat16  # the encoders do run in bf16
            logits = model(clips)
        assert logits.dtype == torch.float32
        torch.testing.assert_close(logits, exact, atol=1.0, rtol=0)  # bf16 encoders, fp32 logits
        q, k = torch.randn(2, 2, 1, 8, dtype=torch.bfloat16), torch.randn(2, 2, 5, 8, dtype=torch.bfloat16)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            scores = _masked_logits(q, k, None, 0.5)
        assert scores.dtype == torch.float32
        assert torch.equal(scores, (q.float() @ k.float().transpose(-1, -2)) * 0.5)
        # A token 0's similarities to B tokens 1 and 3 differ below bf16's resolution (1 - 2e-6 and
        # 1 - 5e-7): in bf16 both are 1.0 and the first, token 1, would win the tie
        x = torch.tensor([[[1.0, 0.0, 0.0], [1.0, 2e-3, 0.0], [0.0, 1.0, 0.0], [1.0, 1e-3, 0.0]]])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            _, _, moved = _merge_step(x, torch.ones(1, 4), 1)
        assert moved[0, 0] == moved[0, 3] and moved[0, 0] != moved[0, 1]


@pytest.mark.parametrize("preset", ["vifi_clip", "tc_clip"])
def test_classify_against_several_class_lists_equals_one_forward_per_list(preset):
    """Evaluation encodes a batch once and classifies it against each class list of the
    eval sets sharing its videos (K-600's subsets): the same logits as a forward per list."""
    model = VideoCLIP(micro_clip(), model_config(preset, {"backbone": {"weights": None}})).eval()
    lists = [["jump", "run", "swim"], ["run", "dive"], ["jump", "run", "swim"]]
    clip = video()
    with torch.no_grad():
        vision = model.encode_video(clip)
        together = []
        for names in lists:
            model.set_class_names(names)
            together.append(model.classify(vision))
        for names, logits in zip(lists, together):
            model.set_class_names(names)
            torch.testing.assert_close(logits, model(clip), rtol=0, atol=0)


def test_cached_class_embeddings_follow_the_weights():
    """Class embeddings cached in evaluation (per class list) are dropped when weights are
    loaded or training resumes: a WiSE-FT copy never scores with another model's text."""
    model = VideoCLIP(micro_clip(), model_config("vifi_clip", {"backbone": {"weights": None}})).eval()
    other = VideoCLIP(micro_clip(), model_config("vifi_clip", {"backbone": {"weights": None}}))
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.set_class_names(["jump", "run"])
    with torch.no_grad():
        before = model.encode_text()
        model.load_state_dict(other.state_dict())
        after = model.encode_text()
    other.eval().set_class_names(["jump", "run"])
    with torch.no_grad():
        torch.testing.assert_close(after, other.encode_text())
    assert not torch.equal(before, after)
