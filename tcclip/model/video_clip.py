"""The full model: TC vision encoder + prompted text encoder over one open_clip CLIP -> logits.

Parameter names: ``clip.*`` are CLIP's own (they have a CLIP counterpart, which
weight-space ensembling uses); everything else (``vision.attn_bias``, ``text.ctx``,
``text.vp.*``, ...) is what the variant adds.

Trainable: everything except CLIP's token embedding table (frozen unless
``model.text.train_token_embedding``), as in the official code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tcclip import paths
from tcclip.config import from_dict, load_yaml, merge
from tcclip.errors import ConfigError
from tcclip.model.precision import autocast_off, full_precision
from tcclip.model.backbone import BackboneConfig, build_clip
from tcclip.model.prompts import PROMPTS, TextConfig
from tcclip.model.temporal import TemporalVisionEncoder, VisionConfig, VisionOutput

PRESET_DIR = paths.PRESETS


@dataclass
class ModelConfig:
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    vision: VisionConfig = field(default_factory=VisionConfig)
    text: TextConfig = field(default_factory=TextConfig)
    load_from: str | None = None
    """A whole-model checkpoint loaded over the built model: the authors' released TC-CLIP or ViFi-CLIP
    file (their key layout, mapped by tcclip.model.official_checkpoint) or one of ours. With
    train.epochs=0 it is evaluated as it is. CLIP's token embedding, which the official files lack,
    comes from backbone.weights."""

    def validate(self) -> None:
        if self.text.prompt in ("vp_context", "late_fusion") and not (
            self.vision.temporal == "tc" and self.vision.num_context > 0
        ):
            raise ConfigError(
                f"model.text.prompt={self.text.prompt!r} uses context tokens: it needs model.vision.temporal=tc "
                f"and num_context > 0 (got temporal={self.vision.temporal!r}, num_context={self.vision.num_context})"
            )


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def model_preset(name: str) -> dict:
    """The model section of a named preset (tc_clip, vifi_clip, vanilla_clip)."""
    path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown model preset {name!r}; valid: {', '.join(preset_names())}")
    return load_yaml(path)


def model_config(preset: str = "tc_clip", overrides: dict | None = None) -> ModelConfig:
    return from_dict(ModelConfig, merge(model_preset(preset), overrides or {}), "model")


class VideoCLIP(nn.Module):
    def __init__(self, clip: nn.Module, cfg: ModelConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.clip = clip
        clip.token_embedding.requires_grad_(cfg.text.train_token_embedding)
        self.vision = TemporalVisionEncoder(clip.visual, cfg.vision)
        self.text = PROMPTS.get(cfg.text.prompt)(clip, cfg.text)
        self.class_names: list[str] = []
        self.register_buffer("class_tokens", torch.zeros(0, cfg.text.context_length, dtype=torch.long), persistent=False)
        # Video-independent class embeddings in evaluation, one per class list: evaluation
        # switches between the lists of eval sets that share videos (K-600's three class subsets)
        # on every batch, and each list's text encoding stays valid until the weights train again.
        self._text_cache: dict[tuple[str, ...], torch.Tensor] = {}
        self._token_cache: dict[tuple[str, ...], torch.Tensor] = {}

    @classmethod
    def build(cls, cfg: ModelConfig) -> "VideoCLIP":
        model = cls(build_clip(cfg.backbone), cfg)
        if cfg.load_from is not None:
            from tcclip.model.official_checkpoint import load_released

            load_released(model, cfg.load_from)
        return model

    def set_class_names(self, names: list[str]) -> None:
        """Classes to score (swappable: zero-shot evaluation sets the target dataset's)."""
        if not names:
            raise ConfigError("class names: the list is empty")
        self.class_names = list(names)
        key = tuple(self.class_names)
        if key not in self._token_cache:
            self._token_cache[key] = self.text.tokenize(self.class_names)
        self.class_tokens = self._token_cache[key].to(self.class_tokens.device)

    def train(self, mode: bool = True):
        self._text_cache.clear()  # the weights may change from here on
        return super().train(mode)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self._text_cache.clear()  # class embeddings of the previous weights
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def encode_video(self, video: torch.Tensor, trace: bool = False) -> VisionOutput:
        return self.vision(self.clip.visual, video, trace=trace)

    def encode_text(self, vision: VisionOutput | None = None) -> torch.Tensor:
        """Class embeddings (K, E), or (B, K, E) when the prompt is video-conditioned."""
        if self.class_tokens.shape[0] == 0:
            raise ConfigError("no class names set: call set_class_names() first")
        if self.text.conditioned:
            return self.text(self.clip, self.class_tokens, vision)
        # Video-independent: in eval without grad, encode once per class list.
        if self.training or torch.is_grad_enabled():
            return self.text(self.clip, self.class_tokens)
        key = tuple(self.class_names)
        if key not in self._text_cache:
            self._text_cache[key] = self.text(self.clip, self.class_tokens)
        return self._text_cache[key]

    def forward(self, video: torch.Tensor, trace: bool = False) -> torch.Tensor:
        """Logits (B, K): logit_scale * cos(video, class text)."""
        return self.classify(self.encode_video(video, trace=trace))

    def classify(self, vision: VisionOutput) -> torch.Tensor:
        """Logits (B, K) of encoded videos against the current class names: evaluation encodes
        a batch once and classifies it against every class list that scores its videos."""
        video = vision.video
        text = self.encode_text(vision)
        with autocast_off(video.device):  # x100 logits compared with each other: no bf16/fp16 ties
            text, video_features = full_precision(text, video)
            text, video_features = F.normalize(text, dim=-1), F.normalize(video_features, dim=-1)
            scale = self.clip.logit_scale.exp()
            if text.ndim == 2:
                return scale * video_features @ text.t()
            return scale * torch.einsum("be,bke->bk", video_features, text)

    def compile_encoders(self, backend: str = "inductor", fullgraph: bool = False) -> "VideoCLIP":
        """Compile the video and text encoders in place (``train.compile``); returns self.

        The encoders, not ``forward``: evaluation against several class lists calls
        ``encode_video`` and ``classify`` directly, and the class-embedding cache of
        ``encode_text`` is Python bookkeeping that has no place in a graph. ``nn.Module.compile``
        keeps the parameter names, so checkpoints and WiSE-FT read the same keys as eager.
        ``dynamic=False``: every shape is static (the TC merge schedule is fixed by T and k), so
        each batch size and class-list length gets a graph of its own (the last, partial batch
        of an eval set one more), rather than symbolic shapes that CUDA graphs cannot replay.
        ``fullgraph=True`` turns a graph break into an error (the tests use it)."""
        self.vision.compile(backend=backend, fullgraph=fullgraph, dynamic=False)
        self.text.compile(backend=backend, fullgraph=fullgraph, dynamic=False)
        return self

    def clip_parameter_names(self) -> set[str]:
        """Names (in this model's state dict) of the parameters that come from CLIP."""
        return {f"clip.{name}" for name, _ in self.clip.named_parameters()}
