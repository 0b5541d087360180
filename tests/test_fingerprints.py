"""Fingerprints of lists, videos and weights; runs that notice when their data changed;
metrics that say what they were computed from; tables that refuse to mix them."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from data_fixtures import fast_run_args, only_run, synth_tiny  # noqa: F401
from tcclip.cli import main
from tcclip.errors import TcclipError
from tcclip.data.fingerprint import changes, file_fingerprint, list_fingerprint, source_fingerprint, videos_fingerprint


def cli(*args: str) -> int:
    return main(list(args))


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ---------------------------------------------------------------- lists, videos, weights
def test_list_fingerprint_is_stable_and_changes_with_any_entry_or_class_name(tmp_path):
    labels = write(tmp_path / "labels.csv", "id,name\n0,jump\n1,run\n2,swim\n")
    listed = write(tmp_path / "list.txt", "a/1.mp4 0\nb/2.mp4 1\nc/3.mp4 2\n")
    first = list_fingerprint(listed, labels)
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 64
    assert list_fingerprint(listed, labels) == first
    # the entries as parsed: spacing, blank lines and line ends do not matter
    assert list_fingerprint(write(tmp_path / "crlf.txt", "a/1.mp4   0\r\n\nb/2.mp4 1\r\nc/3.mp4 2\r\n"), labels) == first
    relabelled = list_fingerprint(write(tmp_path / "relabel.txt", "a/1.mp4 0\nb/2.mp4 2\nc/3.mp4 2\n"), labels)
    reordered = list_fingerprint(write(tmp_path / "order.txt", "b/2.mp4 1\na/1.mp4 0\nc/3.mp4 2\n"), labels)
    renamed = list_fingerprint(listed, write(tmp_path / "renamed.csv", "id,name\n0,jump\n1,walk\n2,swim\n"))
    assert len({first, relabelled, reordered, renamed}) == 4


def test_video_and_weights_fingerprints_follow_the_bytes(synth_tiny, tmp_path, capsys):
    root = tmp_path / "videos"
    lines = (synth_tiny / "splits/hmdb51_splits/val1.txt").read_text().splitlines()[:2]
    for line in lines:
        rel = line.rsplit(None, 1)[0]
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(synth_tiny / "videos/hmdb51" / rel, root / rel)
    listed = write(tmp_path / "list.txt", "\n".join(lines) + "\n")
    before = videos_fingerprint(listed, root)
    assert videos_fingerprint(listed, root) == before
    video = root / lines[1].rsplit(None, 1)[0]
    data = bytearray(video.read_bytes())
    data[-1] ^= 1  # one bit of one file
    video.write_bytes(bytes(data))
    assert videos_fingerprint(listed, root) != before

    from tcclip.model.backbone import create_clip

    weights = tmp_path / "tiny.pt"
    torch.save(create_clip("tiny-clip-p16").state_dict(), weights)
    expected = "sha256:" + hashlib.sha256(weights.read_bytes()).hexdigest()
    assert file_fingerprint(weights) == expected
    assert cli("check-weights", "--arch", "tiny-clip-p16", "--weights", str(weights), "--out", str(tmp_path / "w.json")) == 0
    assert expected in capsys.readouterr().out
    assert json.loads((tmp_path / "w.json").read_text())["fingerprint"] == expected


def test_data_check_reports_the_list_and_video_fingerprints(synth_tiny, capsys):
    assert cli("data", "check", "--catalog", str(synth_tiny / "catalog.yaml"), "--dataset", "hmdb51",
               "--split", "val1", "--fingerprint-videos") == 0
    out = capsys.readouterr().out
    from tcclip.data.catalog import Catalog
    from tcclip.data.fingerprint import split_fingerprint

    spec = Catalog.load(synth_tiny / "catalog.yaml").split("hmdb51", "val1")
    assert f"fingerprint (entries + labels): {split_fingerprint(spec)}" in out  # the digest a run records
    assert f"fingerprint (video contents): {videos_fingerprint(spec.annotation_list, spec.video_root)}" in out


def test_data_check_reads_a_list_given_in_place_of_the_catalogs(synth_tiny, tmp_path, capsys):
    """--list DATASET/SPLIT=FILE: the list a workflow config gives (k400/train, or a cut list)."""
    shipped = (synth_tiny / "catalog.yaml").parent
    from tcclip.data.catalog import Catalog

    spec = Catalog.load(synth_tiny / "catalog.yaml").split("hmdb51", "val1")
    first = spec.annotation_list.read_text().splitlines()[:1]
    (tmp_path / "cut.txt").write_text(first[0] + "\n")
    assert cli("data", "check", "--catalog", str(shipped / "catalog.yaml"), "--dataset", "hmdb51", "--split", "val1",
               "--list", f"hmdb51/val1={tmp_path / 'cut.txt'}") == 0
    assert "cut.txt: 1 entries" in capsys.readouterr().out


def test_source_fingerprint_and_changes():
    assert source_fingerprint() == source_fingerprint()
    assert changes({"train": {"k400/train": "sha256:" + "a" * 64}, "weights": None},
                   {"train": {"k400/train": "sha256:" + "b" * 64}, "weights": None}) == [
        "train k400/train sha256:aaaaaaaaaaaa -> sha256:bbbbbbbbbbbb"]


# ---------------------------------------------------------------- runs (CLI, tiny benchmark)
@pytest.fixture
def own_benchmark(synth_tiny, tmp_path) -> Path:
    """A copy of the tiny benchmark this test may edit (no pretraining images)."""
    return Path(shutil.copytree(synth_tiny, tmp_path / "data", ignore=shutil.ignore_patterns("images")))


@pytest.mark.slow
def test_a_relabelled_training_video_stops_the_resume_until_retrained(own_benchmark, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TCCLIP_THREADS", "1")
    args = fast_run_args(own_benchmark / "catalog.yaml", tmp_path / "runs", "train.epochs=1")
    assert cli("train", *args) == 0
    run = only_run(tmp_path / "runs")
    recorded = json.loads((run / "inputs.json").read_text())
    assert set(recorded) == {"weights", "train", "selection", "benchmark"} and "k400/train" in recorded["train"]
    assert list(recorded["selection"]) == ["k400/val"]  # fully-supervised picks its epoch on K-400 val
    first_history = json.loads((run / "train.json").read_text())["history"]

    train_list = own_benchmark / "splits/k400_splits/train.txt"
    lines = train_list.read_text().splitlines()
    path, label = lines[0].rsplit(None, 1)
    lines[0] = f"{path} {(int(label) + 1) % 4}"
    train_list.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert cli("train", *args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("tcclip: error:") and str(run) in err
    assert "training inputs changed" in err and "train k400/train sha256:" in err and "--retrain-on-change" in err
    assert json.loads((run / "train.json").read_text())["history"] == first_history  # nothing touched

    assert cli("train", *args, "--retrain-on-change") == 0
    retrained = json.loads((run / "train.json").read_text())
    assert retrained["inputs"] == json.loads((run / "inputs.json").read_text()) != recorded
    assert retrained["history"][0]["loss"] != first_history[0]["loss"]  # trained again, on the new labels
    assert cli("train", *args) == 0  # same inputs now: resumes (nothing left to train)


@pytest.mark.slow
def test_metrics_record_provenance_and_override_evaluations_get_their_own_file(own_benchmark, tmp_path, monkeypatch):
    monkeypatch.setenv("TCCLIP_THREADS", "1")
    assert cli("train", *fast_run_args(own_benchmark / "catalog.yaml", tmp_path / "runs", "train.epochs=1")) == 0
    run = only_run(tmp_path / "runs")
    assert cli("evaluate", str(run)) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    origin = metrics["provenance"]
    assert set(origin["data"]) == {"k400/val", "benchmark"} and origin["data"]["k400/val"].startswith("sha256:")
    assert origin["evaluation"]["data.view_sampling"] == "official" and origin["evaluation"]["data.num_clips"] == 1
    assert origin["trained_on"] == json.loads((run / "inputs.json").read_text())
    assert origin["code"]["sources"] == source_fingerprint() and origin["code"]["tcclip"]

    dag_bytes = (run / "metrics.json").read_bytes()
    assert cli("evaluate", str(run), "data.view_sampling=deterministic") == 0
    assert (run / "metrics.json").read_bytes() == dag_bytes  # never replaced
    other = json.loads((run / "metrics_data.view_sampling=deterministic.json").read_text())
    assert other["provenance"]["evaluation"]["data.view_sampling"] == "deterministic"
    # the same through `tcclip run`: config.yaml keeps the run's own evaluation settings
    assert cli("run", *fast_run_args(own_benchmark / "catalog.yaml", tmp_path / "runs", "train.epochs=1",
                                     "data.num_clips=2")) == 0
    assert (run / "metrics.json").read_bytes() == dag_bytes and (run / "metrics_data.num_clips=2.json").is_file()


# ---------------------------------------------------------------- the gather step
def _metrics(value: float, data_fp: str = "sha256:" + "1" * 64, sampling: str = "official") -> dict:
    keys = {"hmdb51": ["val1", "val2", "val3"], "ucf101": ["val1", "val2", "val3"],
            "k600": ["zs_split1", "zs_split2", "zs_split3"]}
    results = [{"key": f"{d}/{s}", "dataset": d, "split": s, "top1": value, "top5": value + 10}
               for d, splits in keys.items() for s in splits]
    data = {f"{d}/{s}": data_fp for d, splits in keys.items() for s in splits}
    evaluation = {"data.num_clips": 1, "data.view_sampling": sampling}
    code = {"tcclip": "0.1.0", "sources": "sha256:" + "c" * 64, "git": None}
    return {"results": results, "code_version": code,
            "provenance": {"data": data, "evaluation": evaluation, "trained_on": None, "code": code}}


def _workflow(tmp_path):
    from tcclip.suite.plan import load_workflow_config

    return load_workflow_config({
        "scale": "embedded", "run_config": "embedded", "catalog": str(tmp_path / "catalog.yaml"),
        "backbone": {"arch": "tiny-clip-p8", "weights": "w.pt"}, "runs_dir": str(tmp_path / "runs"),
        "tables_dir": str(tmp_path / "tables"), "figures_dir": str(tmp_path / "figures")})


def _write_all(tmp_path, odd_one=None, **odd):
    from tcclip.suite.plan import plan

    runs = plan(["zero_shot"], _workflow(tmp_path))["zero_shot"]
    for run in runs:
        path = tmp_path / "runs" / run.run_id / run.metrics_name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_metrics(40.0 + run.seed, **(odd if run.run_id == odd_one else {}))))
    return runs


def test_gather_refuses_metrics_of_other_data_or_settings_and_tables_state_provenance(tmp_path):
    from tcclip.report.build import build_table

    runs = _write_all(tmp_path)  # metrics files only: partial tables (no per-video predictions) are allowed here
    build_table("zero_shot", _workflow(tmp_path), allow_partial=True)
    table = (tmp_path / "tables/zero_shot.md").read_text()
    long_form = (tmp_path / "tables/zero_shot.csv").read_text().splitlines()
    assert {"run_id", "metrics_file"} <= set(long_form[0].split(","))  # each value names the run it came from
    assert "Built from" in table and "evaluation data sha256:" in table and "sources sha256:cccccccccccc" in table
    assert "data.view_sampling=official" in table

    odd = next(r for r in runs if r.row == "ViFi-CLIP" and r.seed == 2)
    _write_all(tmp_path, odd.run_id, data_fp="sha256:" + "2" * 64)
    with pytest.raises(TcclipError, match=rf"differ in evaluation data hmdb51/val1: .*sha256:222222222222 in runs {odd.run_id}"):
        build_table("zero_shot", _workflow(tmp_path), allow_partial=True)
    _write_all(tmp_path, odd.run_id, sampling="deterministic")
    with pytest.raises(TcclipError, match=rf"evaluation setting data.view_sampling: .*deterministic in runs {odd.run_id}"):
        build_table("zero_shot", _workflow(tmp_path), allow_partial=True)


def test_gather_compares_base_to_novel_runs_by_eval_set_not_by_their_shared_eval_keys():
    """Base-to-novel tasks name their evals "base" and "novel" in every dataset: two datasets'
    runs hold different lists under the same keys, which is not a mismatch; two runs of one
    dataset that differ are, and the error names the eval set."""
    from tcclip.report.provenance import check_provenance, provenance_line

    def b2n(dataset: str, base_fp: str) -> dict:
        results = [{"key": key, "dataset": dataset, "split": f"b2n_{key}_val", "top1": 50.0} for key in ("base", "novel")]
        data = {"base": base_fp, "novel": f"sha256:{dataset}-novel", "benchmark": "sha256:" + "b" * 64}
        return {"results": results, "code_version": {"tcclip": "0.1.0"},
                "provenance": {"data": data, "evaluation": {"data.num_clips": 1}}}

    origin = check_provenance("base2novel", {"r1": b2n("hmdb51", "sha256:" + "1" * 64),
                                             "r2": b2n("ucf101", "sha256:" + "2" * 64)})
    assert set(origin["data"]) == {"hmdb51/b2n_base_val", "hmdb51/b2n_novel_val", "ucf101/b2n_base_val",
                                   "ucf101/b2n_novel_val", "benchmark"}
    assert "lists and labels of 4 eval sets" in provenance_line(origin)
    with pytest.raises(TcclipError, match=r"differ in evaluation data hmdb51/b2n_base_val: .*222222222222 in runs r2"):
        check_provenance("base2novel", {"r1": b2n("hmdb51", "sha256:" + "1" * 64),
                                        "r2": b2n("hmdb51", "sha256:" + "2" * 64)})
