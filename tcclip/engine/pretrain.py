"""Contrastive image-text pretraining of the embedded scale's tiny CLIP.

No pretrained weights can be downloaded at the embedded scale, so the suite makes its
own "CLIP weights": an open_clip CLIP of a shipped tiny architecture (``tiny-clip-p16``)
trained with the symmetric InfoNCE loss on the synthetic still image–caption pairs.
The output is a plain state dict of the open_clip model, the same format the paper
scale's backbone loader reads, so ``build_clip(BackboneConfig(arch, weights=path))``
loads it like OpenAI's weights.

Images are normalised exactly like video frames (ImageNet mean/std on the 0-255
scale), and captions are encoded at the video model's text length (30): CLIP's text
mask is causal and the feature is read at [EOT], so a shorter context gives the same
features for captions that fit, at a fraction of the cost.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F

from tcclip.engine.checkpoint import atomic_torch_save, atomic_write_json
from tcclip.config import to_dict
from tcclip.errors import ConfigError, TcclipError
from tcclip.model.backbone import create_clip
from tcclip.model.prompts import TextSide
from tcclip.engine.optim import WarmupCosine
from tcclip.engine.runtime import configure_threads, seed_everything

log = logging.getLogger("tcclip.engine.pretrain")


@dataclass
class PretrainConfig:
    arch: str = "tiny-clip-p16"
    """Architecture of the CLIP to train (a shipped tiny config or an open_clip name)."""
    steps: int = 250
    """Contrastive steps of ``batch_size`` pairs. What 250 steps teach (colour, hardly shape) and
    what more would cost: benchmarks/README.md, section 9."""
    batch_size: int = 128
    lr: float = 1e-3
    warmup_steps: int = 25
    min_lr_ratio: float = 0.01
    weight_decay: float = 0.1
    context_length: int = 30
    seed: int = 0
    log_every: int = 50

    def validate(self) -> None:
        if self.steps < 1 or self.batch_size < 2:
            raise ConfigError(f"pretrain: steps >= 1 and batch_size >= 2 expected, got {self.steps}, {self.batch_size}")
        if self.context_length < 8:
            raise ConfigError(f"pretrain.context_length: must be >= 8, got {self.context_length}")


# ---------------------------------------------------------------- data
@dataclass
class CaptionPairs:
    images: torch.Tensor  # uint8 (N, 3, H, W)
    captions: list[str]
    split: list[str]  # "train" | "val" per pair
    colour: list[str]
    shape: list[str]

    def subset(self, keep: list[int]) -> "CaptionPairs":
        return CaptionPairs(self.images[keep], *([getattr(self, f)[i] for i in keep]
                                                  for f in ("captions", "split", "colour", "shape")))


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float, normalised as the video frames are."""
    from tcclip.data.transforms import IMAGENET_MEAN, IMAGENET_STD

    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images.float() - mean) / std


def load_pairs(root: str | Path) -> CaptionPairs:
    """The still image–caption pairs of a synthetic benchmark (``tcclip synth`` OUT folder:
    ``captions.csv`` with image, caption, colour, shape, split columns; PNG images)."""
    import csv

    from PIL import Image

    root = Path(root)
    table = root / "captions.csv"
    if not table.is_file():
        raise TcclipError(f"{root}: no captions.csv; generate the benchmark with tcclip synth (images on)")
    with table.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = {"image", "caption", "split", "colour", "shape"} - set(rows[0] if rows else {})
    if missing:
        raise TcclipError(f"{table}: missing column(s) {', '.join(sorted(missing))}")
    images = []
    for line, row in enumerate(rows, start=2):
        path = root / row["image"]
        try:
            with Image.open(path) as image:
                images.append(np.asarray(image.convert("RGB")))
        except (OSError, ValueError) as err:
            raise TcclipError(f"{table}:{line}: image {path} cannot be read ({err})") from None
    pixels = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return CaptionPairs(pixels, [r["caption"] for r in rows], [r["split"] for r in rows],
                        [r["colour"] for r in rows], [r["shape"] for r in rows])


