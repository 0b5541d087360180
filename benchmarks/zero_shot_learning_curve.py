"""Does zero-shot fine-tuning transfer at the embedded scale, and what does it learn?

Trains one zero-shot run (the protocol's `embedded:` settings, any ``key=value``
override) and scores the model before training and after every epoch on

* the Kinetics-like val set (``k400/val``: the training classes, held-out clips): is
  motion learned at all?
* one split of each zero-shot target (``hmdb51/val1``, ``ucf101/val1``,
  ``k600/zs_split1``): does it transfer?

For every set it prints top-1 and the accuracy of each *word* of the predicted class
name (colour, shape, motion: the predicted class has the true class's colour, ...),
beside two reference points that need no model: the chance of each word, and the
"colour oracle" — the top-1 of a model that knows the colour perfectly and guesses
among the classes of that colour (what an image CLIP that reads colour alone reaches).

    python benchmarks/zero_shot_learning_curve.py --catalog data/synthetic/catalog.yaml \\
        --weights results/backbone/tiny-clip-p16.pt --epochs 4 train.lr=1e-4

Each epoch runs the whole cosine schedule's share (the schedule spans ``train.epochs``),
so the curve at epoch e is the model of an e-epoch budget only at e = epochs. Eval sets
are decoded once. Threads: ``OMP_NUM_THREADS`` (1 in the suite's runs).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from tcclip.data.catalog import Catalog  # noqa: E402
from tcclip.data.dataset import VideoDataset  # noqa: E402
from tcclip.data.transforms import model_input  # noqa: E402
from tcclip.model.video_clip import VideoCLIP  # noqa: E402
from tcclip.engine.run_config import resolve_run_config, resolve_task, run_id  # noqa: E402
from tcclip.engine.runtime import configure_threads, seed_everything, setup_distributed  # noqa: E402
from tcclip.engine.train import Trainer, training_dataset  # noqa: E402

EVAL_SETS = (("k400", "val"), ("hmdb51", "val1"), ("ucf101", "val1"), ("k600", "zs_split1"))


def words(name: str) -> tuple[str, str, str]:
    """'red square passing behind a wall' -> ('red', 'square', 'passing behind a wall')."""
    colour, shape, motion = name.split(" ", 2)
    return colour, shape, motion


def decode(spec, data_cfg, batch_size: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Every test view of a set, decoded once: (video batches, labels)."""
    dataset = VideoDataset.from_split(spec, data_cfg)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=dataset.collate)
    videos, labels = [], []
    for batch in loader:
        videos.append(model_input(batch["video"]))  # uint8 pixels -> normalised, as the engine does
        labels.append(batch["label"])
    return videos, torch.cat(labels)


@torch.no_grad()
def predictions(model: VideoCLIP, videos: list[torch.Tensor], names: list[str]) -> torch.Tensor:
    model.set_class_names(names)
    model.eval()
    out = []
    for video in videos:
        b, v = video.shape[:2]
        out.append(model(video.flatten(0, 1)).float().softmax(-1).view(b, v, -1).sum(1).argmax(-1))
    return torch.cat(out)


def word_scores(predicted: torch.Tensor, labels: torch.Tensor, names: list[str]) -> dict:
    split = [words(n) for n in names]
    out = {"top1": 100.0 * float((predicted == labels).float().mean())}
    for i, word in enumerate(("colour", "shape", "motion")):
        hits = [split[p][i] == split[t][i] for p, t in zip(predicted.tolist(), labels.tolist())]
        out[word] = 100.0 * sum(hits) / len(hits)
    return out


def references(labels: torch.Tensor, names: list[str]) -> dict:
    """Chance of each word (a uniform guess over the classes) and the colour oracle's top-1."""
    split = [words(n) for n in names]
    n = len(names)
    out = {"top1": 100.0 / n}
    for i, word in enumerate(("colour", "shape", "motion")):
        out[word] = 100.0 * sum(sum(s[i] == split[t][i] for s in split) / n for t in labels.tolist()) / len(labels)
    same_colour = [sum(s[0] == split[t][0] for s in split) for t in labels.tolist()]
    out["colour_oracle"] = 100.0 * sum(1.0 / k for k in same_colour) / len(labels)
    return out


def measure(model, sets: dict) -> dict:
    return {key: word_scores(predictions(model, videos, names), labels, names)
            for key, (videos, labels, names) in sets.items()}


