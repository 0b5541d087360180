"""`tcclip predict`: the top-k class names of any videos, scored as `tcclip evaluate` scores them.

A run's model (its config.yaml and checkpoint, through ``load_model``) or a checkpoint file
with a config scores each video with the config's evaluation settings (frames, clips x crops
views, input size, view sampling) through ``evaluate.predict``: the sum of its views'
softmax, divided by the number of views. The model is given the class names of the names
file (zero-shot: they need not be the run's classes). Videos that cannot be read are
skipped and named; the rest are written as a CSV (path, rank, class id, class name,
probability) and a JSON beside it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from tcclip.engine.checkpoint import atomic_write_json, atomic_write_text
from tcclip.engine.run_config import RunConfig
from tcclip.engine.run_files import CONFIG
from tcclip.errors import TcclipError

CSV_COLUMNS = ["path", "rank", "class_id", "class_name", "probability"]


@dataclass
class Request:
    """What ``tcclip predict`` was asked, checked before any model is built."""

    videos: list[str]  # as written (relative to root)
    root: Path
    class_names: list[str]
    cfg: RunConfig
    run: Path | None  # a run directory, or
    weights: Path | None  # a checkpoint file scored with cfg
    topk: int
    out: Path

    @property
    def json_out(self) -> Path:
        return self.out.with_suffix(".json")


def read_video_list(path: Path) -> list[str]:
    """One video path per line; blank and '#' lines skipped. An annotation list's trailing
    integer label ('path label') is dropped, so an eval list can be given as it is."""
    if not path.is_file():
        raise TcclipError(f"{path}: video list not found")
    videos = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.rsplit(None, 1)
        videos.append(parts[0] if len(parts) == 2 and parts[1].lstrip("-").isdigit() else text)
    return videos


def make_request(videos: list[str], video_list: str | None, labels: str, run: str | None, weights: str | None,
                 configs: list[str], root: str | None, topk: int, out: str) -> Request:
    """Every input checked (one-line errors), the config resolved; no model built yet."""
    from tcclip.data.annotations import load_class_list
    from tcclip.engine.run_config import load_resolved, resolve_run_config

    if (run is None) == (weights is None):
        raise TcclipError("give the model: --run RUN_DIR, or --weights FILE with --config")
    if run is not None and configs:
        raise TcclipError("--config goes with --weights; a run directory brings its own config.yaml")
    if weights is not None and not configs:
        raise TcclipError("--weights needs the model's config: --config embedded | paper | FILE (e.g. RUN/config.yaml)")
    videos = list(videos) + (read_video_list(Path(video_list)) if video_list else [])
    if not videos:
        raise TcclipError("no videos: give VIDEO paths or --list FILE" + (f" ({video_list} lists none)"
                                                                         if video_list else ""))
    if topk < 1:
        raise TcclipError(f"--topk: expected an integer >= 1, got {topk}")
    out_path = Path(out)
    if out_path.suffix.lower() == ".json":
        raise TcclipError(f"--out {out}: name the CSV; the JSON is written beside it (same name, .json)")
    root_path = Path(root) if root else Path("")
    if root and not root_path.is_dir():
        raise TcclipError(f"--root {root}: not a folder")
    class_names = load_class_list(labels)
    if run is not None:
        run_path = Path(run)
        if not (run_path / CONFIG).is_file():
            raise TcclipError(f"{run_path}: not a run directory (no config.yaml); give a run of tcclip train")
        cfg = load_resolved(run_path / CONFIG)
        weights_path = None
    else:
        run_path, weights_path = None, Path(weights)
        if not weights_path.is_file():
            raise TcclipError(f"{weights_path}: weights file not found")
        cfg = resolve_run_config(configs)
    if not any((root_path / video).is_file() for video in videos):
        raise TcclipError(f"none of the {len(videos)} video(s) exists: {_listed(videos)}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    return Request(videos, root_path, class_names, cfg, run_path, weights_path, topk, out_path)


def _listed(paths: list[str], most: int = 10) -> str:
    shown = ", ".join(paths[:most])
    return shown + (f" and {len(paths) - most} more" if len(paths) > most else "")


def load_predictor(request: Request, rt):
    """(model, what weights it holds): the run's, as `tcclip evaluate` loads them, or the file's."""
    from tcclip.engine.checkpoint import load_checkpoint
    from tcclip.engine.evaluate import check_finite, load_model
    from tcclip.model.video_clip import VideoCLIP

    cfg = request.cfg
    if request.run is not None:
        checkpoint = cfg.eval.checkpoint if cfg.train.epochs else "last"
        return load_model(cfg, request.run, checkpoint, None, rt)
    state = load_checkpoint(request.weights)
    check_finite(request.weights, state["model"])
    model = VideoCLIP.build(cfg.model)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:  # torch's message lists every key: keep its start, on one line
        detail = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
        detail = detail if len(detail) <= 300 else detail[:297] + "..."
        raise TcclipError(f"{request.weights}: the weights do not fit the config's model ({detail})") from None
    return model.to(rt.device), {"checkpoint": str(request.weights), "epoch": int(state.get("epoch", 0))}


def score_videos(model, request: Request, rt, progress=None) -> dict:
    """Top-k per readable video and the skipped ones, through evaluation's own scoring.

    Returns {"videos": [{"path", "top": [{"rank", "class_id", "class_name", "probability"}]}],
    "skipped": [{"path", "kind", "error"}], "views": V} in the order the videos were given.
    """
    from tcclip.data.dataset import VideoDataset
    from tcclip.engine.evaluate import predict
    from tcclip.engine.runtime import autocast_dtype
    from tcclip.engine.metrics import top_ranked

    cfg = request.cfg
    data = cfg.data.replace(mode="test", on_error="skip")
    dataset = VideoDataset.from_paths(request.videos, request.root, data)
    prediction = predict(model, dataset, request.class_names, cfg.eval.batch_size, rt, cfg.eval.workers,
                         autocast_dtype(cfg.train.amp, cfg.train.amp_dtype, rt.device), progress=progress)
    views = max(int(prediction["views"]), 1)
    scored = []
    if len(prediction["scores"]):
        top = top_ranked(prediction["scores"], request.topk)  # the ranking the metrics use
        for row, index in enumerate(prediction["index"].tolist()):
            scored.append({"path": request.videos[index], "top": [
                {"rank": rank + 1, "class_id": int(class_id), "class_name": request.class_names[int(class_id)],
                 "probability": float(value) / views}
                for rank, (class_id, value) in enumerate(zip(top.indices[row].tolist(), top.values[row].tolist()))]})
    skipped = [{"path": request.videos[s.index], "kind": s.kind, "error": s.error}
               for s in sorted(prediction["skipped"], key=lambda s: s.index)]
    return {"videos": scored, "skipped": skipped, "views": views}


def write_outputs(result: dict, request: Request, weights: dict) -> tuple[Path, Path]:
    """The CSV at --out (one line per video and rank) and the JSON beside it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for video in result["videos"]:
        for top in video["top"]:
            writer.writerow([video["path"], top["rank"], top["class_id"], top["class_name"], repr(top["probability"])])
    atomic_write_text(buffer.getvalue(), request.out)
    cfg = request.cfg
    atomic_write_json({
        "run": None if request.run is None else str(request.run),
        "weights": weights,
        "classes": len(request.class_names),
        "class_names": request.class_names,
        "topk": request.topk,
        "views": {"clips": cfg.data.num_clips, "crops": cfg.data.num_crops, "sampling": cfg.data.view_sampling,
                  "view_seed": cfg.data.view_seed, "frames": cfg.data.num_frames, "input_size": cfg.data.input_size},
        "videos": result["videos"],
        "skipped": result["skipped"],
    }, request.json_out)
    return request.out, request.json_out


