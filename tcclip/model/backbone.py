"""The CLIP backbone: an open_clip model built from a named architecture, with weights
from a local file.

Both scales take the same path: ``arch`` names an open_clip architecture
(``ViT-B-16-quickgelu`` for the paper) or one of the small architectures shipped in
``tcclip/resources/model_configs`` (``tiny-clip-p16`` for the embedded scale), and
``weights`` is a local file — OpenAI's TorchScript archive or a plain state dict
(what ``tcclip pretrain-clip`` writes). Nothing is ever fetched from a hub.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch
from open_clip.model import CLIP

from tcclip import paths
from tcclip.errors import ConfigError, TcclipError

TINY_CONFIG_DIR = paths.MODEL_CONFIGS

# Keys of OpenAI's archive that are metadata, not parameters.
_OPENAI_META_KEYS = ("input_resolution", "context_length", "vocab_size")


@dataclass
class BackboneConfig:
    arch: str = "ViT-B-16-quickgelu"
    """open_clip architecture name, or a config shipped in tcclip/resources/model_configs."""
    weights: str | None = None
    """Local weights file (OpenAI TorchScript .pt or state dict). None: random init (tests only)."""
    fp16_round: bool = True
    """Round weights through fp16 as the official loader does (lossless for OpenAI's fp16 archive)."""


def architecture_names() -> list[str]:
    shipped = sorted(p.stem for p in TINY_CONFIG_DIR.glob("*.json"))
    return shipped + open_clip.list_models()


def architecture_config(arch: str) -> dict:
    """The open_clip model config (embed_dim, vision_cfg, text_cfg, ...) of an architecture."""
    shipped = TINY_CONFIG_DIR / f"{arch}.json"
    if shipped.is_file():
        return json.loads(shipped.read_text())
    cfg = open_clip.get_model_config(arch)
    if cfg is None:
        raise ConfigError(
            f"backbone.arch: unknown architecture {arch!r}; shipped: "
            f"{', '.join(p.stem for p in sorted(TINY_CONFIG_DIR.glob('*.json')))}; "
            "or any open_clip name (open_clip.list_models())"
        )
    return cfg


def create_clip(arch: str) -> CLIP:
    """A randomly initialised open_clip CLIP of the named architecture (float32)."""
    cfg = architecture_config(arch)
    if "custom_text" in cfg or "text_cfg" not in cfg or "hf_model_name" in cfg.get("text_cfg", {}):
        raise ConfigError(f"backbone.arch: {arch!r} is not a plain CLIP (ViT + text transformer)")
    if "timm_model_name" in cfg.get("vision_cfg", {}):
        raise ConfigError(f"backbone.arch: {arch!r} has a timm vision tower; TC-CLIP needs open_clip's ViT")
    return CLIP(**cfg)


def _is_torchscript(path: Path) -> bool:
    """A TorchScript archive holds its code (``<name>/code/...``); a torch.save zip does not.
    Telling them apart first keeps torch.jit.load (deprecated) away from plain state dicts."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.partition("/")[2].startswith("code/") for name in archive.namelist())


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Parameters from a weights file: OpenAI TorchScript archive or a (wrapped) state dict."""
    path = Path(path)
    if not path.is_file():
        raise TcclipError(f"backbone.weights: file not found: {path}")
    if _is_torchscript(path):  # OpenAI's release
        try:
            state = torch.jit.load(str(path), map_location="cpu").state_dict()
        except RuntimeError as err:
            raise TcclipError(f"backbone.weights: {path} is a TorchScript archive that cannot be loaded ({err})") from None
        return {k: v for k, v in state.items() if k not in _OPENAI_META_KEYS}
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same one-line answer
        raise TcclipError(f"backbone.weights: {path} is neither a TorchScript archive nor a state dict ({type(err).__name__})") from None
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and wrapper in state and isinstance(state[wrapper], dict):
            state = state[wrapper]
    if not isinstance(state, dict):
        raise TcclipError(f"backbone.weights: {path} holds a {type(state).__name__}, expected a state dict")
    state = {k.removeprefix("module."): v for k, v in state.items() if k not in _OPENAI_META_KEYS}
    return state


def load_weights(model: CLIP, state: dict[str, torch.Tensor], source: str, arch: str) -> None:
    """Load a state dict strictly; a file of another architecture gets one clear line."""
    own = model.state_dict()
    # TorchScript archives also store non-persistent buffers (e.g. the text attn_mask): not weights.
    derived = {name for name, _ in model.named_buffers()} - set(own)
    state = {k: v for k, v in state.items() if k not in derived}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or mismatched:
        detail = []
        if mismatched:
            k = mismatched[0]
            detail.append(f"{len(mismatched)} shape mismatches (e.g. {k}: file {tuple(state[k].shape)} vs {tuple(own[k].shape)})")
        if missing:
            detail.append(f"{len(missing)} missing keys (e.g. {missing[0]})")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
        raise TcclipError(f"backbone.weights: {source} does not fit architecture {arch!r}: {'; '.join(detail)}")
    with torch.no_grad():
        for name, tensor in own.items():
            tensor.copy_(state[name].to(tensor.dtype))


def build_clip(cfg: BackboneConfig) -> CLIP:
    """The configured CLIP, in float32, weights loaded (and fp16-rounded) if a file is given."""
    model = create_clip(cfg.arch)
    if cfg.weights is not None:
        load_weights(model, read_state_dict(cfg.weights), cfg.weights, cfg.arch)
    if cfg.fp16_round:
        round_through_fp16(model)
    return model


def clip_state_dict(cfg: BackboneConfig) -> dict[str, torch.Tensor]:
    """The backbone's parameters as the model sees them (for WiSE-FT's CLIP side)."""
    return build_clip(cfg).state_dict()


@torch.no_grad()
def round_through_fp16(model: torch.nn.Module) -> None:
    for tensor in model.state_dict().values():
        if tensor.is_floating_point():
            tensor.copy_(tensor.half().to(tensor.dtype))
