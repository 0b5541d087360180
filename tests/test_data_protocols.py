"""Protocols resolved against the real catalog (shipped lists) and the synthetic one."""

import json

import pytest
from data_fixtures import synth_tiny  # noqa: F401

from tcclip.data.annotations import read_annotation_list
from tcclip.data.catalog import Catalog
from tcclip.data.dataset import VideoDataset
from tcclip.data.errors import CatalogError
from tcclip.data.protocols import Protocol, resolve_protocol
from tcclip.errors import TcclipError

PAPER = {  # protocols.md
    "zero_shot": dict(epochs=10, warmup_epochs=5, base_lr=8e-6, total_batch=256, views=(2, 1)),
    "few_shot": dict(epochs=50, warmup_epochs=5, base_lr=2e-6, total_batch=64, views=(2, 1)),
    "base2novel": dict(epochs=12, warmup_epochs=2, base_lr=3.33e-6, total_batch=64, views=(2, 1)),
    "fully_supervised": dict(epochs=30, warmup_epochs=5, base_lr=2.2e-5, total_batch=512, views=(4, 3)),
}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_protocol_files_carry_the_paper_settings(name):
    protocol = Protocol.load(name)
    paper = protocol.settings("paper")
    expected = PAPER[name]
    for key in ("epochs", "warmup_epochs", "base_lr", "total_batch"):
        assert paper["training"][key] == pytest.approx(expected[key]), key
    assert (paper["testing"]["num_clips"], paper["testing"]["num_crops"]) == expected["views"]
    assert paper["training"]["optimizer"] == {"name": "adamw", "betas": [0.9, 0.98], "eps": 1e-8, "weight_decay": 0.001}
    test_cfg = protocol.data_config("paper", "test")
    assert (test_cfg.num_frames, test_cfg.input_size, test_cfg.short_side) == (16, 224, 256)
    assert test_cfg.num_views == expected["views"][0] * expected["views"][1]
    embedded = protocol.data_config("embedded", "train")
    assert (embedded.num_frames, embedded.input_size, embedded.short_side) == (8, 64, 72)
    assert protocol.settings("embedded")["training"]["epochs"] <= paper["training"]["epochs"]


def test_real_catalog_few_shot_and_base2novel():
    catalog = Catalog.load("real")
    few = Protocol.load("few_shot").tasks(catalog, strict=False)
    assert len(few) == 12
    hmdb2 = next(t for t in few if t.name == "few_shot/hmdb51/k2")
    assert hmdb2.train.num_classes == 51 and list(hmdb2.evals) == ["hmdb51/val1"]
    assert len(read_annotation_list(hmdb2.train.annotation_list)) == 102
    ssv2 = next(t for t in few if t.params == {"dataset": "ssv2", "shots": 16, "kshot_source": "given"})
    assert not ssv2.train.hflip and list(ssv2.evals) == ["ssv2/validation"]

    b2n = Protocol.load("base2novel").tasks(catalog, strict=False)
    assert len(b2n) == 12
    for task in b2n:
        base, novel = task.evals["base"], task.evals["novel"]
        assert not set(base.class_names) & set(novel.class_names)
        assert task.train.class_names == base.class_names
    k400 = {t.params["dataset"]: (t.evals["base"].num_classes, t.evals["novel"].num_classes) for t in b2n}
    assert k400 == {"k400": (200, 200), "hmdb51": (26, 25), "ucf101": (51, 50), "ssv2": (87, 87)}
    ucf = next(t for t in b2n if t.params["dataset"] == "ucf101")
    assert "Apply Eye Makeup" in ucf.evals["base"].prompt_names() + ucf.evals["novel"].prompt_names()


