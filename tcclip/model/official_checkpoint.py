"""Whole-model checkpoints in the authors' layouts: the released TC-CLIP and ViFi-CLIP files.

A user who asks "is it my machine or my data?" scores the authors' released weights in this
harness (``model.load_from=FILE``, README: "Evaluating the authors' released checkpoints").
The official training scripts save ``{'model': state_dict, 'optimizer': ..., 'lr_scheduler':
..., 'epoch': ..., 'config': ...}`` with the keys of their modules, ``module.``-prefixed when
the model was wrapped in DistributedDataParallel. This module reads such a file (its pickled
config object becomes an inert stand-in, never imported or run), detects the layout,
maps every key onto our parameter names by the rules below, checks every shape, and loads
the result. Anything it cannot map is refused with one line naming the file and the first
offending key.

Layouts (detected from the keys):

- ``tc_clip``   naver-ai/tc-clip, trainer ``TCCLIP``: has ``prompt_generation_layer`` /
  ``local_global_bias_table`` / split ``q_proj``-``k_proj``-``v_proj`` vision attention
- ``vifi_clip`` muzairkhattak/ViFi-CLIP (and tc-clip's ``ViFiCLIP`` trainer): ``image_encoder.*``
  and ``text_encoder.*`` of a plain CLIP, hand-crafted prompts
- ``tcclip``    our own checkpoints (``clip.*``, ``vision.*``, ``text.*``): loaded as they are

Mapping, official -> ours (after stripping a leading ``module.``; the first rule that
matches applies):

============================================================  ======================================================
official key                                                  ours
============================================================  ======================================================
``prompt_learner.token_prefix`` / ``token_suffix`` /          dropped, as the official loader drops them: the
``complete_text_embeddings``                                  embedded class prompts, rebuilt from the class names
``image_encoder.transformer.resblocks.{i}.attn.{q,k,v}_proj.  ``clip.visual.transformer.resblocks.{i}.attn.
{weight,bias}``                                               in_proj_{weight,bias}`` = concatenation [q; k; v]
``image_encoder.transformer.resblocks.{i}.attn.               ``vision.attn_bias[i]`` = table[:, 0, :]
local_global_bias_table`` (H, 1, 2)                           (per head: local, global)
``image_encoder.{rest}``                                      ``clip.visual.{rest}``
``text_encoder.prompt_generation_layer.0.ln_1_kv.{rest}``     ``text.vp.ln_kv.{rest}``
``text_encoder.prompt_generation_layer.0.{rest}``             ``text.vp.{rest}`` (attn, ln_1, ln_2, mlp)
``text_encoder.{rest}``                                       ``clip.{rest}`` (transformer, positional_embedding,
                                                              ln_final, text_projection)
``prompt_learner.ctx``                                        ``text.ctx``
``logit_scale``                                               ``clip.logit_scale``
============================================================  ======================================================

Ours, not in an official file (documented exceptions; every other parameter of ours must
come from the file):

- ``clip.token_embedding.weight``: the official model keeps no token embedding (its prompt
  learner embeds the prompts once, as buffers); it was never trained there, so CLIP's own
  table from ``model.backbone.weights`` is the right one and stays.
- ``vision.attn_bias[0]``: the official first layer has no context keys and no bias table;
  ours holds a row for it that TC attention never reads. It is set to 0.

Not mappable, refused: a second ``prompt_generation_layer`` (VP before several text
blocks; ours has one, placed by ``model.text.vp_block``, which the file cannot tell:
the official default, before the last block, is ours), visual or deep text prompts
(``VPT``, ``VPT_shallow``), a joint space-time positional embedding (a shape mismatch).
"""

from __future__ import annotations

import logging
import pickle
import re
import types
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from tcclip.errors import TcclipError

log = logging.getLogger("tcclip.model")

DROPPED_BUFFERS = ("prompt_learner.token_prefix", "prompt_learner.token_suffix",
                   "prompt_learner.complete_text_embeddings")
"""Buffers the official loader itself deletes before loading: prompts embedded for the class names of training."""

NOT_IN_OFFICIAL = ("clip.token_embedding.weight",)
"""Our parameters that an official file lacks; they keep the backbone's values."""

