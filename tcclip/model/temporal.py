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
from tcclip.model.precision import autocast_off, full_precision
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
# fn(frames, context) -> (extra (B, T, E, C) or None, key mask (B, T, E) bool or None)
# frames: per-token features of the frame tokens, (B, T, P, C) with P = N + 1; context:
# the same features of the previous layer's context tokens, (B, k, C), or None. Every
# variant only rearranges tokens, so it is applied to the projected keys and to the
# projected values (C = D): each token is projected once, however many frames see it.
ExtraKeys = Callable[[torch.Tensor, "torch.Tensor | None"], "tuple[torch.Tensor | None, torch.Tensor | None]"]
TEMPORAL: Registry[ExtraKeys] = Registry("temporal modelling")


def _others(x: torch.Tensor) -> torch.Tensor:
    """(B, T, ...) -> (B, T, T-1, ...): for each frame, the same entries of the other frames."""
    t = x.shape[1]
    # Built on the device (no host-to-device copy per layer): frame i's j-th other frame is j + (j >= i).
    j = torch.arange(t - 1, device=x.device)
    index = j[None] + (j[None] >= torch.arange(t, device=x.device)[:, None]).long()
    return x[:, index.reshape(-1)].reshape(x.shape[0], t, t - 1, *x.shape[2:])


@TEMPORAL.register("frame")
def frame_wise(frames, context):
    """No temporal keys: each frame is encoded on its own (ViFi-CLIP, CVPR 2023)."""
    return None, None


@TEMPORAL.register("tc")
def temporal_context(frames, context):
    """The video's k context tokens join every frame's keys (TC-CLIP, ECCV 2024).

    Ours: the context's keys/values are computed once per video and every frame reads
    them through a view; the official code concatenates the context to each frame's
    tokens before projecting, once per frame (the same numbers, T times the products)."""
    if context is None or context.shape[1] == 0:
        return None, None
    b, t = frames.shape[:2]
    return context[:, None].expand(b, t, *context.shape[1:]), None


@TEMPORAL.register("cross_frame")
def cross_frame(frames, context):
    """The [CLS] tokens of the other frames (X-CLIP / Vita-CLIP style); the own [CLS] is already a local key."""
    if frames.shape[1] == 1:
        return None, None
    return _others(frames[:, :, 0]), None


@TEMPORAL.register("window")
def temporal_window(frames, context):
    """The patch tokens of frames t-1 and t+1 (Open-VCLIP style); missing neighbours are masked out."""
    b, t, p, c = frames.shape
    patches = frames[:, :, 1:]
    pad = torch.zeros_like(patches[:, :1])  # masked out below: its keys/values are never read
    previous = torch.cat([pad, patches[:, :-1]], dim=1)
    following = torch.cat([patches[:, 1:], pad], dim=1)
    extra = torch.cat([previous, following], dim=2)
    frame = torch.arange(t, device=frames.device)
    valid = torch.stack([frame > 0, frame < t - 1], dim=1)  # (T, 2)
    mask = valid[:, :, None].expand(t, 2, p - 1).reshape(1, t, 2 * (p - 1)).expand(b, t, -1)
    return extra, mask


@TEMPORAL.register("joint")
def joint_space_time(frames, context):
    """All tokens of the other frames: with the own tokens, joint space-time attention (TimeSformer)."""
    b, t, p, c = frames.shape
    if t == 1:
        return None, None
    return _others(frames).reshape(b, t, (t - 1) * p, c), None


# ---------------------------------------------------------------- attention
def _project(attn: nn.MultiheadAttention, tokens: torch.Tensor, part: int) -> torch.Tensor:
    """Queries (part 0), keys (1) or values (2) of tokens (..., D) with open_clip's in-projection.

    Three products rather than one of 3D outputs: the q/k/v of one product are slices of it,
    and autograd assembles their gradients into zero-filled full-size buffers (measured: a
    frame-wise layer's forward+backward 6% slower)."""
    d = tokens.shape[-1]
    rows = slice(part * d, (part + 1) * d)
    return F.linear(tokens, attn.in_proj_weight[rows], attn.in_proj_bias[rows])