def test_real_catalog_zero_shot_needs_roots_and_the_k400_list(tmp_path):
    with pytest.raises(CatalogError, match="k400.splits.train: no annotation list .*tcclip data index"):
        resolve_protocol("zero_shot", "real", strict=False)
    train_list = tmp_path / "k400_train.txt"
    train_list.write_text("train/abseiling/x.mp4 0\n")
    catalog = Catalog.load("real", lists={"k400/train": train_list})
    with pytest.raises(TcclipError, match="dataset 'k400' has no video root") as info:
        Protocol.load("zero_shot").tasks(catalog)
    assert "\n" not in str(info.value)
    roots = {name: tmp_path / name for name in ("k400", "k600", "hmdb51", "ucf101")}
    for folder in roots.values():
        folder.mkdir()
    (task,) = Protocol.load("zero_shot").tasks(Catalog.load("real", roots=roots, lists={"k400/train": train_list}))
    assert task.train.video_root == roots["k400"].resolve()
    assert sorted(task.evals) == sorted(f"{d}/{s}" for d, ss in [("hmdb51", ["val1", "val2", "val3"]),
                                                                   ("ucf101", ["val1", "val2", "val3"]),
                                                                   ("k600", ["zs_split1", "zs_split2", "zs_split3"])]
                                        for s in ss)
    assert {task.evals[f"k600/zs_split{i}"].num_classes for i in (1, 2, 3)} == {160}


def test_synthetic_zero_shot_resolves_and_loads(synth_tiny):
    (task,) = resolve_protocol("zero_shot", synth_tiny / "catalog.yaml")
    assert task.settings["data"]["num_frames"] == 8  # the catalog says embedded scale
    assert len(task.evals) == 9
    train_names = set(task.train.class_names)
    for spec in task.evals.values():
        assert not train_names & set(spec.class_names)
    cfg = Protocol.load("zero_shot").data_config("embedded", "test")
    item = VideoDataset.from_split(task.evals["hmdb51/val2"], cfg)[0]
    views = task.settings["testing"]["num_clips"] * task.settings["testing"].get("num_crops", 1)
    assert item["video"].shape == (views, 8, 3, 64, 64)
    json.dumps(task.to_dict())


def test_synthetic_few_shot_given_and_generated(synth_tiny, tmp_path):
    catalog = Catalog.load(synth_tiny / "catalog.yaml")
    protocol = Protocol.load("few_shot")
    given = protocol.tasks(catalog, shots=[2, 4])
    assert [t.name for t in given] == [f"few_shot/{d}/k{k}" for d in ("hmdb51", "ucf101", "ssv2") for k in (2, 4)]
    generated = protocol.tasks(catalog, datasets=["hmdb51"], shots=[4], kshot_source="generate", kshot_seed=3,
                               workdir=tmp_path)
    (task,) = generated
    entries = read_annotation_list(task.train.annotation_list)
    per_class = {label: sum(e.label == label for e in entries) for label in range(task.train.num_classes)}
    assert set(per_class.values()) == {4}
    again = protocol.tasks(catalog, datasets=["hmdb51"], shots=[4], kshot_source="generate", kshot_seed=3,
                           workdir=tmp_path / "again")
    assert read_annotation_list(again[0].train.annotation_list) == entries
    with pytest.raises(CatalogError, match="no split 'train1_few_shot_16'"):
        protocol.tasks(catalog, shots=[16])


def test_synthetic_base2novel(synth_tiny):
    tasks = resolve_protocol("base2novel", synth_tiny / "catalog.yaml", datasets=["ssv2", "hmdb51"])
    assert [t.name for t in tasks] == [f"base2novel/{d}/s{i}" for d in ("hmdb51", "ssv2") for i in (1, 2, 3)]
    for task in tasks:
        assert not set(task.evals["base"].class_names) & set(task.evals["novel"].class_names)
    assert tasks[3].train.hflip is False  # ssv2


def test_protocol_cli_prints_tasks(synth_tiny, capsys):
    from tcclip.cli import main

    assert main(["data", "protocol", "fully_supervised", "--catalog", str(synth_tiny / "catalog.yaml")]) == 0
    (task,) = json.loads(capsys.readouterr().out)
    assert task["train"]["split"] == "train" and list(task["evals"]) == ["k400/val"]
    assert task["settings"]["testing"]["num_crops"] == 1 and task["settings"]["testing"]["num_clips"] == 2  # embedded block
