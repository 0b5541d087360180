"""The video encoder: open_clip's ViT applied to T frames, with temporal modelling.

Every variant runs the same per-layer loop over open_clip's own block parameters
(read by name: ``ln_1``, ``attn.in_proj_*``, ``attn.out_proj``, ``ln_2``, ``mlp``):
each frame's tokens are the queries; keys/values are the frame's own tokens plus
*extra* tokens that the temporal variant chooses:

- ``frame``       none (ViFi-CLIP's frame-wise baseline)
- ``cross_frame`` the [CLS] tokens of the other frames
- ``window``      the patch tokens of the neighbouring frames t-1 and t+1
- ``joint``       all tokens of the other frames (joint space-time attention)
- ``tc``          the k context tokens that the previous layer summarised (TC-CLIP)

For ``tc`` each layer also builds the context tokens of the next one: seed tokens are
picked per frame from this layer's [CLS] attention (tcclip.model.seeds), the T*n_s seeds
of a video are summarised into k tokens (tcclip.model.summarize), and those go through
the block's ln_2 + MLP together with the frame tokens.

The class holds only the parameters TC-CLIP adds (the local/global attention bias); the
CLIP weights stay in the open_clip model, passed to ``forward``, so that weight-space
ensembling can match parameters to CLIP by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from tcclip.errors import ConfigError
from tcclip.model.seeds import SEED_SELECTORS, AttentionStats, num_seeds, patch_saliency_scores
from tcclip.model.summarize import SUMMARIZERS, SeedSet
from tcclip.registry import Registry


BIAS_INIT_STD = 0.02  # the official local/global bias table's trunc_normal_ std


@dataclass
class VisionConfig:
    temporal: str = "tc"
    """Extra keys/values of each frame: frame | cross_frame | window | joint | tc."""
    num_context: int = 96
    """k, context tokens per video (tc only)."""
    seed_ratio: float = 0.3
    """alpha: n_s = floor(alpha * N) seed tokens per frame (tc only)."""
    merge_step: int = 100
    """r, tokens merged per bipartite step."""
    seed_selection: str = "cls_avg"
    summarization: str = "bipartite"
    local_global_bias: bool = True
    """Learnable per-head logit bias for local vs extra keys."""

    def validate(self) -> None:
        TEMPORAL.get(self.temporal)
        SEED_SELECTORS.get(self.seed_selection)
        SUMMARIZERS.get(self.summarization)
        if self.num_context < 0:
            raise ConfigError(f"model.vision.num_context: must be >= 0, got {self.num_context}")
        if not 0.0 < self.seed_ratio <= 1.0:
            raise ConfigError(f"model.vision.seed_ratio: must be in (0, 1], got {self.seed_ratio}")
        if self.merge_step < 1:
            raise ConfigError(f"model.vision.merge_step: must be >= 1, got {self.merge_step}")


@dataclass
class VisionOutput:
    video: torch.Tensor
    """(B, E) video feature: mean over frames of the projected final [CLS]."""
    frames: torch.Tensor
    """(B, T, E) projected final [CLS] of each frame."""
    context: torch.Tensor | None
    """(B, k, E) last layer's context tokens after ln_post and proj (tc only)."""
    trace: list[dict] = field(default_factory=list)
    """Per layer: which patches formed each context token (when asked for)."""


# ---------------------------------------------------------------- extra keys per variant
# fn(h, context, layer) -> (extra (B*T, E, D) or None, key mask (B*T, E) bool or None)
# h: ln_1 of the frame tokens, (B, T, P, D) with P = N + 1; context: ln_1 of the previous
# layer's context tokens (B, k, D) or None.
ExtraKeys = Callable[[torch.Tensor, "torch.Tensor | None"], "tuple[torch.Tensor | None, torch.Tensor | None]"]
TEMPORAL: Registry[ExtraKeys] = Registry("temporal modelling")