def _attention(
    attn: nn.MultiheadAttention,
    h: torch.Tensor,
    extra: torch.Tensor | None,
    extra_mask: torch.Tensor | None,
    bias: torch.Tensor | None,
    needs: frozenset[str] | None,
) -> tuple[torch.Tensor, AttentionStats | None]:
    """Multi-head attention of frame tokens h (F, P, D) over [h ; extra (F, E, D)] with open_clip's weights.

    The one-call form (each frame's extra tokens projected with it), for benchmarks and
    tests; the encoder projects shared extra tokens once (``TemporalVisionEncoder``).
    extra_mask (F, E) bool: extra keys that exist. bias, needs: see ``_attend``.
    """
    q, k, v = (_project(attn, h, part) for part in range(3))
    if extra is not None:
        k = torch.cat([k, _project(attn, extra, 1)], dim=1)
        v = torch.cat([v, _project(attn, extra, 2)], dim=1)
    return _attend(attn, q, k, v, bias, extra_mask, needs)


def _attend(
    attn: nn.MultiheadAttention,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    bias: torch.Tensor | None,
    extra_mask: torch.Tensor | None,
    needs: frozenset[str] | None,
) -> tuple[torch.Tensor, AttentionStats | None]:
    """Attention of queries q (F, P, D) over keys k and values v (F, n_keys, D), the P local keys first.

    bias: (H, 2) logits added to local keys ([:, 0]) and extra keys ([:, 1]);
    extra_mask (F, n_keys - P) bool: extra keys that exist.
    Returns the output after out_proj (F, P, D) and, when ``needs`` is not None, the
    statistics seed selection reads ([CLS] probabilities over the patch keys, ...).
    """
    f, p, d = q.shape
    heads = attn.num_heads
    hd = d // heads
    scale = 1.0 / math.sqrt(hd)
    q, k, v = (x.unflatten(-1, (heads, hd)).transpose(1, 2) for x in (q, k, v))
    if bias is not None and k.shape[2] > p:
        q, k, v = _fold_bias(q, k, v, bias, scale)
    key_mask = _key_mask(extra_mask, p)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask, scale=scale)[..., :hd]
    out = attn.out_proj(out.transpose(1, 2).reshape(f, p, d))
    if needs is None:
        return out, None
    return out, _attention_stats(q, k, v[..., :hd], key_mask, scale, needs)


def _fold_bias(q, k, v, bias: torch.Tensor, scale: float):
    """Fold the local/extra logit bias into one extra head channel: q' = [q, 1],
    k' = [k, 0 (local) or (b_extra - b_local)/scale (extra)], v' = [v, 0].

    q'.k' * scale = q.k * scale + (b_extra - b_local) on the extra keys: the same softmax
    as adding (b_local, b_extra) (a shift shared by every key of a row cancels), and the
    same gradients, bias included. Unlike a dense attn_mask that needs a gradient, this
    keeps scaled_dot_product_attention on its fused kernel (the math path materialises
    every score). q, k, v: (F, H, len, hd); returns them with hd + 1 channels.
    """
    f, heads, p, _ = q.shape
    n_keys = k.shape[2]
    offset = ((bias[:, 1] - bias[:, 0]) / scale).to(k.dtype)
    channel = torch.cat([offset.new_zeros(heads, p), offset[:, None].expand(heads, n_keys - p)], dim=1)
    q = torch.cat([q, q.new_ones(f, heads, p, 1)], dim=-1)
    k = torch.cat([k, channel[None, :, :, None].expand(f, heads, n_keys, 1)], dim=-1)
    v = torch.cat([v, v.new_zeros(f, heads, n_keys, 1)], dim=-1)
    return q, k, v


def _key_mask(extra_mask: torch.Tensor | None, p: int) -> torch.Tensor | None:
    """(F, 1, 1, n_keys) bool, True where a key exists, from the extra keys' mask (F, E); None if all exist."""
    if extra_mask is None:
        return None
    return torch.cat([extra_mask.new_ones(extra_mask.shape[0], p), extra_mask], dim=1)[:, None, None, :]


