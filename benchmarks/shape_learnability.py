"""Can the tiny CLIP's image tower learn the shape of the target object at all?

A diagnostic of the zero-shot positive control (issue 13): the pretrained tiny CLIP reads
colour but hardly shape, and zero-shot fine-tuning does not learn the training classes.
This trains the image tower of an architecture (``tiny-clip-p16``, ``tiny-clip-p8``),
from scratch or from given weights, with a linear head on the *labels* of the
pretraining stills (``--target shape`` or ``colour``): no text, no contrastive loss, no
colour shortcut to the target. It prints the held-out accuracy every ``--every`` steps.

If shape stays at chance here, no caption, learning rate or temperature of the
contrastive pretraining, and no video fine-tuning of a few hundred updates, can teach it:
the budget is short of what the architecture needs, whatever the objective.

    python benchmarks/shape_learnability.py --data data/synthetic --arch tiny-clip-p16 --steps 200
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from tcclip.engine.pretrain import PretrainConfig, load_pairs, normalize_images  # noqa: E402
from tcclip.engine.runtime import configure_threads  # noqa: E402
from tcclip.model.backbone import create_clip, read_state_dict  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="synthetic benchmark folder (tcclip synth OUT)")
    parser.add_argument("--arch", default="tiny-clip-p16")
    parser.add_argument("--weights", help="start from these CLIP weights (default: random init)")
    parser.add_argument("--target", choices=("shape", "colour"), default="shape")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--every", type=int, default=50)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    threads = configure_threads()
    torch.manual_seed(0)
    clip = create_clip(args.arch)
    if args.weights:
        clip.load_state_dict(read_state_dict(args.weights))
    tower = clip.visual
    vocab, images, y_train, val, y_val = labelled_stills(args.data, args.target)
    head = torch.nn.Linear(clip.text_projection.shape[1], len(vocab))
    batch = PretrainConfig.batch_size  # the pretraining's batch and optimiser (no warmup)
    optimizer = torch.optim.AdamW([*tower.parameters(), *head.parameters()], lr=args.lr, weight_decay=0.1,
                                  betas=(0.9, 0.98))
    print(f"# {args.arch}, {args.target} ({len(vocab)} classes, chance {100 / len(vocab):.1f}%), "
          f"{len(y_train)} training stills, {len(y_val)} held out, batch {batch}, lr {args.lr}, {threads} thread(s)")
    started = time.perf_counter()
    for step in range(args.steps):
        pick = torch.randint(0, len(y_train), (batch,))  # torch's global stream, seeded above
        loss = F.cross_entropy(head(tower(normalize_images(images[pick]))), y_train[pick])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if (step + 1) % args.every == 0 or step + 1 == args.steps:
            print(f"step {step + 1}: loss {loss.item():.3f}, held-out {args.target} "
                  f"{held_out_accuracy(tower, head, val, y_val):.1f}% ({time.perf_counter() - started:.0f} s)",
                  flush=True)
    return 0


def labelled_stills(data: str, target: str):
    """(class names, training images uint8, their labels, held-out images normalised, their labels)
    of the pretraining stills, labelled by their ``target`` attribute."""
    pairs = load_pairs(data)
    labels = getattr(pairs, target)
    vocab = sorted(set(labels))
    y = torch.tensor([vocab.index(v) for v in labels])
    train = torch.tensor([s == "train" for s in pairs.split])
    return vocab, pairs.images[train], y[train], normalize_images(pairs.images[~train]), y[~train]


def held_out_accuracy(tower, head, val: torch.Tensor, y_val: torch.Tensor) -> float:
    """Accuracy in % of the linear probe on the held-out stills (the tower in eval mode meanwhile)."""
    tower.eval()
    with torch.no_grad():
        accuracy = 100.0 * float((head(tower(val)).argmax(1) == y_val).float().mean())
    tower.train()
    return accuracy


if __name__ == "__main__":
    sys.exit(main())