def print_row(tag: str, scores: dict) -> None:
    parts = [f"{key} {s['top1']:5.1f} (c {s['colour']:5.1f} s {s['shape']:5.1f} m {s['motion']:5.1f})"
             for key, s in scores.items()]
    zs = [scores[k]["top1"] for k in scores if not k.startswith("k400")]
    print(f"{tag:>10} | " + " | ".join(parts) + f" | zs mean {sum(zs) / len(zs):5.1f}", flush=True)


class CurveTrainer(Trainer):
    """The suite's Trainer, keeping each epoch's record for the curve (loss, seconds)."""

    last_record: dict = {}
    trained_s: float = 0.0

    def _train_epoch(self, epoch: int, progress) -> dict:
        record = super()._train_epoch(epoch, progress)
        self.last_record, self.trained_s = record, self.trained_s + record["seconds"]
        return record


def load_sets(cfg) -> dict:
    """Every eval set of EVAL_SETS decoded once: key -> (video batches, labels, class names)."""
    catalog = Catalog.load(cfg.protocol.catalog)
    sets = {}
    for dataset, split in EVAL_SETS:
        spec = catalog.split(dataset, split)
        videos, labels = decode(spec, cfg.data.replace(mode="test"), cfg.eval.batch_size)
        sets[f"{dataset}/{split}"] = (videos, labels, spec.prompt_names(cfg.class_names))
    return sets


def train_curve(cfg, sets: dict) -> list[dict]:
    """Scores before training and after every epoch of one run."""
    task = resolve_task(cfg)
    seed_everything(cfg.seed)
    model = VideoCLIP.build(cfg.model)
    curve = [{"epoch": 0, "updates": 0, "seconds": 0.0, "scores": measure(model, sets)}]
    print_row("epoch 0", curve[0]["scores"])
    train_names = task.train.prompt_names(cfg.class_names)
    model.set_class_names(train_names)
    dataset = training_dataset(cfg, task)  # data.shuffle_labels applied, as in every run
    box: list[CurveTrainer] = []

    def validator(m, epoch):
        trainer, scores = box[0], measure(m, sets)
        m.set_class_names(train_names)
        loss = trainer.last_record
        curve.append({"epoch": epoch, "updates": trainer.update, "seconds": round(trainer.trained_s, 1),
                      "train_loss": loss["loss"], "scores": scores})
        print_row(f"epoch {epoch}", scores)
        print(f"#   {trainer.update} updates, {trainer.trained_s:.0f} s of training so far, epoch's mean training "
              f"loss {loss['loss']:.3f} (last update {loss['last_loss']:.3f})", flush=True)
        return None  # no best-epoch selection

    with tempfile.TemporaryDirectory() as tmp:
        box.append(CurveTrainer(model, dataset, len(train_names), cfg.train, cfg.seed, Path(tmp),
                                setup_distributed("cpu"), validator=validator))
        box[0].fit(resume="never")
    return curve


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--weights", required=True, help="the tiny CLIP's pretrained state dict")
    parser.add_argument("--preset", default="vifi_clip")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--json", help="write the curve here too")
    parser.add_argument("overrides", nargs="*", help="key=value run-config overrides (train.lr=3e-4, data.num_frames=8)")
    args = parser.parse_args()
    overrides = [f"protocol.catalog={args.catalog}", f"model.preset={args.preset}",
                 f"model.backbone.weights={args.weights}", f"train.epochs={args.epochs}", *args.overrides]
    cfg = resolve_run_config(["embedded"], overrides)
    threads = configure_threads()
    tic = time.perf_counter()
    sets = load_sets(cfg)
    print(f"# {threads} thread(s); eval sets decoded in {time.perf_counter() - tic:.1f} s: "
          + ", ".join(f"{k} {len(v[1])} clips / {len(v[2])} classes" for k, v in sets.items()), flush=True)
    print("# train:", {k: getattr(cfg.train, k) for k in ("epochs", "lr", "warmup_epochs", "total_batch")},
          "frames", cfg.data.num_frames, "preset", args.preset, "run id", run_id(cfg), flush=True)
    for key, (_, labels, names) in sets.items():
        ref = references(labels, names)
        print(f"# reference {key}: " + ", ".join(f"{k} {v:.1f}" for k, v in ref.items()), flush=True)
    curve = train_curve(cfg, sets)
    if args.json:
        Path(args.json).write_text(json.dumps({"overrides": overrides, "curve": curve}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
