"""A table never averages silently over what is missing."""

from __future__ import annotations

import json

import pytest

from tcclip.errors import TcclipError
from tcclip.suite.plan import load_workflow_config, plan
from tcclip.report.build import build_table


def workflow(tmp_path, allow_partial=False):
    return load_workflow_config({
        "scale": "embedded", "run_config": "embedded", "catalog": str(tmp_path / "catalog.yaml"),
        "backbone": {"arch": "tiny-clip-p8", "weights": "w.pt"}, "runs_dir": str(tmp_path / "runs"),
        "tables_dir": str(tmp_path / "tables"), "figures_dir": str(tmp_path / "figures"),
        "allow_partial": allow_partial,
    })


def fake_metrics(path, value):
    """A metrics file and its per-video predictions (100 videos per set, ``value`` % right at
    top-1, ``value`` + 10 % at top-5)."""
    import pandas as pd

    from tcclip.engine.predictions import write_predictions
    from tcclip.engine.run_files import predictions_path

    path.parent.mkdir(parents=True, exist_ok=True)
    results = [{"key": f"{d}/{s}", "dataset": d, "split": s, "top1": value, "top5": value + 10}
               for d, splits in {"hmdb51": ["val1", "val2", "val3"], "ucf101": ["val1", "val2", "val3"],
                                 "k600": ["zs_split1", "zs_split2", "zs_split3"]}.items() for s in splits]
    path.write_text(json.dumps({"results": results}))
    frames = []
    for r in results:
        frame = pd.DataFrame({"dataset": r["dataset"], "split": r["split"], "key": r["key"], "list": "l.txt",
                              "line": range(1, 101), "path": [f"v{i}.mp4" for i in range(100)], "label": 0})
        frame["top1_id"] = [0 if i < value else 1 for i in range(100)]
        frame["top2_id"] = [0 if value <= i < value + 10 else 2 for i in range(100)]
        for rank in range(3, 6):
            frame[f"top{rank}_id"] = rank
        for rank in range(1, 6):
            frame[f"top{rank}_p"] = 0.1
        frames.append(frame)
    write_predictions(frames, predictions_path(path))


def test_gather_fails_on_missing_metrics_and_partial_table_says_n(tmp_path):
    wf = workflow(tmp_path)
    runs = plan(["zero_shot"], wf)["zero_shot"]
    for run in runs:
        if not (run.row == "TC-CLIP" and run.seed == 3):  # one seed of one row never finished
            fake_metrics(tmp_path / "runs" / run.run_id / run.metrics_name, 40.0 + run.seed)
    with pytest.raises(TcclipError, match=r"table zero_shot: 1 metrics files missing.*row 'TC-CLIP', seed 3"):
        build_table("zero_shot", wf)
    missing = build_table("zero_shot", workflow(tmp_path, allow_partial=True))
    assert len(missing) == 1
    text = (tmp_path / "tables" / "zero_shot.md").read_text()
    assert "| TC-CLIP | 41.5 ± 0.7 (n=2) |" in text
    assert "| ViFi-CLIP | 42.0 ± 1.0 |" in text
    assert "## Partial" in text and "row 'TC-CLIP', seed 3" in text  # named under the table


def test_missing_per_video_predictions_name_the_run(tmp_path):
    wf = workflow(tmp_path)
    runs = plan(["zero_shot"], wf)["zero_shot"]
    for run in runs:
        fake_metrics(tmp_path / "runs" / run.run_id / run.metrics_name, 40.0 + run.seed)
    lost = next(r for r in runs if r.row == "TC-CLIP" and r.seed == 2)
    (tmp_path / "runs" / lost.run_id / "predictions.csv.gz").unlink()
    with pytest.raises(TcclipError, match=rf"per-video predictions files missing, e\.g\. .*{lost.run_id}.*seed 2"):
        build_table("zero_shot", wf)
    assert len(build_table("zero_shot", workflow(tmp_path, allow_partial=True))) == 1
    text = (tmp_path / "tables" / "zero_shot.md").read_text()
    assert f"no per-video predictions (no interval over test videos): {tmp_path}/runs/{lost.run_id}" in text
