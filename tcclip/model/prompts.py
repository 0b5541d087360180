"""The text side: class prompts through CLIP's text encoder, with the paper's variants.

Registered by name in ``PROMPTS`` (each a factory ``(clip, TextConfig) -> TextSide``):

- ``handcrafted``  fixed template, e.g. "a photo of a {}." (ViFi-CLIP); vanilla CLIP uses "{}"
- ``learnable``    n_ctx learnable prompt vectors, "a photo of a" init (CoOp, IJCV 2022)
- ``vp_frames``    learnable vectors + video-conditional prompting over the frame [CLS] tokens
- ``vp_context``   learnable vectors + video-conditional prompting over the context tokens (TC-CLIP)
- ``late_fusion``  learnable vectors; the final class embedding attends to the context tokens

Video-conditional prompting (VP) is a cross-attention block placed before a CLIP text
block (default: the last) and initialised from it: the prompt positions 1..n_ctx become
``c + MHA(ln_1(c), ln_kv(V), ln_kv(V))`` then ``+ MLP(ln_2(.))``, V being the visual tokens
(projected, gradient stopped). Because CLIP's text mask is causal, the prompt positions
see only [SOS] and the prompt vectors before that block, so they are the same for every
class: the blocks before VP run once for all classes, VP runs once per video, and only
the blocks after it run per (video, class). This gives the per-video loop's outputs at
a fraction of its cost.
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass
from typing import Callable

import open_clip
import torch
import torch.nn.functional as F
from torch import nn

from tcclip.errors import ConfigError
from tcclip.registry import Registry


@dataclass
class TextConfig:
    prompt: str = "vp_context"
    """handcrafted | learnable | vp_frames | vp_context | late_fusion."""
    template: str = "a photo of a {}."
    """Prompt of the ``handcrafted`` variant; ``{}`` is the class name."""
    n_ctx: int = 4
    """Number of learnable prompt vectors."""
    ctx_init: str = "a photo of a"
    """Words whose embeddings initialise the prompt vectors (random init if the count differs from n_ctx)."""
    context_length: int = 30
    """Text length; CLIP's positional embedding is truncated (not interpolated) to it."""
    vp_block: int = -1
    """Index of the CLIP text block that VP precedes and is initialised from (-1: the last)."""
    train_token_embedding: bool = False
    """Train CLIP's token embedding table (49408 x 512 for ViT-B/16, 25.3 M parameters). Off, as in the
    official code: its prompt learner embeds the class prompts once and keeps them as buffers, so the
    table is never updated (ViFi-CLIP's 124.3 M trainable = CLIP's 149.6 M minus this table).
    The learnable prompt vectors are separate parameters and train either way."""
    truncate_long_names: bool | None = None
    """A class prompt longer than context_length is an error naming the class (unset/false); true cuts it
    to fit with a warning, as CLIP's tokenizer would silently (two cut names can become the same class)."""

    def validate(self) -> None:
        PROMPTS.get(self.prompt)
        if self.prompt == "handcrafted" and "{}" not in self.template:
            raise ConfigError(f"model.text.template: must contain '{{}}' for the class name, got {self.template!r}")
        if self.n_ctx < 1 and self.prompt != "handcrafted":
            raise ConfigError(f"model.text.n_ctx: must be >= 1 for prompt {self.prompt!r}, got {self.n_ctx}")
        if self.context_length < 8:
            raise ConfigError(f"model.text.context_length: must be >= 8, got {self.context_length}")


def readable_class_name(name: str) -> str:
    """'ApplyEyeMakeup' -> 'Apply Eye Makeup', 'brush_hair' -> 'brush hair' (UCF/HMDB style names)."""
    name = name.replace("_", " ")
    name = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    return re.sub(r"\s+", " ", name).strip()


