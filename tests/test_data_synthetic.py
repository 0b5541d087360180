"""The synthetic benchmark (`tcclip synth --size tiny`): real mp4 files whose decoded pixels
match the render, consistent lists/labels/splits, the zero-shot word design, and the same
bytes from every render, process, worker count and numpy CPU feature set."""

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from data_fixtures import TINY_SEED, synth_tiny  # noqa: F401
from PIL import Image

from tcclip.data.annotations import load_class_names, read_annotation_list
from tcclip.data.catalog import Catalog
from tcclip.data.splits import k_shot
from tcclip.synth.generator import SIZES, SynthBenchmark, generate, render_image_pixels, render_job_frames, rerender
from tcclip.synth.files import LOCK_NAME, digest_tree, fingerprint, verify
from tcclip.synth.render import render_reversal
from tcclip.synth.vocab import COLOURS, MOTIONS, SHAPES, ReversalClass
from tcclip.data.video import open_video, write_video

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
    assert manifest["datasets"]["ssv2"]["chance"] == pytest.approx(1 / 9, abs=1e-4)  # relational classes
    assert "ssv2_reversal" not in manifest["datasets"]  # the reversal set is an extra, off by default
    assert len(lines(synth_tiny / "splits/k400_splits/train.txt")) == manifest["datasets"]["k400"]["splits"]["train"]


def test_manifest_lists_every_file_with_its_digest_and_the_fingerprint(synth_tiny):
    manifest = json.loads((synth_tiny / "manifest.json").read_text())
    on_disk = {rel: digest for rel, digest in digest_tree(synth_tiny).items() if rel != LOCK_NAME}
    assert (synth_tiny / LOCK_NAME).read_bytes() == b""  # the writer's PID is gone once it is done
    assert manifest["files"] == on_disk and len(on_disk) == manifest["videos"] + manifest["images"] + 84
    listing = "".join(f"{digest}  {rel}\n" for rel, digest in sorted(on_disk.items()))  # sha256sum's format
    assert manifest["fingerprint"] == fingerprint(on_disk) == "sha256:" + hashlib.sha256(listing.encode()).hexdigest()
    ok, summary = verify(synth_tiny)
    assert ok and manifest["fingerprint"] in summary


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


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_ENCODE_IN_A_FRESH_PROCESS = """
import hashlib, json, sys
from pathlib import Path
from tcclip.synth.generator import SynthBenchmark, render_job_frames
from tcclip.data.video import write_video
bench = SynthBenchmark(sys.argv[1], int(sys.argv[2]), "tiny")
bench.plan_videos()
paths = [write_video(Path(sys.argv[1]) / f"{i}.mp4", render_job_frames(job)) for i, job in enumerate(bench.video_jobs[::40])]
print(json.dumps([hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]))
"""


