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