def _others(x: torch.Tensor) -> torch.Tensor:
    """(B, T, ...) -> (B, T, T-1, ...): for each frame, the same entries of the other frames."""
    t = x.shape[1]
    index = torch.tensor([[j for j in range(t) if j != i] for i in range(t)], device=x.device, dtype=torch.long)
    return x[:, index.reshape(-1)].reshape(x.shape[0], t, t - 1, *x.shape[2:])


@TEMPORAL.register("frame")
def frame_wise(h, context):
    """No temporal keys: each frame is encoded on its own (ViFi-CLIP, CVPR 2023)."""
    return None, None


@TEMPORAL.register("tc")
def temporal_context(h, context):
    """The video's k context tokens join every frame's keys (TC-CLIP, ECCV 2024)."""
    if context is None or context.shape[1] == 0:
        return None, None
    b, t = h.shape[:2]
    return context[:, None].expand(b, t, *context.shape[1:]).reshape(b * t, *context.shape[1:]), None


@TEMPORAL.register("cross_frame")
def cross_frame(h, context):
    """The [CLS] tokens of the other frames (X-CLIP / Vita-CLIP style); the own [CLS] is already a local key."""
    b, t, _, d = h.shape
    if t == 1:
        return None, None
    return _others(h[:, :, 0]).reshape(b * t, t - 1, d), None


@TEMPORAL.register("window")
def temporal_window(h, context):
    """The patch tokens of frames t-1 and t+1 (Open-VCLIP style); missing neighbours are masked out."""
    b, t, p, d = h.shape
    patches = h[:, :, 1:]
    pad = torch.zeros_like(patches[:, :1])
    previous = torch.cat([pad, patches[:, :-1]], dim=1)
    following = torch.cat([patches[:, 1:], pad], dim=1)
    extra = torch.cat([previous, following], dim=2).reshape(b * t, 2 * (p - 1), d)
    frame = torch.arange(t, device=h.device)
    valid = torch.stack([frame > 0, frame < t - 1], dim=1)  # (T, 2)
    mask = valid[:, :, None].expand(t, 2, p - 1).reshape(1, t, 2 * (p - 1)).expand(b, t, -1)
    return extra, mask.reshape(b * t, -1)


@TEMPORAL.register("joint")
def joint_space_time(h, context):
    """All tokens of the other frames: with the own tokens, joint space-time attention (TimeSformer)."""
    b, t, p, d = h.shape
    if t == 1:
        return None, None
    return _others(h).reshape(b * t, (t - 1) * p, d), None


# ---------------------------------------------------------------- attention
def _attention(
    attn: nn.MultiheadAttention,
    h: torch.Tensor,
    extra: torch.Tensor | None,
    extra_mask: torch.Tensor | None,
    bias: torch.Tensor | None,
    needs: frozenset[str] | None,
) -> tuple[torch.Tensor, AttentionStats | None]:
    """Multi-head attention of frame tokens h (F, P, D) over [h ; extra] with open_clip's weights.

    bias: (H, 2) logits added to local keys ([:, 0]) and extra keys ([:, 1]).
    Returns the attention output (F, P, D) and, when ``needs`` is not None, the
    statistics seed selection reads ([CLS] probabilities over the patch keys, ...).
    """
    f, p, d = h.shape
    q, k, v = _project_qkv(attn, h, extra)
    logit_bias = _logit_bias(bias, extra_mask, f, p, k.shape[2], q.dtype) if extra is not None else None
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=logit_bias)
    out = attn.out_proj(out.transpose(1, 2).reshape(f, p, d))
    if needs is None:
        return out, None
    return out, _attention_stats(q, k, v, logit_bias, needs)


