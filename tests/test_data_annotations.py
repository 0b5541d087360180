"""Label files, annotation lists, K-shot and base/novel splits, folder indexing, shipped files."""

import json

import pytest
from data_fixtures import write_list

from tcclip.data.annotations import (
    Annotation,
    load_class_names,
    read_annotation_list,
    split_camel_case,
    write_label_csv,
)
from tcclip.data.catalog import RESOURCES, Catalog
from tcclip.data.errors import AnnotationError
from tcclip.data.index import build_index
from tcclip.data.splits import base_novel_classes, k_shot, relabel
from tcclip.errors import TcclipError


def test_label_csv_and_rephrased_json(tmp_path):
    csv_file = write_list(tmp_path / "labels.csv", ["id,name", "1,jumping", "0,\"running, fast\""])
    assert load_class_names(csv_file) == ["running, fast", "jumping"]
    json_file = tmp_path / "rephrased.json"
    json_file.write_text(json.dumps({"0": "Running: a person runs.", "1": "Jumping: a person jumps."}))
    assert load_class_names(json_file) == ["Running: a person runs.", "Jumping: a person jumps."]


@pytest.mark.parametrize(
    "lines,match",
    [
        (["id,name", "0,run", "1,run"], r"labels.csv:3: name 'run' duplicates line 2"),
        (["id,name", "0,run", "0,jump"], r"labels.csv:3: id 0 appears twice"),
        (["id,name", "0,run", "2,jump"], r"id 1 is missing"),
        (["id,name", "0,run", "1,  "], r"labels.csv:3: class 1 has an empty name"),
        (["name,id", "0,run"], r"labels.csv:1: expected the header 'id,name'"),
        (["id,name", "zero,run"], r"labels.csv:2: id 'zero' is not an integer"),
    ],
)
def test_label_file_errors_name_file_and_line(tmp_path, lines, match):
    path = write_list(tmp_path / "labels.csv", lines)
    with pytest.raises(AnnotationError, match=match) as info:
        load_class_names(path)
    assert "\n" not in str(info.value) and isinstance(info.value, TcclipError)


def test_rephrased_json_errors(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{\n "0": "A: a",\n "0": "B: b"\n}')
    with pytest.raises(AnnotationError, match=r"r.json:2: id '0' appears twice"):
        load_class_names(path)
    path.write_text('{"0": "A: a", "2": "B: b"}')
    with pytest.raises(AnnotationError, match="id 1 is missing"):
        load_class_names(path)


def test_annotation_list_parsing(tmp_path):
    path = write_list(tmp_path / "list.txt", ["a/b c.mp4 3", "", "x.avi 0"])
    entries = read_annotation_list(path)
    assert entries == [Annotation("a/b c.mp4", 3, 1), Annotation("x.avi", 0, 3)]
    with pytest.raises(AnnotationError, match=r"list.txt:1: label 3 is out of range \(expected 0..2\)"):
        read_annotation_list(path, num_classes=3)
    bad = write_list(tmp_path / "bad.txt", ["ok.mp4 1", "nolabel.mp4", "x.mp4 one"])
    with pytest.raises(AnnotationError, match=r"bad.txt:2: expected 'relative/path.ext <integer label>'"):
        read_annotation_list(bad)


def test_split_camel_case():
    assert split_camel_case("ApplyEyeMakeup") == "Apply Eye Makeup"
    assert split_camel_case("YoYo") == "Yo Yo"
    assert split_camel_case("PlayingDaf") == "Playing Daf"
    assert split_camel_case("TaiChi") == "Tai Chi"


def test_k_shot_exactly_k_per_class_and_reproducible():
    pool = [Annotation(f"c{c}/v{i}.mp4", c) for c in range(5) for i in range(10)]
    for k in (2, 4, 8):
        chosen = k_shot(pool, k, seed=3)
        counts = {c: sum(e.label == c for e in chosen) for c in range(5)}
        assert set(counts.values()) == {k}
        assert len({e.path for e in chosen}) == len(chosen)
        assert chosen == k_shot(list(reversed(pool)), k, seed=3)  # independent of pool order
        assert chosen != k_shot(pool, k, seed=4)
    with pytest.raises(AnnotationError, match="fewer than K=16"):
        k_shot(pool, 16, seed=0)


def test_base_novel_partition_and_relabel():
    base, novel = base_novel_classes(9, 5, seed=1)
    assert len(base) == 5 and len(novel) == 4 and not set(base) & set(novel)
    assert sorted(base + novel) == list(range(9))
    assert (base, novel) == base_novel_classes(9, 5, seed=1)
    entries = [Annotation(f"{c}.mp4", c) for c in range(9)]
    assert [e.label for e in relabel(entries, novel)] == list(range(4))


def test_build_index_with_and_without_label_file(tmp_path):
    root = tmp_path / "k400" / "train"
    for folder, files in {"air_drumming": ["b.mp4", "a.mp4"], "Abseiling": ["c.mp4"]}.items():
        (root / folder).mkdir(parents=True)
        for name in files:
            (root / folder / name).write_bytes(b"x")
    (root / "Abseiling" / "notes.txt").write_text("not a video")
    labels = write_label_csv(tmp_path / "labels.csv", ["abseiling", "air drumming"])
    entries, names = build_index(root, label_file=labels, relative_to=tmp_path / "k400")
    assert [(e.path, e.label) for e in entries] == [
        ("train/Abseiling/c.mp4", 0), ("train/air_drumming/a.mp4", 1), ("train/air_drumming/b.mp4", 1)]
    entries, names = build_index(root)
    assert names == ["Abseiling", "air drumming"] and entries[0].path == "Abseiling/c.mp4"
    (root / "unknown_class").mkdir()
    (root / "unknown_class" / "d.mp4").write_bytes(b"x")
    with pytest.raises(AnnotationError, match="unknown_class: folder name matches no class"):
        build_index(root, label_file=labels)


def test_index_cli(tmp_path, capsys):
    from tcclip.cli import main

    root = tmp_path / "videos"
    (root / "jump").mkdir(parents=True)
    (root / "jump" / "1.mp4").write_bytes(b"x")
    assert main(["data", "index", str(root), "--out", str(tmp_path / "list.txt"), "--labels-out", str(tmp_path / "l.csv")]) == 0
    assert (tmp_path / "list.txt").read_text() == "jump/1.mp4 0\n"
    assert load_class_names(tmp_path / "l.csv") == ["jump"]


def test_shipped_label_and_split_files_are_consistent():
    """Every shipped list resolves through the real catalog with labels inside its label file's range."""
    catalog = Catalog.load("real")
    assert (RESOURCES / "labels" / "kinetics_400_labels.csv").is_file()
    checked = 0
    for dataset in catalog.dataset_names():
        for split in catalog.split_names(dataset):
            try:
                spec = catalog.split(dataset, split, strict=False)
            except TcclipError as err:
                assert "no annotation list" in str(err)  # k400/train, hmdb51/train1, ucf101/train1 are not shipped
                continue
            entries = read_annotation_list(spec.annotation_list, spec.num_classes)
            assert {e.label for e in entries} == set(range(spec.num_classes)), spec.key
            checked += 1
    assert checked >= 50
    sizes = {name: len(load_class_names(RESOURCES / "labels" / f"{name}.csv")) for name in
             ("kinetics_400_labels", "hmdb_51_labels", "ucf_101_labels", "ssv2_labels", "ZS_split1_K600")}
    assert sizes == {"kinetics_400_labels": 400, "hmdb_51_labels": 51, "ucf_101_labels": 101, "ssv2_labels": 174,
                     "ZS_split1_K600": 160}