class TextSide(nn.Module):
    """Base: tokenise class prompts and run CLIP's text encoder on their embeddings.

    CLIP's own text modules are passed to ``forward`` (they stay in the open_clip model);
    a subclass owns only the parameters its variant adds.
    """

    conditioned = False  # True if the class embeddings depend on the video

    def __init__(self, clip: nn.Module, cfg: TextConfig):
        super().__init__()
        if cfg.context_length > clip.positional_embedding.shape[0]:
            raise ConfigError(
                f"model.text.context_length: {cfg.context_length} exceeds the backbone's {clip.positional_embedding.shape[0]}"
            )
        if clip.attn_mask is None:
            raise ConfigError("backbone: the text encoder has no causal mask; CLIP's is required")
        self.cfg = cfg

    def prompt_text(self, name: str) -> str:
        return self.cfg.template.format(name)

    def tokenize(self, class_names: list[str]) -> torch.Tensor:
        texts = [self.prompt_text(readable_class_name(n)) for n in class_names]
        self._check_lengths(class_names, texts)
        return open_clip.tokenize(texts, context_length=self.cfg.context_length)

    def _check_lengths(self, class_names: list[str], texts: list[str]) -> None:
        """CLIP's tokenizer cuts a prompt longer than the context without a word: refuse, or warn when asked."""
        from open_clip.tokenizer import _tokenizer

        limit = self.cfg.context_length
        long = [(name, len(_tokenizer.encode(text)) + 2) for name, text in zip(class_names, texts)]  # + [SOS], [EOT]
        long = [(name, count) for name, count in long if count > limit]
        if not long:
            return
        name, count = long[0]
        what = (f"class {name!r} is {count} tokens in its prompt, more than the text context "
                f"(model.text.context_length={limit})" + (f", and {len(long) - 1} more class(es)" if len(long) > 1 else ""))
        if not self.cfg.truncate_long_names:
            raise ConfigError(f"{what}; shorten the class name (label file), or set "
                              "model.text.truncate_long_names=true to cut such prompts to fit")
        logging.getLogger("tcclip.model").warning("%s: cut to fit (model.text.truncate_long_names=true)", what)

    def embed(self, clip: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
        x = clip.token_embedding(tokens)
        return x + clip.positional_embedding[: tokens.shape[1]].to(x.dtype)

    @staticmethod
    def run_blocks(clip: nn.Module, x: torch.Tensor, blocks) -> torch.Tensor:
        mask = clip.attn_mask[: x.shape[1], : x.shape[1]].to(x.dtype)
        for block in blocks:
            x = block(x, attn_mask=mask)
        return x

    @staticmethod
    def pool(clip: nn.Module, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """ln_final, the [EOT] position (highest token id), text projection. x: (..., L, W)."""
        x = clip.ln_final(x)
        eot = tokens.argmax(dim=-1)  # (K,)
        x = x[..., torch.arange(tokens.shape[0], device=x.device), eot, :]
        return x @ clip.text_projection

    def forward(self, clip: nn.Module, tokens: torch.Tensor, vision=None) -> torch.Tensor:
        """Class embeddings: (K, E), or (B, K, E) for video-conditioned variants."""
        x = self.run_blocks(clip, self.embed(clip, tokens), clip.transformer.resblocks)
        return self.pool(clip, x, tokens)


class HandcraftedPrompt(TextSide):
    """Fixed template, no learnable text parameters beyond CLIP's (ViFi-CLIP, CVPR 2023)."""


class LearnablePrompt(TextSide):
    """n_ctx learnable vectors at positions 1..n_ctx, shared by all classes (CoOp, IJCV 2022)."""

    def __init__(self, clip: nn.Module, cfg: TextConfig):
        super().__init__(clip, cfg)
        init_words = cfg.ctx_init.split()
        width = clip.token_embedding.weight.shape[1]
        if len(init_words) == cfg.n_ctx:
            ids = open_clip.tokenize([cfg.ctx_init], context_length=cfg.n_ctx + 2)[0, 1 : 1 + cfg.n_ctx]
            init = clip.token_embedding.weight[ids].detach().clone()
        else:  # CoOp's random init when the words do not fill the prompt
            init = torch.randn(cfg.n_ctx, width) * 0.02
        self.ctx = nn.Parameter(init)

    def prompt_text(self, name: str) -> str:
        # "X" placeholders hold the places of the prompt vectors; CoOp's convention.
        return " ".join(["X"] * self.cfg.n_ctx) + f" {name}."

    def embed(self, clip: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
        x = clip.token_embedding(tokens)
        n = self.cfg.n_ctx
        ctx = self.ctx.to(x.dtype)[None].expand(x.shape[0], -1, -1)
        x = torch.cat([x[:, :1], ctx, x[:, 1 + n :]], dim=1)
        return x + clip.positional_embedding[: tokens.shape[1]].to(x.dtype)


class CrossAttentionBlock(nn.Module):
    """q + MHA(ln_1(q), ln_kv(kv), ln_kv(kv)), then + MLP(ln_2(.)), weights copied from a CLIP block."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.ln_1 = copy.deepcopy(block.ln_1)
        self.ln_kv = copy.deepcopy(block.ln_1)
        self.attn = copy.deepcopy(block.attn)
        self.ls_1 = copy.deepcopy(block.ls_1)
        self.ln_2 = copy.deepcopy(block.ln_2)
        self.mlp = copy.deepcopy(block.mlp)
        self.ls_2 = copy.deepcopy(block.ls_2)
        if not self.attn.batch_first:
            raise ConfigError("backbone: open_clip text blocks must be batch-first (open_clip >= 3)")

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        kv = self.ln_kv(keys)
        queries = queries + self.ls_1(self.attn(self.ln_1(queries), kv, kv, need_weights=False)[0])
        return queries + self.ls_2(self.mlp(self.ln_2(queries)))


def _visual_tokens(vision, source: str) -> torch.Tensor:
    tokens = vision.context if source == "context" else vision.frames
    if tokens is None:
        raise ConfigError(
            "model.text.prompt: video-conditional prompting over context tokens needs model.vision.temporal=tc "
            "with num_context > 0"
        )
    return tokens.detach()  # gradient stopped on the visual side, as in TC-CLIP


class VideoConditionalPrompt(LearnablePrompt):
    """Learnable prompt vectors refined per video by cross-attention to visual tokens (TC-CLIP, ECCV 2024)."""

    conditioned = True

    def __init__(self, clip: nn.Module, cfg: TextConfig, source: str = "context"):
        super().__init__(clip, cfg)
        blocks = clip.transformer.resblocks
        if not -len(blocks) <= cfg.vp_block < len(blocks):
            raise ConfigError(f"model.text.vp_block: {cfg.vp_block} is not a text block index (0..{len(blocks) - 1})")
        self.vp_index = cfg.vp_block % len(blocks)
        self.source = source
        embed_dim = clip.text_projection.shape[1]
        if embed_dim != clip.token_embedding.weight.shape[1]:
            raise ConfigError(
                f"backbone: VP needs the joint embedding width ({embed_dim}) to equal the text width "
                f"({clip.token_embedding.weight.shape[1]}), as in CLIP ViT-B/16"
            )
        self.vp = CrossAttentionBlock(blocks[self.vp_index])

    def forward(self, clip: nn.Module, tokens: torch.Tensor, vision=None) -> torch.Tensor:
        visual = _visual_tokens(vision, self.source)
        blocks = clip.transformer.resblocks
        n, k, length = self.cfg.n_ctx, tokens.shape[0], tokens.shape[1]
        x = self.run_blocks(clip, self.embed(clip, tokens), blocks[: self.vp_index])  # (K, L, W), once
        prompt = x[:1, 1 : 1 + n].expand(visual.shape[0], -1, -1)  # class-independent (causal mask)
        prompt = self.vp(prompt, visual.to(x.dtype))  # (B, n, W), once per video
        if self.vp_index == len(blocks) - 1:  # the default: VP precedes the last block
            eot = tokens.argmax(dim=-1)
            return self.project(clip, _last_block_at_eot(blocks[-1], x, prompt, n, eot))
        b, width = prompt.shape[0], x.shape[-1]
        x = torch.cat(
            [
                x[None, :, :1].expand(b, k, 1, width),
                prompt[:, None].expand(b, k, n, width),
                x[None, :, 1 + n :].expand(b, k, length - 1 - n, width),
            ],
            dim=2,
        ).reshape(b * k, length, width)
        x = self.run_blocks(clip, x, blocks[self.vp_index :]).view(b, k, length, width)
        return self.pool(clip, x, tokens)

    @staticmethod
    def project(clip: nn.Module, eot_states: torch.Tensor) -> torch.Tensor:
        return clip.ln_final(eot_states) @ clip.text_projection


def _last_block_at_eot(block: nn.Module, x: torch.Tensor, prompt: torch.Tensor, n: int, eot: torch.Tensor) -> torch.Tensor:
    """CLIP's last text block, evaluated only where the feature is read: each class's [EOT].

    x: (K, L, W) class sequences entering the block (positions 1..n are replaced by each
    video's prompt, (B, n, W)). The [EOT] query of class k attends, causally, to [SOS],
    the video's prompt and the class's own tokens up to [EOT]; keys/values of the class
    tokens are computed once per class, those of the prompts once per video, so the
    (video, class) work is one query row instead of a whole block. Returns (B, K, W).
    """
    attn = block.attn
    heads = attn.num_heads
    k, length, width = x.shape
    b, hd = prompt.shape[0], width // heads
    w_q, w_k, w_v = attn.in_proj_weight.chunk(3)
    b_q, b_k, b_v = attn.in_proj_bias.chunk(3)
    classes = torch.arange(k, device=x.device)
    h_x, h_p = block.ln_1(x), block.ln_1(prompt)
    q = F.linear(h_x[classes, eot], w_q, b_q).view(k, heads, hd) * hd**-0.5
    k_x = F.linear(h_x, w_k, b_k).view(k, length, heads, hd)
    v_x = F.linear(h_x, w_v, b_v).view(k, length, heads, hd)
    k_p = F.linear(h_p, w_k, b_k).view(b, n, heads, hd)
    v_p = F.linear(h_p, w_v, b_v).view(b, n, heads, hd)
    position = torch.arange(length, device=x.device)
    visible = position[None] <= eot[:, None]  # causal mask of the [EOT] row
    visible[:, 1 : 1 + n] = False  # the stale prompt positions: the video's prompt replaces them
    logits_x = torch.einsum("khd,klhd->khl", q, k_x).masked_fill(~visible[:, None], float("-inf"))
    logits_p = torch.einsum("khd,bnhd->bkhn", q, k_p)
    probs = torch.cat([logits_x[None].expand(b, -1, -1, -1), logits_p], dim=-1).softmax(dim=-1)
    out = torch.einsum("bkhl,klhd->bkhd", probs[..., :length], v_x) + torch.einsum(
        "bkhn,bnhd->bkhd", probs[..., length:], v_p
    )
    y = x[classes, eot][None] + block.ls_1(attn.out_proj(out.reshape(b, k, width)))
    return y + block.ls_2(block.mlp(block.ln_2(y)))


class LateFusionPrompt(LearnablePrompt):
    """Learnable prompts; each final class embedding then attends to the video's context tokens
    (residual). TC-CLIP poster's "vision-text late fusion"; the block's exact form is ours: a new
    attention layer with zero-initialised output, so training starts from the learnable-prompt model."""

    conditioned = True

    def __init__(self, clip: nn.Module, cfg: TextConfig):
        super().__init__(clip, cfg)
        embed_dim = clip.text_projection.shape[1]
        self.ln_q = nn.LayerNorm(embed_dim)
        self.ln_kv = nn.LayerNorm(embed_dim)
        self.attn = nn.MultiheadAttention(embed_dim, max(1, embed_dim // 64), batch_first=True)
        nn.init.zeros_(self.attn.out_proj.weight)
        nn.init.zeros_(self.attn.out_proj.bias)

    def forward(self, clip: nn.Module, tokens: torch.Tensor, vision=None) -> torch.Tensor:
        visual = _visual_tokens(vision, "context")
        text = super().forward(clip, tokens)  # (K, E)
        queries = text[None].expand(visual.shape[0], -1, -1)
        kv = self.ln_kv(visual.to(text.dtype))
        return queries + self.attn(self.ln_q(queries), kv, kv, need_weights=False)[0]


TextFactory = Callable[[nn.Module, TextConfig], TextSide]
PROMPTS: Registry[TextFactory] = Registry("prompt variant")
PROMPTS.register("handcrafted")(HandcraftedPrompt)
PROMPTS.register("learnable")(LearnablePrompt)


@PROMPTS.register("vp_context")
def vp_over_context_tokens(clip: nn.Module, cfg: TextConfig) -> TextSide:
    """Video-conditional prompts attending to the video's context tokens (TC-CLIP, ECCV 2024; the default)."""
    return VideoConditionalPrompt(clip, cfg, source="context")


@PROMPTS.register("vp_frames")
def vp_over_frame_tokens(clip: nn.Module, cfg: TextConfig) -> TextSide:
    """Video-conditional prompts attending to the frames' [CLS] tokens instead (TC-CLIP ablation (b))."""
    return VideoConditionalPrompt(clip, cfg, source="frames")


PROMPTS.register("late_fusion")(LateFusionPrompt)