# (official prefix, our prefix); a prefix without a trailing dot is a whole key.
RENAMES = (
    ("text_encoder.prompt_generation_layer.0.ln_1_kv.", "text.vp.ln_kv."),
    ("text_encoder.prompt_generation_layer.0.", "text.vp."),
    ("text_encoder.", "clip."),
    ("image_encoder.", "clip.visual."),
    ("prompt_learner.ctx", "text.ctx"),
    ("logit_scale", "clip.logit_scale"),
)
_QKV = re.compile(r"^image_encoder\.(transformer\.resblocks\.\d+\.attn)\.([qkv])_proj\.(weight|bias)$")
_QKV_PART = re.compile(r"\.[qkv]_proj\.")
_BIAS_TABLE = re.compile(r"^image_encoder\.transformer\.resblocks\.(\d+)\.attn\.local_global_bias_table$")
_OFFICIAL_BIAS_KEY = "image_encoder.transformer.resblocks.{}.attn.local_global_bias_table"
BIAS = "vision.attn_bias"


# ---------------------------------------------------------------- reading a file
class _Unloaded(dict):
    """Stand-in for a class that a checkpoint pickled beside its weights (the run's OmegaConf
    DictConfig, yacs CfgNode, ...): takes whatever the pickle hands it and runs nothing. A dict,
    because yacs' CfgNode is one (its items are set on it)."""

    def __new__(cls, *args, **kwargs):
        return dict.__new__(cls)

    def __init__(self, *args, **kwargs):
        super().__init__()

    def __setstate__(self, state):
        self.__dict__["pickled_state"] = state


def _stand_in(qualified: str) -> type:
    module, _, name = qualified.rpartition(".")
    return type(name or "Unloaded", (_Unloaded,), {"__module__": module or __name__})


def _allowed_globals() -> dict:
    """What torch's weights-only unpickler accepts (tensors, storages, dtypes, OrderedDict, ...)."""
    from torch import _weights_only_unpickler  # private, but the allowlist torch.load itself uses

    return dict(_weights_only_unpickler._get_allowed_globals())


