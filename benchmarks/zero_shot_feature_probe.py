"""What do the pretrained tiny CLIP's frame features carry about the Kinetics-like classes?

A diagnostic of the zero-shot positive control: logistic-regression probes on frozen
features of the (pretrained, untrained-on-video) CLIP image tower, fitted on the k400
training clips and scored on the k400 val clips, for the class and for each word of its
name (colour, shape, motion), from

* ``mean``: the mean over frames of the projected [CLS] — what a frame-wise model
  (ViFi-CLIP, vanilla CLIP) can use;
* ``concat``: the frames' features side by side — what a model relating frames could use.

If a word is not decodable from ``mean`` with a probe trained on all training clips,
fine-tuning a frame-wise model within the embedded budget is unlikely to learn it.

    python benchmarks/zero_shot_feature_probe.py --catalog data/synthetic/catalog.yaml \\
        --weights results/backbone/tiny-clip-p16.pt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from tcclip.data.catalog import Catalog  # noqa: E402
from tcclip.data.dataset import VideoDataset  # noqa: E402
from tcclip.data.transforms import model_input  # noqa: E402
from tcclip.model.backbone import BackboneConfig, build_clip  # noqa: E402
from tcclip.engine.run_config import resolve_run_config  # noqa: E402
from tcclip.engine.runtime import configure_threads  # noqa: E402


@torch.no_grad()
def frame_features(clip, spec, data_cfg) -> tuple[np.ndarray, np.ndarray]:
    """(N, T, D) projected [CLS] of every frame of one centre view per clip, and labels."""
    dataset = VideoDataset.from_split(spec, data_cfg)
    feats, labels = [], []
    for batch in DataLoader(dataset, batch_size=32, collate_fn=dataset.collate):
        video = model_input(batch["video"][:, 0])  # (B, T, 3, S, S): the one test view, normalised
        b, t = video.shape[:2]
        feats.append(clip.encode_image(video.flatten(0, 1)).view(b, t, -1))
        labels.append(batch["label"])
    return torch.cat(feats).numpy(), torch.cat(labels).numpy()


def probe(train_x, train_y, val_x, val_y, steps: int = 300, weight_decay: float = 1e-3) -> float:
    """Multinomial logistic regression (standardised features, full-batch Adam): val accuracy in %."""
    torch.manual_seed(0)
    x, v = torch.as_tensor(train_x, dtype=torch.float32), torch.as_tensor(val_x, dtype=torch.float32)
    mean, std = x.mean(0), x.std(0) + 1e-6
    x, v = (x - mean) / std, (v - mean) / std
    y = torch.as_tensor(train_y, dtype=torch.long)
    head = torch.nn.Linear(x.shape[1], int(y.max()) + 1)
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2, weight_decay=weight_decay)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(head(x), y).backward()
        optimizer.step()
    with torch.no_grad():
        return 100.0 * float((head(v).argmax(-1).numpy() == np.asarray(val_y)).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--arch", default="tiny-clip-p16")
    args = parser.parse_args()
    configure_threads()
    cfg = resolve_run_config(["embedded"], [f"protocol.catalog={args.catalog}"])
    catalog = Catalog.load(args.catalog)
    clip = build_clip(BackboneConfig(args.arch, weights=None if args.weights == "null" else args.weights)).eval()
    test = cfg.data.replace(mode="test", num_clips=1, num_crops=1)
    train_spec, val_spec = catalog.split("k400", "train"), catalog.split("k400", "val")
    names = train_spec.class_names
    train_f, train_y = frame_features(clip, train_spec, test)
    val_f, val_y = frame_features(clip, val_spec, test)
    words = [n.split(" ", 2) for n in names]
    print(f"# k400: {len(train_y)} training clips, {len(val_y)} val clips, {len(names)} classes, "
          f"{train_f.shape[1]} frames, feature {train_f.shape[2]}")
    for view, (tx, vx) in {"mean": (train_f.mean(1), val_f.mean(1)),
                           "concat": (train_f.reshape(len(train_f), -1), val_f.reshape(len(val_f), -1))}.items():
        scores = {"class": probe(tx, train_y, vx, val_y)}
        for i, word in enumerate(("colour", "shape", "motion")):
            vocab = sorted({w[i] for w in words})
            to_id = lambda ys: np.array([vocab.index(words[y][i]) for y in ys])  # noqa: E731
            scores[word] = probe(tx, to_id(train_y), vx, to_id(val_y))
        print(f"probe on {view:>6} features: " + ", ".join(f"{k} {v:.1f}%" for k, v in scores.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
