"""Per-video predictions beside every metrics file, through a real tiny evaluation."""

from __future__ import annotations

import json

import pytest

from data_fixtures import fast_run_args, only_run, synth_tiny  # noqa: F401
from tcclip.cli import main
from tcclip.engine.predictions import accuracy, read_predictions
from tcclip.engine.run_files import predictions_path

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("TCCLIP_THREADS", "1")


def assert_derivable(metrics_file):
    """metrics.json's top-1/top-5 and video counts recomputed from the per-video file."""
    metrics = json.loads(metrics_file.read_text())
    frame = read_predictions(metrics_file.parent / metrics["predictions"])
    recomputed = accuracy(frame)
    assert list(recomputed) == [r["key"] for r in metrics["results"]]
    for row in metrics["results"]:
        assert recomputed[row["key"]] == {"top1": row["top1"], "top5": row["top5"], "videos": row["videos"]}
    return metrics, frame


def test_finetuned_and_wiseft_predictions_give_back_their_metrics(synth_tiny, tmp_path):
    catalog = synth_tiny / "catalog.yaml"
    assert main(["train", *fast_run_args(catalog, tmp_path, "train.epochs=1")]) == 0
    run = only_run(tmp_path)
    assert main(["evaluate", str(run), "--wiseft", "0.5"]) == 0  # both weight sets, one pass over the videos
    plain, plain_frame = assert_derivable(run / "metrics.json")
    wise, wise_frame = assert_derivable(run / "metrics_wiseft0.5.json")
    assert (plain["predictions"], wise["predictions"]) == ("predictions.csv.gz", "predictions_wiseft0.5.csv.gz")
    assert plain_frame[["key", "path", "label"]].equals(wise_frame[["key", "path", "label"]])  # paired by video
    # the list line of each video names the line that holds it
    first = plain_frame.iloc[0]
    lines = open(first["list"]).read().splitlines()
    assert lines[first["line"] - 1].split()[0] == first["path"]
    probabilities = plain_frame[[f"top{i}_p" for i in range(1, 6)]].to_numpy()
    assert (probabilities[:, :-1] >= probabilities[:, 1:]).all() and (probabilities <= 1).all()


def test_sets_sharing_videos_keep_their_own_list_lines(synth_tiny, tmp_path):
    catalog = synth_tiny / "catalog.yaml"
    assert main(["evaluate", *fast_run_args(catalog, tmp_path, "model.preset=vanilla_clip", "train.epochs=0",
                                           "protocol.name=zero_shot")]) == 0
    metrics, frame = assert_derivable(only_run(tmp_path) / "metrics.json")
    hmdb = frame[frame["dataset"] == "hmdb51"]
    assert set(hmdb["split"]) == {"val1", "val2", "val3"}
    for (listed, line), path in zip(hmdb[["list", "line"]].itertuples(index=False), hmdb["path"]):
        assert open(listed).read().splitlines()[line - 1].split()[0] == path


def test_predictions_file_names():
    assert predictions_path("r/metrics.json").name == "predictions.csv.gz"
    assert predictions_path("r/metrics_wiseft0.7.json").name == "predictions_wiseft0.7.csv.gz"
    assert predictions_path("r/other.json").name == "other.predictions.csv.gz"