def _restricted_pickle():
    """A pickle module for torch.load whose unpickler resolves only torch's weights-only allowlist;
    every other class or function named in the file becomes an inert stand-in."""
    allowed = _allowed_globals()

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            qualified = f"{module}.{name}"
            return allowed[qualified] if qualified in allowed else _stand_in(qualified)

    def load(file, **kwargs):
        return Unpickler(file, **kwargs).load()

    return types.SimpleNamespace(Unpickler=Unpickler, load=load, __name__="tcclip_restricted_pickle")


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a whole-model checkpoint, ``module.`` prefixes stripped.

    The official files also pickle the run's config object (OmegaConf for TC-CLIP, a yacs
    CfgNode for ViFi-CLIP), which torch's weights-only loader refuses: a restricted unpickler
    reads them instead, resolving only what that loader allows and replacing every other class
    with an inert stand-in, so no code from the file runs and neither package is needed."""
    path = Path(path)
    if not path.is_file():
        raise TcclipError(f"model.load_from: file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_restricted_pickle())
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same one-line answer
        detail = str(err).splitlines()[0] if str(err) else ""
        raise TcclipError(f"model.load_from: {path} cannot be read as a torch checkpoint "
                          f"({type(err).__name__}: {detail})") from None
    for wrapper in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TcclipError(f"model.load_from: {path} holds no state dict (expected {{'model': state_dict, ...}})")
    return OrderedDict((key.removeprefix("module."), value) for key, value in state.items())


def detect_layout(state: dict[str, torch.Tensor]) -> str | None:
    """``tc_clip``, ``vifi_clip``, ``tcclip`` (ours) or None."""
    keys = list(state)
    if any(k.startswith(("clip.", "vision.", "text.")) for k in keys):
        return "tcclip"
    if not any(k.startswith("image_encoder.") for k in keys):
        return None
    tc_marks = ("prompt_generation_layer", "local_global_bias_table", ".attn.q_proj.")
    return "tc_clip" if any(mark in k for k in keys for mark in tc_marks) else "vifi_clip"


# ---------------------------------------------------------------- official -> ours
def _rename(key: str, pairs) -> str | None:
    for source, target in pairs:
        if source.endswith("."):
            if key.startswith(source):
                return target + key[len(source):]
        elif key == source:
            return target
    return None


def _official_to_ours(key: str) -> str | None:
    return _rename(key, sorted(RENAMES, key=lambda pair: -len(pair[0])))


class _Mapper:
    """Maps one official state dict onto a model's names, refusing at the first problem."""

    def __init__(self, own: dict[str, torch.Tensor], source: str, layout: str):
        self.own, self.source, self.layout = own, source, layout
        self.mapped: dict[str, torch.Tensor] = {}
        self.qkv: dict[str, dict[str, torch.Tensor]] = {}
        self.bias_rows: dict[int, torch.Tensor] = {}

    def fail(self, what: str) -> TcclipError:
        return TcclipError(f"model.load_from: {self.source} ({self.layout} layout): {what}")

    def put(self, ours: str, tensor: torch.Tensor, theirs: str) -> None:
        if ours not in self.own:
            raise self.fail(f"cannot map key {theirs!r}: the model has no parameter {ours!r} "
                            "(another model.preset or variant?)")
        if tuple(tensor.shape) != tuple(self.own[ours].shape):
            raise self.fail(f"shape mismatch at {theirs!r}: file {tuple(tensor.shape)}, "
                            f"model {ours!r} {tuple(self.own[ours].shape)}")
        self.mapped[ours] = tensor

    def add(self, key: str, tensor: torch.Tensor) -> None:
        if key in DROPPED_BUFFERS:
            return
        if match := _QKV.match(key):
            block, part, kind = match.groups()
            self.qkv.setdefault(f"clip.visual.{block}.in_proj_{kind}", {})[part] = (key, tensor)
            return
        if match := _BIAS_TABLE.match(key):
            self._add_bias_row(int(match.group(1)), key, tensor)
            return
        ours = _official_to_ours(key)
        if ours is None:
            raise self.fail(f"cannot map key {key!r}: no rule for it (see tcclip/model/official_checkpoint.py)")
        self.put(ours, tensor, key)

    def _add_bias_row(self, layer: int, key: str, tensor: torch.Tensor) -> None:
        if BIAS not in self.own:
            raise self.fail(f"cannot map key {key!r}: the model has no local/global bias "
                            "(model.vision.local_global_bias=true and a temporal variant other than frame)")
        layers, heads = self.own[BIAS].shape[:2]
        if tuple(tensor.shape) != (heads, 1, 2) or layer >= layers:
            raise self.fail(f"shape mismatch at {key!r}: file {tuple(tensor.shape)} at layer {layer}, "
                            f"model {BIAS!r} {tuple(self.own[BIAS].shape)} (layers, heads, 2)")
        self.bias_rows[layer] = tensor[:, 0, :]

    def finish(self) -> dict[str, torch.Tensor]:
        for ours, parts in self.qkv.items():
            absent = [p for p in "qkv" if p not in parts]
            if absent:
                present = next(iter(parts.values()))[0]
                raise self.fail(f"missing key {_QKV_PART.sub(f'.{absent[0]}_proj.', present)!r}")
            self.put(ours, torch.cat([parts[p][1] for p in "qkv"]), parts["q"][0])
        if BIAS in self.own:
            self._finish_bias()
        missing = [k for k in self.own if k not in self.mapped and k not in NOT_IN_OFFICIAL]
        if missing:
            raise self.fail(f"missing key for the model's {missing[0]!r} "
                            f"({len(missing)} parameter(s) of the model not in the file)")
        return self.mapped

    def _finish_bias(self) -> None:
        """Rows 1.. come from the file; row 0 (no official counterpart, unread by TC attention) is 0."""
        own = self.own[BIAS]
        for layer in range(1, own.shape[0]):
            if layer not in self.bias_rows:
                raise self.fail(f"missing key {_OFFICIAL_BIAS_KEY.format(layer)!r} (the model has a local/global "
                                "bias; set model.vision.local_global_bias=false for a file trained without it)")
        table = torch.zeros(own.shape, dtype=own.dtype)
        for layer, row in self.bias_rows.items():
            table[layer] = row
        self.mapped[BIAS] = table


def map_official_state(state: dict[str, torch.Tensor], model: nn.Module, source: str = "checkpoint",
                       layout: str | None = None) -> dict[str, torch.Tensor]:
    """Our state dict (every key of ``model`` except NOT_IN_OFFICIAL) from an official one."""
    layout = layout or detect_layout(state) or "unknown"
    mapper = _Mapper(model.state_dict(), source, layout)
    for key, tensor in state.items():
        mapper.add(key.removeprefix("module."), tensor)
    return mapper.finish()


