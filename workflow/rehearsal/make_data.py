"""The data and weights of the paper-scale rehearsal (workflow/config/rehearsal.yaml).

    python workflow/rehearsal/make_data.py workflow/config/rehearsal.yaml

Reads the workflow config and writes what a researcher would have on disk, at a few videos
and classes, beside the config's ``catalog`` file:
  * that catalog: the packaged real-data catalog (tcclip/resources/datasets_real.yaml), copied
    byte for byte; its relative paths then name the files below instead of the packaged ones;
  * every label file it names, cut to its first LABELS classes (CLIP's text tower over
    Kinetics-400's 400 names is most of a step's cost on a CPU), and every split list it names
    for the datasets of ``roots``, cut to the first entry of each of its first CLASSES labels
    (real relative paths and labels, in the list's order);
  * Kinetics-400's training list, which is not shipped, built as a user builds it (``lists``:
    k400/train): videos in a folder-per-class copy, ROOT/train/<class name>/<id>.mp4 (ids of
    the shipped validation list's first entries of the first LABELS classes), indexed by
    `tcclip data index`'s code;
  * a short H.264 video at every path these lists name, under the dataset's ``roots`` folder,
    at 224 px (298 x 224: the paper's pipeline resizes the short side to 256 and crops 224),
    a moving shape drawn by the synthetic benchmark's functions on its backgrounds,
    deterministic from the path;
  * ``backbone.weights``: a random ViT-B-16-quickgelu state dict (seeded) in OpenAI's key
    layout and dtype (fp16, plus the archive's input_resolution / context_length /
    vocab_size entries), what `tcclip check-weights` and every run then load.
Files that exist with the same content are left alone, so a second call changes nothing
(and Snakemake sees nothing new).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

LABELS = 4             # classes kept of every label file
CLASSES = 2            # entries kept of every split list: the first video of each of its first 2 labels
FRAMES = 16            # per video (the rehearsal samples 2 of them)
HEIGHT, WIDTH = 224, 298
WEIGHTS_SEED = 0
K400_TRAIN = "k400/train"
K400_TRAIN_IDS = "k400/val"   # the shipped list whose video ids the training copy takes


def _digest_seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def render_clip(key: str) -> np.ndarray:
    """(FRAMES, HEIGHT, WIDTH, 3) uint8: a shape crossing a cluttered background, seeded by ``key``."""
    from tcclip.synth.render import RGB, background, composite, shape_alpha
    from tcclip.synth.vocab import SHAPES

    rng = np.random.default_rng(_digest_seed(key))
    side = WIDTH  # the drawing functions draw squares: draw WIDTH x WIDTH, keep HEIGHT rows
    frames = np.repeat(background(rng, side)[None], FRAMES, axis=0)
    steps = np.linspace(0.0, 1.0, FRAMES, dtype=np.float32)
    radius = float(rng.uniform(20, 40))
    x0, x1 = (radius + 10, side - radius - 10)[:: int(rng.choice([-1, 1]))]
    y = float(rng.uniform(radius + 10, HEIGHT - radius - 10))
    alpha = shape_alpha(SHAPES[rng.integers(len(SHAPES))], x0 + (x1 - x0) * steps, np.full(FRAMES, y),
                        np.full(FRAMES, radius), steps * np.pi, side)
    colour = list(RGB.values())[rng.integers(len(RGB))]
    composite(frames, alpha, colour)
    return np.clip(np.rint(frames[:, :HEIGHT]), 0, 255).astype(np.uint8)


def write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def first_of_each_class(entries, classes: int):
    """The first entry of each of the first ``classes`` labels met, in the list's order."""
    kept, labels = [], set()
    for entry in entries:
        if entry.label not in labels and len(labels) < classes:
            labels.add(entry.label)
            kept.append(entry)
    return kept


def render_videos(root: Path, paths: list[str]) -> int:
    from tcclip.data.video import write_video

    made = 0
    for rel in paths:
        target = root / rel
        if not target.is_file():
            write_video(target, render_clip(f"{root.name}/{rel}"))
            made += 1
    return made


def first_of_labels(entries, classes: int):
    """The first entry of each label below ``classes``, in the list's order."""
    return first_of_each_class([e for e in entries if e.label < classes], classes)