def _project_qkv(attn: nn.MultiheadAttention, h: torch.Tensor, extra: torch.Tensor | None):
    """Queries from the frame's own tokens; keys and values from [h ; extra]. Each (F, H, len, D/H)."""
    f, p, d = h.shape
    heads = attn.num_heads
    w_q, w_k, w_v = attn.in_proj_weight.chunk(3)
    b_q, b_k, b_v = attn.in_proj_bias.chunk(3)
    keys_in = h if extra is None else torch.cat([h, extra], dim=1)
    q = F.linear(h, w_q, b_q).view(f, p, heads, d // heads).transpose(1, 2)
    k = F.linear(keys_in, w_k, b_k).view(f, -1, heads, d // heads).transpose(1, 2)
    v = F.linear(keys_in, w_v, b_v).view(f, -1, heads, d // heads).transpose(1, 2)
    return q, k, v


def _logit_bias(bias, extra_mask, f: int, p: int, n_keys: int, dtype) -> torch.Tensor | None:
    """What is added to q.k/sqrt(d) before the softmax, (F or 1, H, 1, n_keys), or None.

    bias (H, 2): the learnable local / extra offsets of each head; extra_mask (F, E) bool:
    extra keys that exist (window's missing neighbours are -inf)."""
    if bias is None and extra_mask is None:
        return None
    heads = bias.shape[0] if bias is not None else 1
    logit_bias = torch.zeros(1, heads, 1, n_keys, dtype=dtype, device=(bias if bias is not None else extra_mask).device)
    if bias is not None:
        per_key = torch.cat([bias[:, 0:1].expand(heads, p), bias[:, 1:2].expand(heads, n_keys - p)], dim=1)
        logit_bias = logit_bias + per_key[None, :, None, :].to(dtype)
    if extra_mask is not None:
        blocked = torch.cat([extra_mask.new_ones(f, p), extra_mask], dim=1).logical_not()
        logit_bias = logit_bias.expand(f, heads, 1, n_keys).masked_fill(blocked[:, None, None, :], float("-inf"))
    return logit_bias


def _attention_stats(q, k, v, logit_bias, needs: frozenset[str]) -> AttentionStats:
    """[CLS]->patch probabilities (softmax over every key, bias included) and, when asked,
    the value norms and per-patch attention entropies that some selectors read."""
    f, heads, p, hd = q.shape
    scale = 1.0 / math.sqrt(hd)
    # [CLS] query rows only: (F, H, 1, n_keys) — cheap, and what every selector reads.
    cls_logits = (q[:, :, :1] @ k.transpose(-1, -2)) * scale
    if logit_bias is not None:
        cls_logits = cls_logits + logit_bias
    stats = AttentionStats(cls_attn=cls_logits.softmax(dim=-1)[:, :, 0, 1:p])
    if "value_norm" in needs:
        stats.value_norm = v[:, :, 1:p].transpose(1, 2).reshape(f, p - 1, heads * hd).norm(dim=-1)
    if "patch_entropy" in needs:
        logits = (q[:, :, 1:] @ k.transpose(-1, -2)) * scale
        if logit_bias is not None:
            logits = logits + logit_bias
        log_probs = logits.log_softmax(dim=-1)
        stats.patch_entropy = -(log_probs.exp() * log_probs.nan_to_num(neginf=0.0)).sum(-1)
    return stats


# ---------------------------------------------------------------- the encoder
class TemporalVisionEncoder(nn.Module):
    """Video encoder over an open_clip VisionTransformer (passed to ``forward``)."""

    def __init__(self, visual: nn.Module, cfg: VisionConfig):
        super().__init__()
        cfg.validate()
        if getattr(visual, "attn_pool", None) is not None or getattr(visual, "final_ln_after_pool", False):
            raise ConfigError("backbone: TC-CLIP needs a ViT with token pooling and ln_post before pooling (CLIP's)")
        self.cfg = cfg
        self.extra_keys = TEMPORAL.get(cfg.temporal)
        self.uses_context = cfg.temporal == "tc" and cfg.num_context > 0
        self.select_seeds = SEED_SELECTORS.get(cfg.seed_selection)
        self.summarize = SUMMARIZERS.get(cfg.summarization)
        self.stat_needs = frozenset(self.select_seeds.needs) | frozenset(self.summarize.needs)
        blocks = visual.transformer.resblocks
        self.num_heads = blocks[0].attn.num_heads
        grid = visual.grid_size
        self.num_patches = grid[0] * grid[1]
        self.num_seeds = num_seeds(self.num_patches, cfg.seed_ratio)
        # bias[l, h] = (local, extra) logit offsets. Initialised as the official code does its
        # local/global bias table: a truncated normal of std 0.02 from torch's global RNG (seeded
        # by the run), cut at +-2 (absolute, timm's default: in effect untruncated). For tc,
        # layer 0 has no context keys and its row is never read.
        self.attn_bias = None
        if cfg.local_global_bias and cfg.temporal != "frame":
            self.attn_bias = nn.Parameter(torch.empty(len(blocks), self.num_heads, 2))
            nn.init.trunc_normal_(self.attn_bias, std=BIAS_INIT_STD, a=-2.0, b=2.0)

    def forward(self, visual: nn.Module, video: torch.Tensor, trace: bool = False) -> VisionOutput:
        """video: (B, T, 3, H, W), normalised."""
        if video.ndim != 5:
            raise ValueError(f"video must be (B, T, 3, H, W), got shape {tuple(video.shape)}")
        b, t = video.shape[:2]
        x = visual._embeds(video.flatten(0, 1))  # conv1, [CLS], spatial pos. embedding, ln_pre
        if x.shape[1] != self.num_patches + 1:
            raise ValueError(f"input of {tuple(video.shape[-2:])} px gives {x.shape[1] - 1} patches, model expects {self.num_patches}")
        p, d = x.shape[1:]
        context = None
        layers_trace: list[dict] = []
        for layer, block in enumerate(visual.transformer.resblocks):
            h = block.ln_1(x)
            extra, extra_mask = self.extra_keys(
                h.view(b, t, p, d), None if context is None else block.ln_1(context)
            )
            bias = None if (self.attn_bias is None or extra is None) else self.attn_bias[layer]
            needs = self.stat_needs if self.uses_context else None
            attn_out, stats = _attention(block.attn, h, extra, extra_mask, bias, needs)
            x = x + block.ls_1(attn_out)
            tokens = x.view(b, t * p, d)
            if self.uses_context:
                context, record = self._build_context(x, stats, b, t, trace)
                if record is not None:
                    layers_trace.append(record)
                tokens = torch.cat([tokens, context], dim=1)
            tokens = tokens + block.ls_2(block.mlp(block.ln_2(tokens)))
            x = tokens[:, : t * p].reshape(b * t, p, d)
            if self.uses_context:
                context = tokens[:, t * p :]

        cls = visual.ln_post(x[:, 0]) @ visual.proj
        frames = cls.view(b, t, -1)
        projected_context = None
        if context is not None:
            projected_context = visual.ln_post(context) @ visual.proj
        return VisionOutput(video=frames.mean(dim=1), frames=frames, context=projected_context, trace=layers_trace)

    def _build_context(self, x, stats: AttentionStats, b: int, t: int, trace: bool):
        """Seeds of every frame (post-attention states) -> k context tokens of the video."""
        n_s = self.num_seeds
        index, scores = self.select_seeds(stats, n_s)  # (B*T, n_s), descending
        patches = x[:, 1:]
        seeds = patches.gather(1, index[..., None].expand(-1, -1, x.shape[-1]))
        seed_set = SeedSet(tokens=seeds.reshape(b, t * n_s, -1), scores=scores.reshape(b, t * n_s))
        if stats.patch_entropy is not None:
            seed_set.saliency = patch_saliency_scores(stats.patch_entropy).gather(1, index).reshape(b, t * n_s)
        summary = self.summarize(seed_set, self.cfg.num_context, self.cfg.merge_step)
        record = None
        if trace:
            record = {"patch_index": index.view(b, t, n_s).detach(), "assignment": summary.assignment.view(b, t, n_s).detach()}
        return summary.tokens, record

