"""The synthetic benchmark (`tcclip synth --size tiny`): real mp4 files whose decoded pixels
match the render, consistent lists/labels/splits, the zero-shot word design, determinism."""

import csv
import filecmp
import hashlib
import json
import re

import numpy as np
import pytest
from data_fixtures import TINY_SEED, synth_tiny  # noqa: F401
from PIL import Image

from tcclip.data.annotations import load_class_names, read_annotation_list
from tcclip.data.catalog import Catalog
from tcclip.data.splits import k_shot
from tcclip.data.synthetic import SIZES, SynthBenchmark, generate, render_job_frames, rerender
from tcclip.data.synthetic_render import render_reversal
from tcclip.data.synthetic_vocab import COLOURS, MOTIONS, SHAPES, ReversalClass
from tcclip.data.video import open_video

TINY = SIZES["tiny"]


def lines(path):
    return path.read_text().splitlines()


def test_layout_and_manifest(synth_tiny):
    for name in ("videos", "labels", "splits", "images", "captions.csv", "catalog.yaml", "manifest.json"):
        assert (synth_tiny / name).exists(), name
    manifest = json.loads((synth_tiny / "manifest.json").read_text())
    assert manifest["seed"] == TINY_SEED and manifest["size"] == "tiny" and manifest["version"] >= 1
    assert manifest["videos"] == len(list((synth_tiny / "videos").rglob("*.mp4")))
    assert manifest["datasets"]["k400"]["classes"] == TINY.classes[0]
    assert manifest["datasets"]["ssv2"]["chance"] == pytest.approx(1 / 16, abs=1e-4)  # relational classes
    assert "ssv2_reversal" not in manifest["datasets"]  # the reversal set is an extra, off by default
    assert len(lines(synth_tiny / "splits/k400_splits/train.txt")) == manifest["datasets"]["k400"]["splits"]["train"]


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_decoded_videos_match_the_render(synth_tiny, backend):
    bench = SynthBenchmark(synth_tiny, TINY_SEED, "tiny")
    bench.plan_videos()  # plans the same jobs; writes nothing
    for job in bench.video_jobs[:: len(bench.video_jobs) // 6]:
        rendered = render_job_frames(job)
        reader = open_video(job.path, backend)
        assert reader.num_frames == len(rendered)
        assert TINY.frames[0] <= reader.num_frames <= TINY.frames[1]
        decoded = reader.get_batch(range(reader.num_frames)).astype(np.float64)
        assert decoded.shape == rendered.shape == (len(rendered), 72, 72, 3)
        assert np.abs(decoded - rendered).mean() < 4.0
        mse = np.mean((decoded - rendered) ** 2)
        assert 10 * np.log10(255**2 / mse) > 28


def test_rerender_by_path(synth_tiny):
    rel = read_annotation_list(synth_tiny / "splits/ssv2_splits/validation.txt")[0].path
    frames = rerender(synth_tiny, f"videos/ssv2/{rel}")
    decoded = open_video(synth_tiny / "videos/ssv2" / rel, "decord").get_batch(range(len(frames)))
    assert np.abs(decoded.astype(float) - frames).mean() < 4.0


def test_every_split_matches_its_label_file_and_files(synth_tiny):
    catalog = Catalog.load(synth_tiny / "catalog.yaml")
    assert catalog.scale == "embedded"
    slug_datasets = {"k400", "hmdb51", "ucf101", "k600"}  # file names carry the class
    for dataset in catalog.dataset_names():
        for split in catalog.split_names(dataset):
            spec = catalog.split(dataset, split)
            entries = read_annotation_list(spec.annotation_list, spec.num_classes)
            for entry in entries:
                assert (spec.video_root / entry.path).is_file(), entry
                if dataset in slug_datasets:
                    slug = spec.class_names[entry.label].replace(" ", "_")
                    assert re.search(rf"(^|/){re.escape(slug)}(/|_\d{{3}}\.mp4$)", entry.path), (spec.key, entry)
            rephrased = spec.prompt_names("rephrased")
            assert [r.split(":")[0].lower() for r in rephrased] == [n.lower() for n in spec.class_names]


def test_k_shot_splits_exact_and_reproducible(synth_tiny):
    for folder, pool_name in (("hmdb51_splits", "train1"), ("ucf101_splits", "train1"), ("ssv2_splits", "train")):
        pool = read_annotation_list(synth_tiny / "splits" / folder / f"{pool_name}.txt")
        for k in TINY.shots:
            shots = read_annotation_list(synth_tiny / "splits" / folder / f"train1_few_shot_{k}.txt")
            counts = {}
            for e in shots:
                counts[e.label] = counts.get(e.label, 0) + 1
            assert set(counts.values()) == {k} and len(counts) == len({e.label for e in pool})
            assert [(e.path, e.label) for e in shots] == [(e.path, e.label) for e in k_shot(pool, k, TINY_SEED)]
            assert {e.path for e in shots} <= {e.path for e in pool}


def test_evaluation_splits_are_disjoint_from_their_training_pools(synth_tiny):
    for folder in ("hmdb51_splits", "ucf101_splits"):
        for i in (1, 2, 3):
            val = {e.path for e in read_annotation_list(synth_tiny / "splits" / folder / f"val{i}.txt")}
            train = {e.path for e in read_annotation_list(synth_tiny / "splits" / folder / f"train{i}.txt")}
            assert val and train and not val & train
    vals = [lines(synth_tiny / "splits/hmdb51_splits" / f"val{i}.txt") for i in (1, 2, 3)]
    assert vals[0] != vals[1] != vals[2]


def test_base_and_novel_classes_are_disjoint(synth_tiny):
    for dataset in ("k400", "hmdb51", "ucf101", "ssv2"):
        base = load_class_names(synth_tiny / "labels" / f"{dataset}_base_labels.csv")
        novel = load_class_names(synth_tiny / "labels" / f"{dataset}_novel_labels.csv")
        everything = load_class_names(synth_tiny / "labels" / f"{dataset}_labels.csv")
        assert not set(base) & set(novel) and sorted(base + novel) == sorted(everything)
        folder = synth_tiny / "splits" / "base2novel_splits" / f"{dataset}_splits"
        for subset in (1, 2, 3):
            shots = read_annotation_list(folder / f"fs_base_s{subset}_train.txt", len(base))
            per_class = {label: sum(e.label == label for e in shots) for label in range(len(base))}
            assert set(per_class.values()) == {TINY.b2n_shots}
        assert read_annotation_list(folder / "novel_val.txt", len(novel))


def test_zero_shot_targets_recombine_training_words(synth_tiny):
    train = load_class_names(synth_tiny / "labels" / "k400_labels.csv")
    train_words = {w for name in train for w in name.split()}
    targets = {}
    for name in ("hmdb51", "ucf101", "k600", "k600_zs_split1", "k600_zs_split2", "k600_zs_split3"):
        targets[name] = load_class_names(synth_tiny / "labels" / f"{name}_labels.csv")
        assert not set(targets[name]) & set(train), name  # new compositions only
        assert {w for n in targets[name] for w in n.split()} <= train_words, name  # of seen words
    assert set(targets["hmdb51"]) & set(targets["ucf101"])  # partly shared, like HMDB and UCF
    assert set(targets["hmdb51"]) != set(targets["ucf101"])
    splits = [tuple(targets[f"k600_zs_split{i}"]) for i in (1, 2, 3)]
    assert len(set(splits)) == 3 and all(set(s) <= set(targets["k600"]) for s in splits)
    # every word of the vocabulary is taught by the training set
    assert set(COLOURS) | set(SHAPES) <= train_words
    assert all(set(m.phrase.split()) <= train_words for m in MOTIONS)


def test_reversal_extra_classes_are_exact_time_reversals():
    for pair in range(3):
        forward = render_reversal(ReversalClass(pair, False), 16, np.random.default_rng(11))
        backward = render_reversal(ReversalClass(pair, True), 16, np.random.default_rng(11))
        assert np.array_equal(forward[::-1], backward)
        assert not np.array_equal(forward, backward)


def test_images_and_captions(synth_tiny):
    manifest = json.loads((synth_tiny / "manifest.json").read_text())
    with (synth_tiny / "captions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == manifest["images"] >= TINY.images
    assert {r["split"] for r in rows} == {"train", "val"}
    for row in rows[:: max(1, len(rows) // 20)]:
        image = Image.open(synth_tiny / row["image"])
        assert image.size == (64, 64) and image.mode == "RGB"
        assert row["colour"] in row["caption"] and row["shape"] in row["caption"]
    combos = {(r["colour"], r["shape"], r["size"]) for r in rows}
    assert len(combos) == len(COLOURS) * len(SHAPES) * 2


def _digest(folder):
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in (".mp4", ".txt", ".csv", ".json", ".yaml"):
            out[path.relative_to(folder).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.mark.slow
def test_generation_is_deterministic_from_the_seed(synth_tiny, tmp_path):
    """Same seed -> byte-identical videos, lists and label files, whatever the worker count."""
    generate(tmp_path / "again", seed=TINY_SEED, size="tiny", workers=2, images=False)
    first = {k: v for k, v in _digest(synth_tiny).items() if k != "captions.csv"}
    second = _digest(tmp_path / "again")
    second.pop("manifest.json")
    assert second == {k: v for k, v in first.items() if k != "manifest.json"}
    generate(tmp_path / "other", seed=TINY_SEED + 1, size="tiny", workers=1, images=False)
    assert not filecmp.cmp(tmp_path / "other/labels/k400_labels.csv", synth_tiny / "labels/k400_labels.csv", shallow=False)