def test_encoding_gives_one_file_in_and_across_processes(tmp_path):
    """x264's AVX-512 routines once gave 2-3 different files for 10 encodes of one clip."""
    bench = SynthBenchmark(tmp_path, TINY_SEED, "tiny")
    bench.plan_videos()
    clips = [render_job_frames(job) for job in bench.video_jobs[::40]]  # one clip of each dataset
    here = [{_sha256(write_video(tmp_path / f"{i}_{n}.mp4", clip)) for n in range(8)} for i, clip in enumerate(clips)]
    assert all(len(digests) == 1 for digests in here), [len(d) for d in here]
    for process in range(2):
        out = tmp_path / f"process{process}"
        run = subprocess.run([sys.executable, "-c", _ENCODE_IN_A_FRESH_PROCESS, str(out), str(TINY_SEED)],
                             capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": str(process)})
        assert json.loads(run.stdout) == [next(iter(digests)) for digests in here]


def _cpu_feature_settings() -> list:
    """NPY_DISABLE_CPU_FEATURES values this CPU can exercise: numpy's dispatch targets it
    supports, switched off from the top down (each run falls back one level further)."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:
        return [pytest.param("", marks=pytest.mark.skip(reason="this numpy does not report its CPU dispatch"))]
    supported = [name for name in __cpu_dispatch__ if __cpu_features__.get(name)]
    lacking = [name for name in __cpu_dispatch__ if not __cpu_features__.get(name)]
    settings = [" ".join(supported[i:]) for i in reversed(range(len(supported)))]
    params = [pytest.param(value, id="numpy-without-" + value.replace(" ", "+")) for value in settings]
    if lacking:  # named, so the report says what this machine could not exercise
        params.append(pytest.param(" ".join(lacking), id="numpy-without-" + "+".join(lacking),
                                   marks=pytest.mark.skip(reason=f"this CPU lacks {' '.join(lacking)}: nothing to disable")))
    return params


def _files(folder) -> dict[str, str]:
    """Every file in the folder, the lock file and manifest.json included."""
    return digest_tree(folder) | {"manifest.json": _sha256(folder / "manifest.json")}


# Render-level digests too: H.264 can absorb a one-level pixel change, a pixel digest cannot.
_SYNTH_AND_RENDER = """
import hashlib, json, sys
from tcclip.cli import main
from tcclip.synth.generator import SynthBenchmark, render_image_pixels, render_job_frames
out, seed, workers = sys.argv[1:]
assert main(["synth", "--out", out, "--size", "tiny", "--seed", seed, "--workers", workers, "--quiet"]) == 0
bench = SynthBenchmark(out, int(seed), "tiny")
bench.plan_videos()
pixels = [render_job_frames(job) for job in bench.video_jobs] + [render_image_pixels(job) for job in bench._plan_images()[0]]
print(json.dumps([hashlib.sha256(p.tobytes()).hexdigest() for p in pixels]))
"""


def _pixel_digests() -> list[str]:
    bench = SynthBenchmark("unused", TINY_SEED, "tiny")
    bench.plan_videos()
    pixels = [render_job_frames(job) for job in bench.video_jobs] + [render_image_pixels(job) for job in bench._plan_images()[0]]
    return [hashlib.sha256(p.tobytes()).hexdigest() for p in pixels]


@pytest.mark.slow
@pytest.mark.parametrize("workers, disabled", [pytest.param(2, "", id="2-workers")]
                         + [pytest.param(1, setting.values[0], id=f"1-worker-{setting.id}", marks=setting.marks)
                            for setting in _cpu_feature_settings()])
def test_rendering_is_the_same_in_every_process_worker_count_and_cpu_feature_set(synth_tiny, tmp_path, workers, disabled):
    """Same seed -> every file byte-identical to the in-process, one-worker render (synth_tiny),
    and every rendered pixel identical to this process's (numpy with all its CPU features)."""
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": disabled}
    out = tmp_path / "again"
    run = subprocess.run([sys.executable, "-c", _SYNTH_AND_RENDER, str(out), str(TINY_SEED), str(workers)],
                         env=env, capture_output=True, text=True, check=True)
    pixels, expected = json.loads(run.stdout), _pixel_digests()
    assert pixels == expected, f"{sum(a != b for a, b in zip(pixels, expected))} of {len(expected)} renders differ"
    again, first = _files(out), _files(synth_tiny)
    assert again == first, sorted(rel for rel in set(again) | set(first) if again.get(rel) != first.get(rel))[:10]


def test_another_seed_is_another_benchmark():
    names = [[c.name for c in SynthBenchmark("unused", seed, "tiny").plan.k400] for seed in (TINY_SEED, TINY_SEED + 1)]
    assert names[0] != names[1]


def test_exact_trigonometry_matches_numpy_to_rounding():
    from tcclip.synth import exact_math as exact

    x = np.random.default_rng(0).uniform(-40, 40, 20000)
    sin, cos = exact.sin_cos(x)
    assert np.abs(sin - np.sin(x)).max() < 1e-14 and np.abs(cos - np.cos(x)).max() < 1e-14
    y = np.random.default_rng(1).normal(size=20000)
    assert np.abs(exact.arctan2(y, x) - np.arctan2(y, x)).max() < 1e-14
    assert exact.arctan2([0.0, 1.0, 0.0, -1.0], [1.0, 0.0, -1.0, 0.0]).tolist() == pytest.approx([0, np.pi / 2, np.pi, -np.pi / 2])


def test_yuv420p_conversion_is_bt601_limited_range():
    from tcclip.data.video import rgb_to_yuv420p

    rgb = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3)).astype(np.uint8)
    yuv = rgb_to_yuv420p(rgb).astype(float)
    r, g, b = (rgb[..., c].astype(float) for c in range(3))
    luma = 16 + 219 / 255 * (0.299 * r + 0.587 * g + 0.114 * b)
    assert yuv.shape == (2, 12, 8) and np.abs(yuv[:, :8] - luma).max() <= 0.5 + 1e-6
    cb = 128 + 224 / 255 * (b - (0.299 * r + 0.587 * g + 0.114 * b)) / 1.772
    cb_means = cb.reshape(2, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(2, -1)
    assert np.abs(yuv[:, 8:10].reshape(2, -1) - cb_means).max() <= 0.5 + 1e-3
    grey = rgb_to_yuv420p(np.full((2, 2, 3), 128, np.uint8))
    assert grey.ravel().tolist() == [126, 126, 126, 126, 128, 128]


@pytest.mark.slow
def test_the_default_benchmark_has_the_readme_fingerprint(tmp_path):
    """The README states the default benchmark's fingerprint so that a user can check theirs
    with `tcclip synth --verify`; a generator change that moves it must update the README."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    stated = re.search(r"has the fingerprint[^`]*```\n(sha256:[0-9a-f]{64})\n```", readme)
    assert stated, "README.md: no fingerprint of the default benchmark after 'has the fingerprint'"
    manifest = generate(tmp_path / "bench", seed=0, size="default", workers=2, images=True)
    assert manifest["fingerprint"] == stated.group(1)