# ---------------------------------------------------------------- model pieces
def encode_text(clip, tokens: torch.Tensor) -> torch.Tensor:
    """CLIP's text tower on a context shorter than its positional embedding (truncated, not interpolated).

    Positions after the last [EOT] of the batch are cut off first: under the causal mask
    they cannot change any [EOT] feature, and captions use ~10 of the 30 positions.
    """
    tokens = tokens[:, : int(tokens.argmax(dim=-1).max()) + 1]
    x = clip.token_embedding(tokens) + clip.positional_embedding[: tokens.shape[1]]
    x = TextSide.run_blocks(clip, x, clip.transformer.resblocks)
    return TextSide.pool(clip, x, tokens)


def clip_loss(image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor,
              caption_ids: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE. Synthetic captions repeat, so pairs with the same caption are all
    positives (uniform soft target over them) instead of negatives of each other."""
    image_features = F.normalize(image_features, dim=-1)
    text_features = F.normalize(text_features, dim=-1)
    logits = logit_scale.exp().clamp(max=100) * image_features @ text_features.t()
    same = (caption_ids[:, None] == caption_ids[None, :]).float()
    target = same / same.sum(dim=1, keepdim=True)
    image_to_text = -(target * logits.log_softmax(dim=1)).sum(1).mean()
    text_to_image = -(target * logits.t().log_softmax(dim=1)).sum(1).mean()
    return 0.5 * (image_to_text + text_to_image)


@torch.no_grad()
def zero_shot_attributes(clip, pairs: CaptionPairs, context_length: int, batch: int = 256) -> dict:
    """Zero-shot classification of images among every "a {colour} {shape}" prompt: accuracy
    of the pair, of the colour alone and of the shape alone (in %, with chance levels)."""
    was_training = clip.training
    clip.eval()
    colours, shapes = sorted(set(pairs.colour)), sorted(set(pairs.shape))
    combos = [(c, s) for c in colours for s in shapes]
    tokens = open_clip.tokenize([f"a {c} {s}" for c, s in combos], context_length=context_length)
    text = F.normalize(encode_text(clip, tokens), dim=-1)
    predicted = []
    for start in range(0, pairs.images.shape[0], batch):
        feats = F.normalize(clip.encode_image(normalize_images(pairs.images[start:start + batch])), dim=-1)
        predicted += (feats @ text.t()).argmax(-1).tolist()
    clip.train(was_training)
    n = len(predicted)
    hit_colour = sum(combos[p][0] == c for p, c in zip(predicted, pairs.colour))
    hit_shape = sum(combos[p][1] == s for p, s in zip(predicted, pairs.shape))
    hit_both = sum(combos[p] == (c, s) for p, c, s in zip(predicted, pairs.colour, pairs.shape))
    return {
        "images": n,
        "colour_shape": 100.0 * hit_both / n, "colour_shape_chance": 100.0 / len(combos),
        "colour": 100.0 * hit_colour / n, "colour_chance": 100.0 / len(colours),
        "shape": 100.0 * hit_shape / n, "shape_chance": 100.0 / len(shapes),
    }


# ---------------------------------------------------------------- training
def pretrain_clip(pairs: CaptionPairs, cfg: PretrainConfig, out: str | Path) -> dict:
    """Train a CLIP from scratch on the training pairs; write its state dict to ``out`` and a
    report (loss, zero-shot colour/shape accuracy on the val images) to ``out`` with .json."""
    cfg.validate()
    threads = configure_threads()
    seed_everything(cfg.seed)
    train = pairs.subset([i for i, s in enumerate(pairs.split) if s == "train"])
    val = pairs.subset([i for i, s in enumerate(pairs.split) if s != "train"])
    if len(train.captions) < cfg.batch_size:
        raise TcclipError(f"pretrain: {len(train.captions)} training pairs, fewer than batch_size {cfg.batch_size}")
    clip = _checked_clip(cfg, train.images.shape[-1])
    losses, wall = _contrastive_steps(clip, train, cfg)
    evaluation = zero_shot_attributes(clip, val if val.captions else train, cfg.context_length)
    out = Path(out)
    atomic_torch_save({k: v.detach().clone() for k, v in clip.state_dict().items()}, out)
    report = {
        "weights": str(out),
        "arch": cfg.arch,
        "config": to_dict(cfg),
        "train_pairs": len(train.captions),
        "val_images": len(val.captions),
        "steps": cfg.steps,
        "wall_s": round(wall, 2),
        "steps_per_s": round(cfg.steps / wall, 3),
        "threads": threads,
        "first_loss": losses[0],
        "final_loss": float(np.mean(losses[-max(1, min(20, len(losses) // 5)):])),  # last fifth, at most 20 steps
        "zero_shot_val": evaluation,
    }
    atomic_write_json(report, out.with_suffix(".json"))
    log.info("pretrained %s in %.1f s: loss %.3f -> %.3f; val zero-shot colour+shape %.1f%% (chance %.1f%%), "
             "colour %.1f%%, shape %.1f%%", cfg.arch, wall, report["first_loss"], report["final_loss"],
             evaluation["colour_shape"], evaluation["colour_shape_chance"], evaluation["colour"], evaluation["shape"])
    return report


def _checked_clip(cfg: PretrainConfig, image_side: int):
    """A freshly initialised CLIP of ``cfg.arch`` (torch's seeded global stream), checked against the
    context length and the images' side."""
    clip = create_clip(cfg.arch)
    if cfg.context_length > clip.positional_embedding.shape[0]:
        raise ConfigError(f"pretrain.context_length {cfg.context_length} exceeds the architecture's {clip.positional_embedding.shape[0]}")
    side = clip.visual.image_size[0] if isinstance(clip.visual.image_size, (tuple, list)) else clip.visual.image_size
    if image_side != side:
        raise TcclipError(f"pretrain: images are {image_side} px, architecture {cfg.arch} takes {side} px")
    return clip


def _optimizer(clip, cfg: PretrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on embeddings, biases or norms)."""
    decay = [p for name, p in clip.named_parameters() if p.ndim > 1 and "embedding" not in name]
    no_decay = [p for name, p in clip.named_parameters() if not (p.ndim > 1 and "embedding" not in name)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)


def _contrastive_steps(clip, train: CaptionPairs, cfg: PretrainConfig) -> tuple[list[float], float]:
    """``cfg.steps`` InfoNCE updates on batches drawn without replacement (a new permutation per
    pass); returns each step's loss and the seconds they took."""
    tokens = open_clip.tokenize(train.captions, context_length=cfg.context_length)
    distinct = {c: i for i, c in enumerate(sorted(set(train.captions)))}
    caption_ids = torch.tensor([distinct[c] for c in train.captions])
    optimizer = _optimizer(clip, cfg)
    schedule = WarmupCosine(cfg.lr, cfg.steps, cfg.warmup_steps, cfg.min_lr_ratio)
    generator = torch.Generator().manual_seed(cfg.seed + 1)
    n = len(train.captions)
    clip.train()
    started = time.perf_counter()
    losses: list[float] = []
    permutation, cursor = torch.randperm(n, generator=generator), 0
    for step in range(cfg.steps):
        if cursor + cfg.batch_size > n:  # a new pass over the pairs
            permutation, cursor = torch.randperm(n, generator=generator), 0
        batch = permutation[cursor:cursor + cfg.batch_size]
        cursor += cfg.batch_size
        schedule.apply(optimizer, step)
        loss = clip_loss(clip.encode_image(normalize_images(train.images[batch])), encode_text(clip, tokens[batch]),
                         clip.logit_scale, caption_ids[batch])
        if not torch.isfinite(loss):
            raise TcclipError(f"pretrain: loss is {loss.item()} at step {step + 1}; lower pretrain lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if cfg.log_every and (step + 1) % cfg.log_every == 0:
            log.info("pretrain step %d/%d: loss %.4f (%.2f steps/s)", step + 1, cfg.steps,
                     float(np.mean(losses[-cfg.log_every:])), (step + 1) / (time.perf_counter() - started))
    return losses, time.perf_counter() - started
