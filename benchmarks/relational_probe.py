"""Probe: can each temporal variant tell the relational SSv2-like classes apart?

For each temporal variant of tcclip/model/temporal.py (frame-wise, cross-frame, window,
joint, TC) the pretrained tiny CLIP's vision encoder, frozen, turns every clip into its
video feature (mean over frames of the projected [CLS]); a linear softmax head is trained
on the training clips' features and scored on held-out clips. For the frame-wise variant
a linear head on the mean feature is exactly a sum of per-frame scores, the form the
relational set is built to defeat (tcclip/synth/relational.py): it should stay
at chance, the others should not.

Clips are rendered in memory with the benchmark's renderer (24-32 frames, as the
default size writes them), then T frames are taken by TSN sampling (a random frame per
segment for training clips, the centre one for held-out clips) and centre-cropped 72 -> 64
as the embedded evaluation does; no mp4 round trip.

    python benchmarks/relational_probe.py --clip results/backbone/tiny-clip-p16.pt
    python benchmarks/relational_probe.py --clip CLIP --diameter 8 14 --distractors 3 6

Prints one line per variant: held-out accuracy with its 95% Wilson interval, chance,
and the accuracy of the colour relation and of the backdrop relation read off the
predicted class. Threads from TCCLIP_THREADS (default 1).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import binomtest  # noqa: E402

from tcclip.data import transforms  # noqa: E402
from tcclip.data.sampling import centre_indices, train_indices  # noqa: E402
from tcclip.synth.relational import RELATIONS, RelationalStyle, relational_classes, render_relational  # noqa: E402
from tcclip.model.backbone import BackboneConfig, build_clip  # noqa: E402
from tcclip.model.temporal import TemporalVisionEncoder, VisionConfig  # noqa: E402

VARIANTS = ("frame", "cross_frame", "window", "joint", "tc")


def render_set(n: int, seed: int, frames: int, style: RelationalStyle, train: bool) -> tuple[torch.Tensor, np.ndarray]:
    """n clips, classes balanced: normalised (n, T, 3, 64, 64) and labels (n,)."""
    classes = relational_classes()
    clips, labels = [], np.arange(n) % len(classes)
    for i, label in enumerate(labels):
        rng = np.random.default_rng([seed, int(train), i])
        video = render_relational(classes[label], int(rng.integers(24, 33)), rng, style)
        index = train_indices(len(video), frames, rng) if train else centre_indices(len(video), frames)
        box = transforms.center_crop_box(video.shape[1], video.shape[2], 72, 64)
        clips.append(transforms.normalize(transforms.crop_resize(video[index], box, 64)))
    return torch.stack(clips), labels


def vision_config(variant: str) -> VisionConfig:
    """The embedded scale's settings: 8 context tokens for TC, the local/global bias off for frame-wise."""
    return VisionConfig(temporal=variant, num_context=8 if variant == "tc" else 0, local_global_bias=variant != "frame")


@torch.no_grad()
def video_features(clip, variant: str, videos: torch.Tensor, batch: int = 64) -> torch.Tensor:
    encoder = TemporalVisionEncoder(clip.visual, vision_config(variant))
    return torch.cat([encoder(clip.visual, videos[i : i + batch]).video for i in range(0, len(videos), batch)])


def linear_probe(train_x, train_y, test_x, steps: int, num_classes: int, seed: int) -> np.ndarray:
    """Softmax regression on standardised features (full batch, Adam); predicted test labels."""
    torch.manual_seed(seed)
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    xs, xt = (train_x - mean) / std, (test_x - mean) / std
    head = torch.nn.Linear(xs.shape[1], num_classes)
    optim = torch.optim.Adam(head.parameters(), lr=0.01, weight_decay=1e-4)
    target = torch.as_tensor(train_y)
    for _ in range(steps):
        optim.zero_grad()
        torch.nn.functional.cross_entropy(head(xs), target).backward()
        optim.step()
    with torch.no_grad():
        return head(xt).argmax(1).numpy()


