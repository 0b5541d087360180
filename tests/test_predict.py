"""`tcclip predict` on a tiny trained run: the same top-k as `tcclip evaluate`'s per-video
predictions, unreadable and missing videos named and skipped, one-line errors before a model."""

from __future__ import annotations

import csv
import json

import pytest

from data_fixtures import fast_run_args, only_run, synth_tiny  # noqa: F401
from tcclip.cli import main
from tcclip.engine.predictions import ID_COLUMNS, PROB_COLUMNS, read_predictions
from tcclip.engine.run_config import load_resolved, resolve_task

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("TCCLIP_THREADS", "1")


@pytest.fixture(scope="module")
def evaluated(synth_tiny, tmp_path_factory):
    """A 1-epoch run (2 official clips per video: views seeded by the listed path), evaluated:
    (run dir, its eval set's spec, evaluate's per-video predictions)."""
    output = tmp_path_factory.mktemp("predict_runs")
    assert main(["train", *fast_run_args(synth_tiny / "catalog.yaml", output, "train.epochs=1",
                                         "data.num_clips=2")]) == 0
    run = only_run(output)
    assert main(["evaluate", str(run)]) == 0
    frame = read_predictions(run / "predictions.csv.gz")
    spec = resolve_task(load_resolved(run / "config.yaml")).evals[frame["key"].iloc[0]]
    return run, spec, frame