def cut_catalog(catalog, datasets: list[str], out_dir: Path) -> None:
    """The catalog's label files and (for ``datasets``) split lists, cut, under ``out_dir`` at the
    relative paths the catalog names; the lists' videos rendered under the datasets' roots."""
    from tcclip import paths
    from tcclip.data.annotations import read_annotation_list

    for name, info in catalog.datasets.items():
        for split, entry in (info.get("splits") or {}).items():
            entry = entry if isinstance(entry, dict) else {"list": entry}
            labels = entry.get("labels") or info["labels"]
            head = (paths.RESOURCES / labels).read_text().splitlines(keepends=True)[: LABELS + 1]
            write_if_changed(out_dir / labels, "".join(head))
            if name not in datasets or not entry.get("list"):
                continue
            kept = first_of_labels(read_annotation_list(paths.RESOURCES / entry["list"]), CLASSES)
            write_if_changed(out_dir / entry["list"], "".join(f"{e.path} {e.label}\n" for e in kept))
            made = render_videos(Path(info["root"]), [e.path for e in kept])
            print(f"{name}/{split}: {len(kept)} entries -> {out_dir / entry['list']} ({made} videos rendered)")


def k400_training_list(catalog, root: Path, out: Path) -> None:
    """Kinetics-400's training list as a user builds it: a folder-per-class copy, indexed."""
    from tcclip.data.annotations import read_annotation_list
    from tcclip.data.index import build_index

    from tcclip import paths

    dataset, _, split = K400_TRAIN_IDS.partition("/")
    spec = catalog.split(dataset, split)  # the cut label file
    shipped = paths.RESOURCES / Path(spec.annotation_list).resolve().relative_to(catalog.path.parent.resolve())
    kept = first_of_labels(read_annotation_list(shipped), LABELS)
    made = render_videos(root, [f"train/{spec.class_names[e.label]}/{Path(e.path).name}" for e in kept])
    entries, _ = build_index(root / "train", label_file=spec.label_file, relative_to=root)
    write_if_changed(out, "".join(f"{e.path} {e.label}\n" for e in entries))
    print(f"{K400_TRAIN}: {len(entries)} videos of {root / 'train'} indexed -> {out} ({made} videos rendered)")


def openai_layout_weights(arch: str, out: Path) -> None:
    """A seeded random state dict of ``arch`` as OpenAI's release holds it: fp16 parameters under
    CLIP's own names, plus the archive's three metadata entries."""
    import torch

    from tcclip.model.backbone import create_clip

    if out.is_file():
        print(f"weights: {out} exists")
        return
    torch.manual_seed(WEIGHTS_SEED)
    model = create_clip(arch)
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    visual = model.visual
    state.update(input_resolution=torch.tensor(visual.image_size[0]), context_length=torch.tensor(model.context_length),
                 vocab_size=torch.tensor(model.vocab_size))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    torch.save(state, tmp)
    tmp.replace(out)
    print(f"weights: {len(state)} entries ({arch}, seed {WEIGHTS_SEED}) -> {out}")


def main(argv: list[str] | None = None) -> int:
    import shutil

    import yaml

    from tcclip import paths
    from tcclip.data.catalog import Catalog

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="the rehearsal's workflow config (workflow/config/rehearsal.yaml)")
    args = parser.parse_args(argv)
    cfg = yaml.safe_load(Path(args.config).read_text())
    catalog_file = Path(cfg["catalog"])
    catalog_file.parent.mkdir(parents=True, exist_ok=True)
    if not catalog_file.is_file() or catalog_file.read_bytes() != paths.REAL_CATALOG.read_bytes():
        shutil.copyfile(paths.REAL_CATALOG, catalog_file)
    roots = {name: Path(path) for name, path in cfg["roots"].items()}
    cut_catalog(Catalog.load(paths.REAL_CATALOG, roots=roots), list(roots), catalog_file.parent)
    catalog = Catalog.load(catalog_file, roots=roots)
    for key, out in cfg["lists"].items():
        if key != K400_TRAIN:
            raise SystemExit(f"lists.{key}: only {K400_TRAIN} is built here (the others are the catalog's, cut)")
        k400_training_list(catalog, roots["k400"], Path(out))
    openai_layout_weights(cfg["backbone"]["arch"], Path(cfg["backbone"]["weights"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