def finetune(args, variant: str, train_v, train_y, test_v, num_classes: int) -> np.ndarray:
    """The vision encoder (CLIP's ViT + the variant's parameters) and a linear head trained
    together for ``args.finetune`` steps on the video feature; predicted test labels."""
    torch.manual_seed(args.seed)
    clip = build_clip(BackboneConfig(arch=args.arch, weights=args.clip))
    encoder = TemporalVisionEncoder(clip.visual, vision_config(variant))
    head = torch.nn.Linear(clip.visual.output_dim, num_classes)
    optim = torch.optim.AdamW([{"params": [*clip.visual.parameters(), *encoder.parameters()], "lr": args.lr},
                               {"params": head.parameters(), "lr": 10 * args.lr}], weight_decay=0.01)
    rng = np.random.default_rng(args.seed)
    target = torch.as_tensor(train_y)
    clip.train()
    for _ in range(args.finetune):
        batch = torch.as_tensor(rng.choice(len(train_v), size=args.batch, replace=False))
        optim.zero_grad()
        torch.nn.functional.cross_entropy(head(encoder(clip.visual, train_v[batch]).video), target[batch]).backward()
        optim.step()
    clip.eval()
    with torch.no_grad():
        logits = [head(encoder(clip.visual, test_v[i : i + 64]).video) for i in range(0, len(test_v), 64)]
    return torch.cat(logits).argmax(1).numpy()


def report(variant: str, predicted: np.ndarray, truth: np.ndarray, seconds: float) -> str:
    classes = relational_classes()
    hits = int((predicted == truth).sum())
    low, high = binomtest(hits, len(truth)).proportion_ci(0.95, method="wilson")
    colour = np.mean([classes[p].colour == classes[t].colour for p, t in zip(predicted, truth)])
    backdrop = np.mean([classes[p].backdrop == classes[t].backdrop for p, t in zip(predicted, truth)])
    return (f"{variant:12s} {100 * hits / len(truth):5.1f}% [{100 * low:4.1f}, {100 * high:4.1f}]  "
            f"colour relation {100 * colour:5.1f}%  backdrop relation {100 * backdrop:5.1f}%  ({seconds:.0f} s)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", required=True, help="pretrained tiny CLIP weights (tcclip pretrain-clip --out)")
    parser.add_argument("--arch", default="tiny-clip-p16")
    parser.add_argument("--train", type=int, default=2000, help="training clips")
    parser.add_argument("--test", type=int, default=800, help="held-out clips")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--steps", type=int, default=300, help="linear-head optimisation steps")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--diameter", nargs=2, type=float, default=list(RelationalStyle().diameter))
    parser.add_argument("--distractors", nargs=2, type=int, default=list(RelationalStyle().distractors))
    parser.add_argument("--tint", type=float, default=RelationalStyle().tint, help="backdrop tint weight")
    parser.add_argument("--finetune", type=int, default=0, metavar="STEPS",
                        help="instead of a linear head on frozen features, fine-tune encoder + head this many steps")
    parser.add_argument("--lr", type=float, default=1e-4, help="fine-tuning learning rate of the encoder (head: 10x)")
    parser.add_argument("--batch", type=int, default=32, help="fine-tuning batch (clips)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("TCCLIP_THREADS", "1")))
    style = RelationalStyle(diameter=tuple(args.diameter), distractors=tuple(args.distractors), tint=args.tint)
    start = time.perf_counter()
    train_v, train_y = render_set(args.train, args.seed, args.frames, style, train=True)
    test_v, test_y = render_set(args.test, args.seed, args.frames, style, train=False)
    num_classes = len(relational_classes())
    how = f"fine-tune {args.finetune} steps, batch {args.batch}, lr {args.lr}" if args.finetune else \
        f"linear head on frozen features, {args.steps} steps"
    print(f"{style}; {args.train} training / {args.test} held-out clips, T={args.frames}, {how}; "
          f"rendered in {time.perf_counter() - start:.0f} s; chance {100 / num_classes:.2f}% "
          f"(colour relation {100 / len(RELATIONS):.0f}%, backdrop relation {100 / len(RELATIONS):.0f}%)", flush=True)
    clip = build_clip(BackboneConfig(arch=args.arch, weights=args.clip)).eval()
    for variant in args.variants:
        start = time.perf_counter()
        if args.finetune:
            predicted = finetune(args, variant, train_v, train_y, test_v, num_classes)
        else:
            features = video_features(clip, variant, torch.cat([train_v, test_v]))
            predicted = linear_probe(features[: args.train], train_y, features[args.train :], args.steps, num_classes,
                                     args.seed)
        print(report(variant, predicted, test_y, time.perf_counter() - start), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
