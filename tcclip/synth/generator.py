"""`tcclip synth`: the embedded-scale video benchmark, rendered and written like the real data.

Output layout (``OUT``)::

    videos/<dataset>/...mp4        H.264/yuv420p, 72x72, 10 fps, 24-32 frames (default size)
    labels/<name>_labels.csv       id,name  (+ <name>_labels_rephrased.json: "Name: description")
    splits/<dataset>_splits/*.txt  relative/path.mp4 <label>
    splits/base2novel_splits/<dataset>_splits/*.txt
    images/{train,val}/*.png + captions.csv    still images + captions for pretraining CLIP
    catalog.yaml                   dataset catalog (same dataset/split names as the real one)
    manifest.json                  seed, size, generator version, counts, chance levels, and every
                                   file written with its sha256 + one fingerprint over them all
    .tcclip-synth.lock             held while a synth writes here (see files.py)

Datasets (named after the real dataset whose role they play):

* ``k400`` Kinetics-like training set: "<colour> <shape> <motion>" classes covering every
  word; train (folder-per-class, like Kinetics) and val lists.
* ``hmdb51``, ``ucf101`` zero-shot targets: classes disjoint from k400's, made of the same
  words (new compositions), sharing a few classes with each other; three evaluation
  splits val1..3 (and their complements train1..3), K-shot lists from train1.
* ``k600`` zero-shot target built like K-600's: a pool of novel classes, three splits each
  taking a different subset of them with its own label file.
* ``ssv2`` SSv2-like: 9 relational classes ("same colour and all different backdrops"):
  three shots whose objects' colours and backdrops relate in a way only a comparison of
  frames reveals; every single frame has the same distribution in every class, so a
  frame-wise model is at chance by construction (tcclip/synth/relational.py says why).
* ``ssv2_reversal`` (only with ``reversal_extra``): the former SSv2-like set of exact
  time-reversal pairs ("moving something up"/"down"), on which every order-blind model
  of the suite is at chance; train/validation and few-shot lists, no base-to-novel.
* base-to-novel splits of k400, hmdb51, ucf101 and ssv2: half the classes base, three
  K-shot training subsets s1..s3 of the base classes, base_val and novel_val.

Everything is a function of (seed, size), byte for byte: every clip is rendered from its
own seed (so the worker count does not matter), with arithmetic that rounds the same on
every CPU (exact_math.py), encoded the same way on every CPU (video.write_video), and
images are stored PNGs (see ``_render_image``). ``tcclip synth --verify OUT`` checks a copy.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from itertools import product
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

from tcclip.data.annotations import Annotation, write_annotation_list, write_label_csv, write_rephrased_json
from tcclip.data.errors import DataError
from tcclip.data.index import build_index
from tcclip.data.splits import base_novel_classes, k_shot, relabel
from tcclip.synth.files import FINGERPRINT_RULE, MANIFEST, BenchmarkFolder, digest_tree, fingerprint
from tcclip.synth.relational import (
    ATTRIBUTES,
    RELATIONS,
    RelationalClass,
    relation_phrase,
    relational_classes,
    render_relational,
    word_covering_split,
)
from tcclip.synth.render import IMAGE_SIDE, POSITIONS, VIDEO_SIDE, render_composed, render_image, render_reversal
from tcclip.synth.vocab import (
    BACKDROPS,
    COLOURS,
    IMAGE_SIZES,
    MOTIONS,
    REVERSAL_PAIRS,
    SHAPES,
    ClassPlan,
    ComposedClass,
    ReversalClass,
    plan_classes,
)
from tcclip.data.video import write_video

GENERATOR = "tcclip-synth"
# Bumped whenever the same (seed, size) renders different files: the workflow's synthesize
# rule takes it as a parameter, so Snakemake re-renders a benchmark made by an older generator.
# 2: same bytes on every CPU, stored PNGs, manifest lists its files; 3: SSv2-like set relates
# object colour and backdrop over three shots (9 classes)
GENERATOR_VERSION = 3
FPS = 10
DATASET_IDS = {"k400": 1, "hmdb51": 2, "ucf101": 3, "k600": 4, "ssv2": 5, "images": 6, "ssv2_reversal": 7}


@dataclass(frozen=True)
class SynthSize:
    """How much to generate. Class counts: k400, hmdb51, ucf101, k600 pool, shared targets."""

    classes: tuple[int, int, int, int, int]
    k400_train: int  # videos per class
    k400_val: int
    target_pool: int  # hmdb51/ucf101 videos per class; each split holds target_val of them out
    target_val: int
    k600_per_class: int
    k600_split_classes: int  # classes per K-600-like zero-shot split
    ssv2_train: int
    ssv2_val: int
    shots: tuple[int, ...]  # few-shot K values written as train1_few_shot_K
    b2n_shots: int  # shots per base class in the base-to-novel training subsets
    frames: tuple[int, int]  # clip length range (inclusive)
    images: int  # pretraining images (train); plus images // 20 for val


SIZES: dict[str, SynthSize] = {
    # for tests: a few seconds; fewer classes but every word still seen in training
    "tiny": SynthSize((12, 6, 6, 8, 2), 2, 1, 6, 2, 2, 6, 4, 1, (2, 4), 2, (16, 20), 200),
    # K-600-like: 60 of 80 pool classes per split (K-600: 160 of 220), ~9 per colour, so that
    # top-5 is not solved by colour alone (16 of 24 classes: 99-99.8% top-5 for every model)
    # ssv2: 9 relational classes; 24 validation clips each (216, binomial SE <= 3.4 points)
    "small": SynthSize((48, 16, 20, 80, 4), 16, 4, 26, 10, 3, 60, 18, 12, (2, 4, 8, 16), 16, (24, 32), 6000),
    "default": SynthSize((48, 16, 20, 80, 4), 32, 8, 30, 12, 4, 60, 28, 24, (2, 4, 8, 16), 16, (24, 32), 12000),
    "large": SynthSize((60, 20, 24, 120, 6), 64, 16, 40, 15, 6, 90, 56, 40, (2, 4, 8, 16), 16, (24, 32), 24000),
}


# --------------------------------------------------------------------------- jobs (run in workers)


@dataclass(frozen=True)
class VideoJob:
    path: str  # absolute output path
    dataset: str
    cls: ComposedClass | ReversalClass | RelationalClass
    class_index: int
    instance: int
    seed: int
    frames: tuple[int, int]


def _render_video(job: VideoJob) -> int:
    rng = np.random.default_rng([job.seed, DATASET_IDS[job.dataset], job.class_index, job.instance])
    num_frames = int(rng.integers(job.frames[0], job.frames[1] + 1))
    frames = _renderer(job.cls)(job.cls, num_frames, rng)
    write_video(job.path, frames, fps=FPS, crf=18)
    return num_frames


def render_job_frames(job: VideoJob) -> np.ndarray:
    """The exact frames a job writes (for tests comparing decoded with rendered pixels)."""
    rng = np.random.default_rng([job.seed, DATASET_IDS[job.dataset], job.class_index, job.instance])
    num_frames = int(rng.integers(job.frames[0], job.frames[1] + 1))
    return _renderer(job.cls)(job.cls, num_frames, rng)


def _renderer(cls) -> Callable:
    if isinstance(cls, RelationalClass):
        return render_relational
    return render_reversal if isinstance(cls, ReversalClass) else render_composed


@dataclass(frozen=True)
class ImageJob:
    path: str
    index: int
    seed: int
    colour: str
    shape: str
    size: str
    position: str | None
    wall: bool


def render_image_pixels(job: ImageJob) -> np.ndarray:
    """The exact pixels an image job writes (64, 64, 3) uint8."""
    rng = np.random.default_rng([job.seed, DATASET_IDS["images"], job.index])
    return render_image(job.colour, job.shape, job.size, rng, position=job.position, wall=job.wall)


def _render_image(job: ImageJob) -> None:
    from PIL import Image

    pixels = render_image_pixels(job)
    # Stored (uncompressed) deflate blocks: Pillow's zlib-ng picks its match-finding code by
    # CPU and promises no identical output across platforms; stored blocks involve no search.
    # Costs 2.6x the disk of level 1 (12 KB per image).
    Image.fromarray(pixels).save(job.path, compress_level=0)


def _run_chunk(kind: str, jobs: list) -> list:
    fn = _render_video if kind == "video" else _render_image
    return [fn(job) for job in jobs]


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the parent, which cancels what is queued and cleans up. They start
    with SIGINT blocked (inherited from the parent, see _start_workers): ignore it, then unblock,
    so a Ctrl-C that arrived while they were importing is dropped here, not printed as a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _worker_ready() -> int:
    return os.getpid()


def _start_workers(workers: int) -> ProcessPoolExecutor:
    """A pool whose ``workers`` processes are all running, started with SIGINT blocked (a signal
    mask survives spawn's fork and exec; a Python handler would not). The parent's own Ctrl-C
    waits, blocked, until they are up and then arrives as usual."""
    # spawn, not fork: the caller may hold torch/OpenMP threads, which fork can deadlock
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_ignore_interrupts)
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:  # the executor spawns on demand: one waiting task per worker starts them all
        for ready in [pool.submit(_worker_ready) for _ in range(workers)]:
            ready.result()
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    return pool


# --------------------------------------------------------------------------- the generator


class SynthBenchmark:
    """Plans, renders and writes the benchmark; ``generate()`` does it all."""

    def __init__(self, out: str | Path, seed: int = 0, size: str = "default", reversal_extra: bool = False):
        if size not in SIZES:
            raise DataError(f"synthetic size {size!r}: expected one of {', '.join(SIZES)}")
        self.out = Path(out)
        self.root = self.out  # where files are written: the staging folder while generating
        self.seed = int(seed)
        self.size_name = size
        self.size = SIZES[size]
        n_train, n_hmdb, n_ucf, n_k600, shared = self.size.classes
        self.plan: ClassPlan = plan_classes(self.seed, n_train, n_hmdb, n_ucf, n_k600, shared)
        self.ssv2_sets = {"ssv2": relational_classes()}  # dataset -> classes of the SSv2-like sets
        if reversal_extra:  # the former SSv2-like set (time-reversal pairs), an optional extra
            self.ssv2_sets["ssv2_reversal"] = self.plan.ssv2
        self.video_jobs: list[VideoJob] = []
        self.lists: dict[str, dict[str, list[Annotation]]] = {}  # dataset -> split -> entries
        self.counts: dict[str, dict] = {}

    # -- planning: which video goes where ----------------------------------------------

    def _job(self, dataset: str, rel: str, cls, class_index: int, instance: int) -> Annotation:
        path = self.root / "videos" / dataset / rel
        self.video_jobs.append(VideoJob(str(path), dataset, cls, class_index, instance, self.seed, self.size.frames))
        return Annotation(rel, class_index)

    def plan_videos(self) -> None:
        s = self.size
        # Kinetics-like: train/<class>/..., val/...
        train, val = [], []
        for i, cls in enumerate(self.plan.k400):
            train += [self._job("k400", f"train/{cls.slug}/{cls.slug}_{n:03d}.mp4", cls, i, n) for n in range(s.k400_train)]
            val += [self._job("k400", f"val/{cls.slug}_{n:03d}.mp4", cls, i, s.k400_train + n) for n in range(s.k400_val)]
        self.lists["k400"] = {"train": train, "val": val}
        # HMDB-/UCF-like: a flat pool, three val/train partitions
        for dataset in ("hmdb51", "ucf101"):
            classes = getattr(self.plan, dataset)
            pool = [self._job(dataset, f"{cls.slug}_{n:03d}.mp4", cls, i, n)
                    for i, cls in enumerate(classes) for n in range(s.target_pool)]
            self.lists[dataset] = self._target_splits(dataset, pool, len(classes))
        # K-600-like: one pool of novel classes; splits choose class subsets
        self.lists["k600"] = {"pool": [self._job("k600", f"train/{cls.slug}_{n:03d}.mp4", cls, i, n)
                                       for i, cls in enumerate(self.plan.k600) for n in range(s.k600_per_class)]}
        for dataset, classes in self.ssv2_sets.items():
            self.lists[dataset] = self._plan_numbered(dataset, classes)

    def _plan_numbered(self, dataset: str, classes: list) -> dict[str, list[Annotation]]:
        """SSv2-like: numbered files in a seeded order so names do not give the class away."""
        s = self.size
        per_class = s.ssv2_train + s.ssv2_val
        numbers = np.random.default_rng([self.seed, DATASET_IDS[dataset], 0]).permutation(len(classes) * per_class)
        train, val = [], []
        for i, cls in enumerate(classes):
            for n in range(per_class):
                entry = self._job(dataset, f"{100000 + int(numbers[i * per_class + n])}.mp4", cls, i, n)
                (train if n < s.ssv2_train else val).append(entry)
        return {"train": sorted(train, key=lambda e: e.path), "validation": sorted(val, key=lambda e: e.path)}

    def _target_splits(self, dataset: str, pool: list[Annotation], num_classes: int) -> dict[str, list[Annotation]]:
        out = {}
        by_label = {label: [e for e in pool if e.label == label] for label in range(num_classes)}
        for split in (1, 2, 3):
            val, train = [], []
            for label, group in by_label.items():
                order = np.random.default_rng([self.seed, DATASET_IDS[dataset], 100 + split, label]).permutation(len(group))
                held = set(order[: self.size.target_val].tolist())
                for j, entry in enumerate(group):
                    (val if j in held else train).append(entry)
            out[f"val{split}"], out[f"train{split}"] = val, train
        return out

    # -- writing -----------------------------------------------------------------------

    def generate(self, workers: int = 2, images: bool = True, progress: Callable[[str], None] | None = None) -> dict:
        say = progress or (lambda message: None)
        start = time.perf_counter()
        with BenchmarkFolder(self.out) as folder:
            self.root = folder.staging
            try:
                manifest = self._write_staged(folder, workers, images, say)
            finally:
                self.root = self.out
        manifest["seconds"] = round(time.perf_counter() - start, 1)  # reported, not stored: keeps the file reproducible
        return manifest

    def _write_staged(self, folder: BenchmarkFolder, workers: int, images: bool, say: Callable[[str], None]) -> dict:
        """Plan, render and write everything into the staging folder, then swap it in."""
        self.plan_videos()
        image_jobs, image_rows = self._plan_images() if images else ([], [])
        planned = [Path(job.path).relative_to(self.root).as_posix() for job in [*self.video_jobs, *image_jobs]]
        folder.refuse_clashes([*planned, "captions.csv", "catalog.yaml"])  # before any compute
        frame_counts = self._render(workers, image_jobs, say)
        if images:
            self._write_captions(image_rows)
        say("writing lists, label files and catalog")
        self._write_lists()
        manifest = self._manifest(frame_counts, len(image_rows))
        files = digest_tree(self.root)
        manifest.update(fingerprint=fingerprint(files), fingerprint_of=FINGERPRINT_RULE, files=files)
        (self.root / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        folder.commit(files)
        return manifest

    def _render(self, workers: int, image_jobs: list, say: Callable[[str], None]) -> list[int]:
        """Render videos then images (in ``workers`` processes); returns each video's frame count."""
        # Always in spawned workers, one included: the calling process carries state a fresh one does
        # not (imported libraries, their CPU dispatch and floating-point flags), and workers=1 rendered
        # in it gave other bytes than workers=2 on another CPU.
        pool = _start_workers(max(1, workers))
        try:
            say(f"rendering {len(self.video_jobs)} videos with {workers} worker(s)")
            frame_counts = self._run("video", self.video_jobs, pool)
            if image_jobs:
                say(f"rendering {len(image_jobs)} images")
                self._run("image", image_jobs, pool)
        except BrokenProcessPool:
            raise DataError(f"{self.out}: a worker process of tcclip synth died (killed, or out of memory?); "
                            f"the folder was left as it was; rerun, or use --workers 1") from None
        finally:
            # on Ctrl-C: drop the queued chunks, let the running ones end
            pool.shutdown(wait=True, cancel_futures=True)
        return frame_counts

    def _write_lists(self) -> None:
        self._write_k400()
        for dataset in ("hmdb51", "ucf101"):
            self._write_target(dataset)
        self._write_k600()
        for dataset in self.ssv2_sets:
            self._write_ssv2(dataset)
        for dataset in ("k400", "hmdb51", "ucf101", "ssv2"):
            self._write_base2novel(dataset)
        self._write_catalog()

    def _run(self, kind: str, jobs: list, pool: ProcessPoolExecutor) -> list:
        for folder in {Path(job.path).parent for job in jobs}:
            folder.mkdir(parents=True, exist_ok=True)
        chunk = 24
        chunks = [jobs[i : i + chunk] for i in range(0, len(jobs), chunk)]
        return [r for part in pool.map(_run_chunk, [kind] * len(chunks), chunks) for r in part]

    def _labels(self, name: str, classes: list) -> tuple[Path, Path]:
        """labels/<name>_labels.csv and its rephrased JSON twin."""
        csv_path = write_label_csv(self.root / "labels" / f"{name}_labels.csv", [c.name for c in classes])
        json_path = write_rephrased_json(self.root / "labels" / f"{name}_labels_rephrased.json", [c.rephrased for c in classes])
        return csv_path, json_path

    def _split_file(self, folder: str, name: str, entries: list[Annotation]) -> Path:
        return write_annotation_list(self.root / "splits" / folder / f"{name}.txt", entries)

    def _write_k400(self) -> None:
        self._labels("k400", self.plan.k400)
        # the train list is built from the folder-per-class layout, exactly as a user builds
        # Kinetics-400's with `tcclip data index` (which this also exercises)
        root = self.root / "videos" / "k400"
        train, _ = build_index(root / "train", label_file=self.root / "labels" / "k400_labels.csv", relative_to=root)
        self.lists["k400"]["train"] = train
        self._split_file("k400_splits", "train", train)
        self._split_file("k400_splits", "val", self.lists["k400"]["val"])

    def _write_target(self, dataset: str) -> None:
        self._labels(dataset, getattr(self.plan, dataset))
        folder = f"{dataset}_splits"
        for name in ("train1", "train2", "train3", "val1", "val2", "val3"):
            self._split_file(folder, name, self.lists[dataset][name])
        for k in self.size.shots:
            self._split_file(folder, f"train1_few_shot_{k}", k_shot(self.lists[dataset]["train1"], k, self.seed))

    def _write_k600(self) -> None:
        self._labels("k600", self.plan.k600)
        pool = self.lists["k600"]["pool"]
        self._split_file("k600_splits", "pool", pool)
        n, pick = len(self.plan.k600), self.size.k600_split_classes
        rng = np.random.default_rng([self.seed, DATASET_IDS["k600"], 7])
        chosen_sets: list[tuple[int, ...]] = []
        for split in (1, 2, 3):
            while True:  # three different class subsets, like K-600's three zero-shot splits
                chosen = tuple(sorted(rng.choice(n, size=pick, replace=False).tolist()))
                if chosen not in chosen_sets or pick == n:
                    break
            chosen_sets.append(chosen)
            self._labels(f"k600_zs_split{split}", [self.plan.k600[i] for i in chosen])
            self._split_file("k600_splits", f"zs_split{split}_eval", relabel(pool, chosen))
        self.lists["k600"].update({f"zs_split{i + 1}": relabel(pool, c) for i, c in enumerate(chosen_sets)})

    def _write_ssv2(self, dataset: str = "ssv2") -> None:
        self._labels(dataset, self.ssv2_sets[dataset])
        folder, lists = f"{dataset}_splits", self.lists[dataset]
        for name in ("train", "validation"):
            self._split_file(folder, name, lists[name])
        for k in self.size.shots:
            self._split_file(folder, f"train1_few_shot_{k}", k_shot(lists["train"], k, self.seed))

    # which lists base-to-novel draws from, per dataset: (training pool, validation set)
    B2N_SOURCES = {"k400": ("train", "val"), "hmdb51": ("train1", "val1"), "ucf101": ("train1", "val1"),
                   "ssv2": ("train", "validation")}

    def _write_base2novel(self, dataset: str) -> None:
        classes = self.ssv2_sets[dataset] if dataset in self.ssv2_sets else getattr(self.plan, dataset)
        n = len(classes)
        seed = self.seed * 1000 + DATASET_IDS[dataset]
        if dataset == "ssv2":  # novel relational classes must recombine phrases seen in base classes
            base, novel = word_covering_split(classes, (n + 1) // 2, seed)
        else:
            base, novel = base_novel_classes(n, (n + 1) // 2, seed=seed)
        self._labels(f"{dataset}_base", [classes[i] for i in base])
        self._labels(f"{dataset}_novel", [classes[i] for i in novel])
        pool_name, val_name = self.B2N_SOURCES[dataset]
        folder = f"base2novel_splits/{dataset}_splits"
        base_train = relabel(self.lists[dataset][pool_name], base)
        self._split_file(folder, "base_train", base_train)
        for subset in (1, 2, 3):
            shots = k_shot(base_train, self.size.b2n_shots, seed=self.seed * 10 + subset)
            self._split_file(folder, f"fs_base_s{subset}_train", shots)
        self._split_file(folder, "base_val", relabel(self.lists[dataset][val_name], base))
        self._split_file(folder, "novel_val", relabel(self.lists[dataset][val_name], novel))
        self.counts.setdefault("base2novel", {})[dataset] = {"base": len(base), "novel": len(novel)}

    # -- images and captions -----------------------------------------------------------

    def _plan_images(self) -> tuple[list[ImageJob], list[dict]]:
        """Every (colour, shape, size) equally often; few position words (they drowned shape
        in the feasibility study)."""
        combos = list(product(COLOURS, SHAPES, IMAGE_SIZES))
        n_train = self.size.images
        n_val = max(len(combos) // 2, n_train // 20)
        rng = np.random.default_rng([self.seed, DATASET_IDS["images"], 0])
        jobs, rows = [], []
        for index in range(n_train + n_val):
            split = "train" if index < n_train else "val"
            if index % len(combos) == 0:
                order = rng.permutation(len(combos))
            colour, shape, size = combos[order[index % len(combos)]]
            position = list(POSITIONS)[rng.integers(len(POSITIONS))] if rng.random() < 0.15 else None
            wall = bool(rng.random() < 0.15)
            rel = f"images/{split}/{index:06d}.png"
            jobs.append(ImageJob(str(self.root / rel), index, self.seed, colour, shape, size, position, wall))
            rows.append({"image": rel, "caption": _caption(colour, shape, size, position, wall, rng), "colour": colour,
                         "shape": shape, "size": size, "position": position or "", "wall": int(wall), "split": split})
        return jobs, rows

    def _write_captions(self, rows: list[dict]) -> None:
        with (self.root / "captions.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)

    # -- catalog and manifest ----------------------------------------------------------

    def _write_catalog(self) -> None:
        shots = self.size.shots
        catalog = {
            "name": "synthetic",
            "scale": "embedded",
            "generator": {"name": GENERATOR, "version": GENERATOR_VERSION, "seed": self.seed, "size": self.size_name},
            "datasets": {
                "k400": _catalog_dataset("SynthKinetics (Kinetics-400-like training set)", "k400",
                                         {"train": "splits/k400_splits/train.txt", "val": "splits/k400_splits/val.txt",
                                          **_b2n_lists("k400")}),
                "k600": _catalog_dataset("SynthK600 (K-600-like zero-shot target)", "k600",
                                         {f"zs_split{i}": _with_labels(f"splits/k600_splits/zs_split{i}_eval.txt",
                                                                       f"k600_zs_split{i}")
                                          for i in (1, 2, 3)} | {"pool": "splits/k600_splits/pool.txt"}),
                "hmdb51": _catalog_dataset("SynthHMDB (HMDB-51-like zero-shot target)", "hmdb51",
                                           _target_lists("hmdb51", shots)),
                "ucf101": _catalog_dataset("SynthUCF (UCF-101-like zero-shot target)", "ucf101",
                                           _target_lists("ucf101", shots)),
                "ssv2": _catalog_dataset("SynthSSv2 (relations between frames, SSv2-like)", "ssv2",
                                         {**_numbered_lists("ssv2", shots), **_b2n_lists("ssv2")}, hflip=False),
            },
        }
        if "ssv2_reversal" in self.ssv2_sets:
            catalog["datasets"]["ssv2_reversal"] = _catalog_dataset(
                "SynthSSv2-reversal (time-reversal pairs, optional extra)", "ssv2_reversal",
                _numbered_lists("ssv2_reversal", shots), hflip=False)
        header = "# Written by `tcclip synth`; paths are relative to this file. See tcclip/data/catalog.py.\n"
        (self.root / "catalog.yaml").write_text(header + yaml.safe_dump(catalog, sort_keys=False, width=120))

    def _manifest(self, frame_counts: list[int], num_images: int) -> dict:
        return {
            "generator": GENERATOR,
            "version": GENERATOR_VERSION,
            "seed": self.seed,
            "size": self.size_name,
            "size_settings": asdict(self.size),
            "geometry": _geometry(self.size.frames),
            "videos": len(frame_counts),
            "frames_total": int(sum(frame_counts)),
            "images": num_images,
            "vocabulary": _vocabulary(),
            "datasets": self._dataset_infos(),
            "base2novel": self.counts.get("base2novel", {}),
            "shared_target_classes": self._shared_target_classes(),
            "class_names": {**{name: [c.name for c in getattr(self.plan, name)]
                               for name in ("k400", "hmdb51", "ucf101", "k600")},
                            **{name: [c.name for c in classes] for name, classes in self.ssv2_sets.items()}},
        }

    def _dataset_infos(self) -> dict:
        """The manifest's per-dataset class and split counts."""
        lists = self.lists
        return {
            "k400": _dataset_info(self.plan.k400, {k: lists["k400"][k] for k in ("train", "val")}),
            "hmdb51": _dataset_info(self.plan.hmdb51, lists["hmdb51"]),
            "ucf101": _dataset_info(self.plan.ucf101, lists["ucf101"]),
            "k600": {**_dataset_info(self.plan.k600, lists["k600"]),
                     "chance": round(1 / self.size.k600_split_classes, 4),
                     "split_classes": self.size.k600_split_classes},
            "ssv2": _dataset_info(self.ssv2_sets["ssv2"], lists["ssv2"],
                                  note="classes relate what different frames show: every single frame has the same "
                                       "distribution in every class (a sum of per-frame scores cannot separate them)"),
            **({"ssv2_reversal": _dataset_info(self.ssv2_sets["ssv2_reversal"], lists["ssv2_reversal"],
                                               note="time-reversal pairs: every order-blind model is at chance")}
               if "ssv2_reversal" in self.ssv2_sets else {}),
        }

    def _shared_target_classes(self) -> dict:
        names = {dataset: {c.name for c in getattr(self.plan, dataset)} for dataset in ("hmdb51", "ucf101", "k600")}
        return {
            "hmdb51&ucf101": len(names["hmdb51"] & names["ucf101"]),
            "ucf101&k600": len(names["ucf101"] & names["k600"]),
            "hmdb51&k600": len(names["hmdb51"] & names["k600"]),
        }


# --------------------------------------------------------------------------- catalog and manifest entries


def _catalog_dataset(title: str, labels: str, splits: dict, hflip: bool = True) -> dict:
    return {"title": title, "root": f"videos/{labels}", "labels": f"labels/{labels}_labels.csv",
            "rephrased": f"labels/{labels}_labels_rephrased.json", "hflip": hflip, "splits": splits}


def _with_labels(path: str, labels: str) -> dict:
    return {"list": path, "labels": f"labels/{labels}_labels.csv",
            "rephrased": f"labels/{labels}_labels_rephrased.json"}


def _b2n_lists(name: str) -> dict:
    """A dataset's base-to-novel splits, each with its own label files."""
    folder = f"splits/base2novel_splits/{name}_splits"
    out = {f"b2n_fs_base_s{i}_train": _with_labels(f"{folder}/fs_base_s{i}_train.txt", f"{name}_base") for i in (1, 2, 3)}
    out["b2n_base_train"] = _with_labels(f"{folder}/base_train.txt", f"{name}_base")
    out["b2n_base_val"] = _with_labels(f"{folder}/base_val.txt", f"{name}_base")
    out["b2n_novel_val"] = _with_labels(f"{folder}/novel_val.txt", f"{name}_novel")
    return out


def _numbered_lists(name: str, shots) -> dict:
    """The SSv2-like sets' train/validation and few-shot lists."""
    folder = f"splits/{name}_splits"
    return {"train": f"{folder}/train.txt", "validation": f"{folder}/validation.txt",
            **{f"train1_few_shot_{k}": f"{folder}/train1_few_shot_{k}.txt" for k in shots}}


def _target_lists(name: str, shots) -> dict:
    """A zero-shot target's three val/train splits, few-shot and base-to-novel lists."""
    splits = {f"{kind}{i}": f"splits/{name}_splits/{kind}{i}.txt" for kind in ("val", "train") for i in (1, 2, 3)}
    splits.update({f"train1_few_shot_{k}": f"splits/{name}_splits/train1_few_shot_{k}.txt" for k in shots})
    return {**splits, **_b2n_lists(name)}


def _dataset_info(classes, splits: dict, note: str = "") -> dict:
    out = {"classes": len(classes), "chance": round(1 / len(classes), 4),
           "splits": {name: len(entries) for name, entries in splits.items()}}
    if note:
        out["note"] = note
    return out


def _geometry(frames) -> dict:
    return {"video_side": VIDEO_SIDE, "fps": FPS, "frames": list(frames),
            "codec": "libx264 yuv420p crf 18, preset veryfast, 1 thread, SSE2 routines, no macroblock tree; BT.601 limited range, "
                     "chroma = 2x2 mean", "image_side": IMAGE_SIDE, "images": "PNG, stored blocks"}


def _vocabulary() -> dict:
    return {"colours": list(COLOURS), "shapes": list(SHAPES), "sizes": list(IMAGE_SIZES),
            "motions": [m.phrase for m in MOTIONS],
            "relations": [relation_phrase(r.key, a) for a in ATTRIBUTES for r in RELATIONS],
            "backdrops": list(BACKDROPS),
            "reversal_pairs": [[p.forward, p.backward] for p in REVERSAL_PAIRS]}


_CAPTION_TEMPLATES = (
    "a {size} {colour} {shape}",
    "a photo of a {size} {colour} {shape}",
    "a {size} {colour} {shape} on a cluttered background",
    "a {size} {colour} {shape} among small shapes",
    "a {colour} {shape} that is {size}",
    "a {colour} {shape}",  # no size word now and then
)


def _caption(colour, shape, size, position, wall, rng) -> str:
    template = _CAPTION_TEMPLATES[rng.integers(len(_CAPTION_TEMPLATES))]
    text = template.format(size=size, colour=colour, shape=shape)
    if position:
        text += f" {position}"
    if wall:
        text += " in front of a wall"
    return text


def rerender(out: str | Path, video: str | Path) -> np.ndarray:
    """The frames rendered for one video of a generated benchmark, (T, 72, 72, 3) uint8.

    ``video`` is the file's path (absolute, or relative to ``out``); seed and size come
    from ``out/manifest.json``. Decoding the file should give these pixels back closely.
    """
    out = Path(out)
    manifest = json.loads((out / "manifest.json").read_text())
    bench = SynthBenchmark(out, manifest["seed"], manifest["size"], "ssv2_reversal" in manifest["datasets"])
    bench.plan_videos()
    wanted = Path(video) if Path(video).is_absolute() else out / video
    for job in bench.video_jobs:
        if Path(job.path) == wanted:
            return render_job_frames(job)
    raise DataError(f"{video}: not a video of the synthetic benchmark in {out}")


def generate(out: str | Path, seed: int = 0, size: str = "default", workers: int | None = None,
             images: bool = True, progress: Callable[[str], None] | None = None, reversal_extra: bool = False) -> dict:
    """Render the benchmark into ``out``; returns the manifest (plus "seconds").

    ``reversal_extra`` also writes the time-reversal-pair set as dataset ``ssv2_reversal``.
    """
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    return SynthBenchmark(out, seed, size, reversal_extra).generate(workers=workers, images=images, progress=progress)