def _attention_stats(q, k, v, key_mask, scale: float, needs: frozenset[str]) -> AttentionStats:
    """[CLS]->patch probabilities (softmax over every key, bias included) and, when asked,
    the value norms and per-patch attention entropies that some selectors read.
    q, k: (F, H, len, channels) as attended (bias folded in); v: (F, H, n_keys, hd)."""
    f, heads, p, _ = q.shape
    # [CLS] query rows only: (F, H, 1, n_keys) — cheap, and what every selector reads.
    cls_logits = _masked_logits(q[:, :, :1], k, key_mask, scale)
    stats = AttentionStats(cls_attn=cls_logits.softmax(dim=-1)[:, :, 0, 1:p])
    if "value_norm" in needs:
        stats.value_norm = v[:, :, 1:p].transpose(1, 2).reshape(f, p - 1, -1).norm(dim=-1)
    if "patch_entropy" in needs:
        log_probs = _masked_logits(q[:, :, 1:], k, key_mask, scale).log_softmax(dim=-1)
        stats.patch_entropy = -(log_probs.exp() * log_probs.nan_to_num(neginf=0.0)).sum(-1)
    return stats


def _masked_logits(q, k, key_mask, scale: float) -> torch.Tensor:
    with autocast_off(q.device):  # the scores pick the seed tokens: no bf16/fp16 ties
        q, k = full_precision(q, k)
        logits = (q @ k.transpose(-1, -2)) * scale
    return logits if key_mask is None else logits.masked_fill(key_mask.logical_not(), float("-inf"))


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
        context = None
        layers_trace: list[dict] = []
        for layer, block in enumerate(visual.transformer.resblocks):
            x, stats = self._attention_block(block, layer, x, context, b, t)
            if self.uses_context:
                context, record = self._build_context(x, stats, b, t, trace)
                if record is not None:
                    layers_trace.append(record)
            x, context = _mlp_block(block, x, context, b, t)
        return self._pool(visual, x, context, b, t, layers_trace)

    def _attention_block(self, block, layer: int, x, context, b: int, t: int):
        """x (B*T, P, D) + attention of each frame's tokens over its own and its extra keys.

        Every token is projected to keys/values once: the context tokens once per video
        and the other frames' tokens (cross_frame, window, joint) once per frame, then the
        variant gathers them into each frame's keys."""
        attn, p = block.attn, x.shape[1]
        h = block.ln_1(x)
        c = None if context is None else block.ln_1(context)
        q = _project(attn, h, 0)
        k, extra_mask = self._with_extra(_project(attn, h, 1), None if c is None else _project(attn, c, 1), b, t)
        v, _ = self._with_extra(_project(attn, h, 2), None if c is None else _project(attn, c, 2), b, t)
        bias = self.attn_bias[layer] if self.attn_bias is not None and k.shape[1] > p else None
        needs = self.stat_needs if self.uses_context else None
        out, stats = _attend(attn, q, k, v, bias, extra_mask, needs)
        return x + block.ls_1(out), stats

    def _with_extra(self, local, context, b: int, t: int):
        """[each frame's own keys (or values) ; its extra ones], (B*T, P + E, D), and the extra keys' mask."""
        f, p, d = local.shape
        extra, mask = self.extra_keys(local.view(b, t, p, d), context)
        if extra is None:
            return local, None
        joined = torch.cat([local.view(b, t, p, d), extra], dim=2).flatten(0, 1)
        return joined, None if mask is None else mask.flatten(0, 1)

    def _pool(self, visual, x, context, b: int, t: int, layers_trace: list[dict]) -> VisionOutput:
        """ln_post + proj of each frame's [CLS] (averaged over frames) and of the context tokens."""
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



def _mlp_block(block, x: torch.Tensor, context: torch.Tensor | None, b: int, t: int):
    """x + MLP(ln_2(x)) over the frame tokens (B*T, P, D) and the context tokens (B, k, D) together."""
    f, p, d = x.shape
    if context is None:
        return x + block.ls_2(block.mlp(block.ln_2(x))), None
    tokens = torch.cat([x.view(b, t * p, d), context], dim=1)
    tokens = tokens + block.ls_2(block.mlp(block.ln_2(tokens)))
    return tokens[:, : t * p].reshape(f, p, d), tokens[:, t * p :]
