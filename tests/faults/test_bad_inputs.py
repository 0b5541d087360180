"""Bad videos, lists and labels: reported with their paths / lines, never a crash from deep inside."""

from __future__ import annotations

import json
import shutil

import pytest

from data_fixtures import synth_tiny  # noqa: F401
from tcclip.cli import main
from tcclip.data.annotations import load_class_names, read_annotation_list
from tcclip.data.dataset import DataConfig, VideoDataset, collate_videos
from tcclip.errors import TcclipError


@pytest.fixture
def broken_set(synth_tiny, tmp_path):  # noqa: F811
    """A copy of a synthetic eval list with one video of each kind of damage."""
    lines = (synth_tiny / "splits" / "hmdb51_splits" / "val1.txt").read_text().splitlines()[:6]
    root = tmp_path / "videos"
    entries = []
    for i, line in enumerate(lines):
        rel, label = line.rsplit(" ", 1)
        target = root / f"v{i}.mp4"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(synth_tiny / "videos" / "hmdb51" / rel, target)
        entries.append((target.name, int(label)))
    (root / "v0.mp4").write_bytes(b"")                                    # zero bytes
    data = (root / "v1.mp4").read_bytes()
    (root / "v1.mp4").write_bytes(data[: len(data) // 3])                 # truncated
    (root / "v2.mp4").write_text("this is not a video\n" * 50)            # not a video
    (root / "v3.mp4").unlink()                                            # missing
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{name} {label}\n" for name, label in entries))
    return listing, root


def test_data_check_reports_every_bad_video_with_its_path(broken_set, tmp_path, capsys):
    listing, root = broken_set
    report = tmp_path / "report.json"
    rc = main(["data", "check", str(listing), "--root", str(root), "--num-classes", "16", "--decode", "all",
               "--report", str(report)])
    assert rc == 1
    problems = json.loads(report.read_text())["problems"]
    by_path = {p["path"].rsplit("/", 1)[-1]: p["kind"] for p in problems}
    assert by_path["v0.mp4"] == "empty"
    assert by_path["v2.mp4"] == "unreadable"
    assert by_path["v3.mp4"] == "missing"
    assert by_path.get("v1.mp4") in ("unreadable", "empty")  # truncated: its frames cannot all be decoded
    assert "v4.mp4" not in by_path and "v5.mp4" not in by_path
    out = capsys.readouterr().out
    assert "missing" in out and "v3.mp4" in out


@pytest.mark.parametrize("policy", ["raise", "skip"])
def test_loader_policy_on_a_bad_video(broken_set, policy):
    listing, root = broken_set
    config = DataConfig.embedded().replace(mode="test", on_error=policy)
    dataset = VideoDataset(listing, root, config, num_classes=16)
    if policy == "raise":
        with pytest.raises(TcclipError, match=r"v3\.mp4"):
            dataset[3]
        return
    batch = collate_videos([dataset[i] for i in range(len(dataset))], (8, 3, 64, 64))
    skipped = {str(s.path).rsplit("/", 1)[-1] for s in batch["skipped"]}
    assert {"v0.mp4", "v2.mp4", "v3.mp4"} <= skipped
    assert len(dataset.skipped) == len(batch["skipped"])  # the count a metrics file reports
    assert batch["video"].shape[0] == len(dataset) - len(batch["skipped"])


@pytest.mark.parametrize("content,expected", [
    ("a.mp4 0\nb.mp4\n", r"list\.txt:2"),                 # label missing
    ("a.mp4 0\nb.mp4 one\n", r"list\.txt:2"),             # label not an integer
    ("a.mp4 0\nb.mp4 7\n", r"list\.txt:2.*7"),            # label out of range
])
def test_bad_annotation_lines_name_file_and_line(tmp_path, content, expected):
    path = tmp_path / "list.txt"
    path.write_text(content)
    with pytest.raises(TcclipError, match=expected) as err:
        read_annotation_list(path, num_classes=3)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("content,expected", [
    ("id,name\n0,run\n0,walk\n", r"labels\.csv:3.*0"),    # duplicate id
    ("id,name\n0,run\n2,walk\n", r"labels\.csv.*1"),      # missing id 1
    ("id,name\n0,run\n1,\n", r"labels\.csv:3"),           # empty name
])
def test_bad_label_files_name_file_and_line(tmp_path, content, expected):
    path = tmp_path / "labels.csv"
    path.write_text(content)
    with pytest.raises(TcclipError, match=expected) as err:
        load_class_names(path)
    assert "\n" not in str(err.value)


@pytest.fixture
def synth_with_a_corrupt_video(synth_tiny, tmp_path):  # noqa: F811
    """A copy of the tiny benchmark whose first HMDB-like val1 video is zero bytes."""
    copy = tmp_path / "synth"
    shutil.copytree(synth_tiny, copy)
    rel = (copy / "splits" / "hmdb51_splits" / "val1.txt").read_text().splitlines()[0].rsplit(" ", 1)[0]
    (copy / "videos" / "hmdb51" / rel).write_bytes(b"")
    return copy, rel


def _untrained_run(catalog, output, policy):
    return ["run", "--config", "embedded", f"protocol.catalog={catalog}", f"output={output}",
            "model.preset=vanilla_clip", "model.backbone.weights=null", "train.epochs=0",
            "data.num_frames=2", f"data.on_error={policy}"]


def test_a_corrupt_video_in_a_run_is_counted_in_metrics_when_skipped(synth_with_a_corrupt_video, tmp_path):
    synth, rel = synth_with_a_corrupt_video
    assert main(_untrained_run(synth / "catalog.yaml", tmp_path / "runs", "skip")) == 0
    (metrics_file,) = (tmp_path / "runs").glob("*/metrics.json")
    results = {r["key"]: r for r in json.loads(metrics_file.read_text())["results"]}
    assert results["hmdb51/val1"]["skipped_videos"] == 1
    listed = len((synth / "splits" / "hmdb51_splits" / "val1.txt").read_text().splitlines())
    assert results["hmdb51/val1"]["videos"] == listed - 1  # scored without it, and said so
    assert all(r["skipped_videos"] == 0 for k, r in results.items() if not k.startswith("hmdb51/"))


def test_a_corrupt_video_in_a_run_is_a_one_line_error_by_default(synth_with_a_corrupt_video, tmp_path, capsys):
    synth, rel = synth_with_a_corrupt_video
    assert main(_untrained_run(synth / "catalog.yaml", tmp_path / "runs", "raise")) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("tcclip: error:")]
    assert len(err) == 1 and rel in err[0] and "empty" in err[0] and "val1.txt:1" in err[0]
    assert not list((tmp_path / "runs").glob("*/metrics.json"))