def _check_own_layout(state: dict[str, torch.Tensor], model: nn.Module, source: str) -> dict[str, torch.Tensor]:
    own = model.state_dict()
    fail = lambda what: TcclipError(f"model.load_from: {source} (tcclip layout): {what}")  # noqa: E731
    for key, tensor in state.items():
        if key not in own:
            raise fail(f"cannot map key {key!r}: the model has no such parameter (another model.preset or variant?)")
        if tuple(tensor.shape) != tuple(own[key].shape):
            raise fail(f"shape mismatch at {key!r}: file {tuple(tensor.shape)}, model {tuple(own[key].shape)}")
    missing = [k for k in own if k not in state]
    if missing:
        raise fail(f"missing key {missing[0]!r} ({len(missing)} parameter(s) of the model not in the file)")
    return dict(state)


def load_released(model: nn.Module, path: str | Path) -> str:
    """Load a whole-model checkpoint (official TC-CLIP / ViFi-CLIP layout, or ours) into ``model``
    in place; returns the layout detected. One-line TcclipError on anything unmappable."""
    state = read_checkpoint(path)
    layout = detect_layout(state)
    if layout is None:
        first = next(iter(state), "(none)")
        raise TcclipError(f"model.load_from: {path}: not a TC-CLIP, ViFi-CLIP or tcclip checkpoint "
                          f"(cannot map key {first!r})")
    if layout == "tcclip":
        mapped = _check_own_layout(state, model, str(path))
    else:
        mapped = map_official_state(state, model, str(path), layout)
    own = model.state_dict()
    with torch.no_grad():
        for name, tensor in mapped.items():
            own[name].copy_(tensor.to(own[name].dtype))
    log.info("model.load_from: %s (%s layout, %d tensors)", path, layout, len(mapped))
    return layout


# ---------------------------------------------------------------- ours -> official
def _ours_to_official(key: str) -> str | None:
    return _rename(key, sorted(((o, t) for t, o in RENAMES), key=lambda pair: -len(pair[0])))


def export_official(model: nn.Module, layout: str = "tc_clip", module_prefix: bool = True) -> dict:
    """Our model's weights as the official code saves them: ``{'model': state_dict, 'epoch': 0}``,
    keys as the official modules name them (``module.``-prefixed as under DDP), the vision
    attention split into q/k/v projections (``tc_clip``) and the prompt buffers that the
    official loader drops included. The inverse of ``map_official_state`` (used by the tests)."""
    if layout not in ("tc_clip", "vifi_clip"):
        raise TcclipError(f"export layout: expected tc_clip or vifi_clip, got {layout!r}")
    out: dict[str, torch.Tensor] = OrderedDict()
    for key, tensor in model.state_dict().items():
        tensor = tensor.detach().clone()
        if key in NOT_IN_OFFICIAL:
            continue
        if key == BIAS:
            for layer in range(1, tensor.shape[0]):
                out[_OFFICIAL_BIAS_KEY.format(layer)] = tensor[layer][:, None, :].clone()
            continue
        theirs = _ours_to_official(key)
        if theirs is None:
            raise TcclipError(f"export: {key!r} has no counterpart in the official {layout} model")
        split = re.match(r"^(image_encoder\.transformer\.resblocks\.\d+\.attn)\.in_proj_(weight|bias)$", theirs)
        if split and layout == "tc_clip":
            for part, chunk in zip("qkv", tensor.chunk(3)):
                out[f"{split.group(1)}.{part}_proj.{split.group(2)}"] = chunk.clone()
            continue
        out[theirs] = tensor
    out.update(_prompt_buffers(model))
    prefix = "module." if module_prefix else ""
    return {"model": OrderedDict((prefix + k, v) for k, v in out.items()), "epoch": 0}


def _prompt_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    """The embedded class prompts the official prompt learner keeps as buffers (saved, never loaded)."""
    tokens = model.class_tokens if model.class_tokens.shape[0] else torch.zeros(1, model.cfg.text.context_length,
                                                                               dtype=torch.long)
    with torch.no_grad():
        embedded = model.clip.token_embedding(tokens).detach().clone()
    if hasattr(model.text, "ctx"):
        n = model.text.ctx.shape[0]
        return {"prompt_learner.token_prefix": embedded[:, :1], "prompt_learner.token_suffix": embedded[:, 1 + n:]}
    return {"prompt_learner.complete_text_embeddings": embedded}