def summary_line(result: dict, total: int) -> str:
    skipped = [s["path"] for s in result["skipped"]]
    return f"{len(result['videos'])} of {total} videos scored; skipped: " + (_listed(skipped) if skipped else "none")


# ---------------------------------------------------------------- the command
def cmd_predict(args) -> int:
    import sys

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from tcclip.engine.runtime import configure_threads, seed_everything, setup_distributed

    request = make_request(args.videos, args.list, args.labels, args.run, args.weights, args.config, args.root,
                           args.topk, args.out)
    rt = setup_distributed(request.cfg.train.device)
    configure_threads()
    seed_everything(request.cfg.seed)
    model, weights = load_predictor(request, rt)
    err = Console(stderr=True)
    with Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err,
                  disable=not err.is_terminal, transient=True) as bar:
        task = bar.add_task("scoring", total=len(request.videos))
        result = score_videos(model, request, rt, progress=lambda n: bar.advance(task, n))
    if not result["videos"]:
        reasons = ", ".join(f"{s['path']} ({s['kind']})" for s in result["skipped"][:10])
        raise TcclipError(f"none of the {len(request.videos)} videos could be read: {reasons}"
                          + (f" and {len(result['skipped']) - 10} more" if len(result["skipped"]) > 10 else ""))
    for skip in result["skipped"]:  # one line each, naming the file and why
        print(f"tcclip: skipped {skip['error']}", file=sys.stderr)
    table = Table(title=f"top-{min(request.topk, len(request.class_names))} of {len(request.class_names)} classes")
    for column, justify in (("video", "left"), ("rank", "right"), ("class", "left"), ("probability", "right")):
        table.add_column(column, justify=justify, overflow="fold")
    for video in result["videos"]:
        for top in video["top"]:
            table.add_row(video["path"] if top["rank"] == 1 else "", str(top["rank"]),
                          f"{top['class_name']} ({top['class_id']})", f"{top['probability']:.4f}",
                          end_section=top is video["top"][-1])
    Console(highlight=False).print(table)
    csv_path, json_path = write_outputs(result, request, weights)
    print(summary_line(result, len(request.videos)))
    print(f"-> {csv_path}, {json_path}")
    return 0