def read_csv(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def assert_same_as_evaluate(rows: list[dict], frame, clips: list[str], k: int) -> None:
    by_path = frame.set_index("path")
    for clip in clips:
        mine = [r for r in rows if r["path"] == clip]
        assert [int(r["rank"]) for r in mine] == list(range(1, k + 1))
        expected = by_path.loc[clip]
        assert [int(r["class_id"]) for r in mine] == [int(expected[c]) for c in ID_COLUMNS[:k]]
        for row, column in zip(mine, PROB_COLUMNS[:k]):
            assert float(row["probability"]) == pytest.approx(float(expected[column]), abs=1e-5)


def test_predict_gives_evaluates_top_k_and_names_every_skipped_video(evaluated, tmp_path, capsys):
    run, spec, frame = evaluated
    clips = frame["path"].tolist()[:4]
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes((spec.video_root / clips[0]).read_bytes()[:300])  # a truncated mp4
    out = tmp_path / "out" / "pred.csv"
    capsys.readouterr()
    assert main(["predict", *clips[:2], str(corrupt), "no/such/video.mp4", *clips[2:], "--root", str(spec.video_root),
                 "--labels", str(spec.label_file), "--run", str(run), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    skipped = [line for line in captured.err.splitlines() if line.startswith("tcclip:")]
    assert len(skipped) == 2 and "Traceback" not in captured.err
    assert str(corrupt) in skipped[0] and "no/such/video.mp4" in skipped[1]
    assert f"4 of 6 videos scored; skipped: {corrupt}, no/such/video.mp4" in captured.out
    names = [line.split(",", 1)[1] for line in spec.label_file.read_text().splitlines()[1:]]
    assert names[int(frame.set_index("path").loc[clips[0], "top1_id"])] in captured.out  # the table

    rows = read_csv(out)
    assert list(rows[0]) == ["path", "rank", "class_id", "class_name", "probability"]
    assert [r["path"] for r in rows if r["rank"] == "1"] == clips  # in the order given
    assert all(r["class_name"] == names[int(r["class_id"])] for r in rows)
    assert_same_as_evaluate(rows, frame, clips, 5)

    report = json.loads(out.with_suffix(".json").read_text())
    assert [v["path"] for v in report["videos"]] == clips
    assert [(s["path"], s["kind"]) for s in report["skipped"]] == [(str(corrupt), "unreadable"),
                                                                  ("no/such/video.mp4", "missing")]
    assert report["views"]["clips"] == 2 and report["weights"]["checkpoint"].startswith(str(run))
    first = report["videos"][0]["top"][0]
    assert (first["class_id"], first["probability"]) == (int(rows[0]["class_id"]), float(rows[0]["probability"]))


def test_a_list_plain_names_and_weights_with_a_config(evaluated, tmp_path, capsys):
    """--list takes an annotation list as it is; a one-name-per-line file; --weights + --config
    score as the run does."""
    run, spec, frame = evaluated
    clips = frame["path"].tolist()[-2:]
    listed = tmp_path / "videos.txt"
    listed.write_text("".join(f"{clip} 3\n" for clip in clips))
    names = tmp_path / "names.txt"
    names.write_text("".join(f"{line.split(',', 1)[1]}\n" for line in spec.label_file.read_text().splitlines()[1:]))
    out = tmp_path / "w.csv"
    assert main(["predict", "--list", str(listed), "--root", str(spec.video_root), "--labels", str(names),
                 "--weights", str(run / "checkpoints" / "last.pt"), "--config", str(run / "config.yaml"),
                 "--topk", "2", "--out", str(out)]) == 0
    assert "2 of 2 videos scored; skipped: none" in capsys.readouterr().out
    assert_same_as_evaluate(read_csv(out), frame, clips, 2)


def test_other_class_names_are_scored_zero_shot(evaluated, tmp_path):
    run, spec, frame = evaluated
    names = tmp_path / "names.csv"
    names.write_text("id,name\n0,a dog running\n1,a cat sleeping\n2,a car\n")
    out = tmp_path / "z.csv"
    clip = frame["path"].iloc[0]
    assert main(["predict", clip, "--root", str(spec.video_root), "--labels", str(names), "--run", str(run),
                 "--out", str(out)]) == 0
    rows = read_csv(out)
    assert [r["rank"] for r in rows] == ["1", "2", "3"]  # top-5 of 3 names: 3 ranks
    assert sum(float(r["probability"]) for r in rows) == pytest.approx(1.0, abs=1e-5)


def test_all_videos_unreadable_is_one_line_and_exit_2(evaluated, tmp_path, capsys):
    run, spec, _ = evaluated
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00" * 500)
    capsys.readouterr()
    assert main(["predict", str(corrupt), str(tmp_path / "gone.mp4"), "--labels", str(spec.label_file),
                 "--run", str(run), "--out", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("tcclip:")]
    assert lines == [f"tcclip: error: none of the 2 videos could be read: {corrupt} (unreadable), "
                     f"{tmp_path / 'gone.mp4'} (missing)"]
    assert not (tmp_path / "p.csv").exists()


def test_bad_input_is_one_line_before_any_model_is_built(evaluated, tmp_path, capsys, monkeypatch):
    from tcclip.model.video_clip import VideoCLIP

    def no_model(*args, **kwargs):
        raise AssertionError("a model was built")

    monkeypatch.setattr(VideoCLIP, "build", no_model)
    run, spec, frame = evaluated
    clip = str(spec.video_root / frame["path"].iloc[0])
    labels = str(spec.label_file)
    cases = {
        "no videos": (["--labels", labels, "--run", str(run)], "no videos"),
        "empty list": ([f"--list={tmp_path / 'empty.txt'}", "--labels", labels, "--run", str(run)], "lists none"),
        "missing labels": ([clip, "--labels", str(tmp_path / "nope.txt"), "--run", str(run)], "nope.txt"),
        "not a run": ([clip, "--labels", labels, "--run", str(tmp_path)], "no config.yaml"),
        "no model": ([clip, "--labels", labels], "--run RUN_DIR"),
        "every video missing": ([str(tmp_path / "a.mp4"), "--labels", labels, "--run", str(run)], "a.mp4"),
    }
    (tmp_path / "empty.txt").write_text("\n# nothing\n")
    for name, (args, said) in cases.items():
        capsys.readouterr()
        assert main(["predict", *args, "--out", str(tmp_path / "p.csv")]) == 2, name
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and said in err, (name, err)
