"""Evaluation: multi-view scores per video, top-1/top-5 per eval set, metrics.json per run.

For each eval set of the run's protocol task, the model's classes are reset to that
set's class names (zero-shot: the target dataset's), every video's views (clips x
crops) are scored and their softmax summed. The run's weights are the last or the best
epoch's (as the protocol asks), optionally ensembled with CLIP (WiSE-FT) first.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import json
import logging
import platform
import re
import subprocess
import time
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from torch.utils.data import Subset

from tcclip import paths
from tcclip.engine.checkpoint import BEST, LAST, atomic_write_json, load_checkpoint
from tcclip.config import config_hash, to_dict
from tcclip.errors import TcclipError
from tcclip.engine.metrics import TOPK, aggregate_views, harmonic_mean, mean_std, topk_correct
from tcclip.engine.predictions import video_frame, write_predictions
from tcclip.engine.run_files import CONFIG, TRAINED, metrics_filename, predictions_path
from tcclip.engine.run_config import (RunConfig, evaluation_settings, load_resolved, resolve_task, run_id,
                                      training_identity)
from tcclip.engine.runtime import Dist, autocast_dtype, configure_threads, seed_everything, setup_distributed
from tcclip.engine.wiseft import ensemble_weights
from tcclip.data.fingerprint import evaluation_data, source_fingerprint
from tcclip.data.transforms import model_input
from tcclip.model.backbone import clip_state_dict
from tcclip.model.video_clip import VideoCLIP

log = logging.getLogger("tcclip.engine.evaluate")
METRICS_SCHEMA = 1


# ---------------------------------------------------------------- one set
def predict(model: VideoCLIP, dataset, class_names: list[str], batch_size: int, rt: Dist,
            workers: int = 0, amp: torch.dtype | None = None, progress: Callable[[int], None] | None = None) -> dict:
    """Summed per-view softmax scores of every video this process sees, gathered on all ranks.
    ``amp``: the dtype the encoders autocast to (tcclip.engine.runtime.autocast_dtype), None for
    full precision.

    Returns {"scores": (N, K), "labels": (N,), "index": (N,), "views": V, "skipped": [...],
    "seconds": s} with videos in dataset order. ``progress`` is called after each batch with
    the number of videos it held (scored or skipped) on this process.
    """
    return predict_many([model], dataset, class_names, batch_size, rt, workers, amp, progress)[0]


def predict_many(models: list[VideoCLIP], dataset, class_names: list[str], batch_size: int, rt: Dist,
                 workers: int = 0, amp: torch.dtype | None = None,
                 progress: Callable[[int], None] | None = None) -> list[dict]:
    """``predict`` for several models (a run and its WiSE-FT ensemble): each batch is decoded
    once and scored by every model; one prediction per model, in order."""
    outs = predict_lists(models, dataset, [class_names], batch_size, rt, workers, amp, progress)
    return [per_list[0] for per_list in outs]


def predict_lists(models: list[VideoCLIP], dataset, class_lists: list[list[str]], batch_size: int, rt: Dist,
                  workers: int = 0, amp: torch.dtype | None = None,
                  progress: Callable[[int], None] | None = None) -> list[list[dict]]:
    """``predict_many`` against several class lists: each batch is decoded once, encoded once by
    every model and classified against every list (eval sets of one video folder with
    different classes, such as K-600's three zero-shot subsets). Returns [model][list]."""
    for model in models:
        model.eval()
    with torch.no_grad():
        outs, skipped, views, seconds = _score_views(models, dataset, class_lists, batch_size, rt, workers, amp,
                                                     progress)
    if rt.enabled:  # one gather for every model's and list's scores
        outs, skipped, views = _gathered(outs, skipped, views, rt)
    return [[{**out, "views": views, "skipped": skipped, "seconds": seconds} for out in per_list] for per_list in outs]


def _gathered(outs: list[list[dict]], skipped: list, views: int, rt: Dist) -> tuple[list[list[dict]], list, int]:
    """Every rank's scores, in dataset order, on every rank."""
    parts = [None] * rt.world_size
    dist.all_gather_object(parts, (outs, skipped, views))
    gathered = []
    for m, per_list in enumerate(outs):
        gathered.append([])
        for j in range(len(per_list)):
            out = {key: torch.cat([p[0][m][j][key] for p in parts]) for key in per_list[j]}
            order = out["index"].argsort()
            gathered[m].append({key: value[order] for key, value in out.items()})
    return gathered, [s for p in parts for s in p[1]], max(p[2] for p in parts)


def _score_views(models, dataset, class_lists, batch_size, rt, workers, amp, progress=None):
    shard = dataset if not rt.enabled else Subset(dataset, range(rt.rank, len(dataset), rt.world_size))
    from tcclip.data.dataset import VideoLoader  # bad videos in workers: the same one-line error

    # Pinned host batches, as in training: the non_blocking copy below then overlaps the GPU's work.
    loader = VideoLoader(shard, batch_size=batch_size, shuffle=False, num_workers=workers,
                         collate_fn=getattr(dataset, "collate", None), pin_memory=rt.device.type == "cuda")
    scores = [[[] for _ in class_lists] for _ in models]
    labels, index, skipped = [], [], []
    views = 0
    started = time.perf_counter()
    for batch in loader:
        skipped.extend(batch.get("skipped", []))
        video = batch["video"]
        if progress is not None:
            progress(video.shape[0] + len(batch.get("skipped", [])))
        if video.shape[0] == 0:
            continue
        b, views = video.shape[:2]
        video = model_input(video.to(rt.device, non_blocking=True)).flatten(0, 1)  # uint8 pixels: normalised here
        for model, kept in zip(models, scores):
            for per_list, logits in zip(kept, list_logits(model, video, class_lists, amp)):
                per_list.append(aggregate_views(logits.float().view(b, views, -1)).cpu())
        labels.append(batch["label"])
        index.append(batch["index"])
    seconds = time.perf_counter() - started
    label_tensor = torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)
    index_tensor = torch.cat(index) if index else torch.zeros(0, dtype=torch.long)
    outs = [[{"scores": torch.cat(kept) if kept else torch.zeros(0, len(names)), "labels": label_tensor,
              "index": index_tensor} for kept, names in zip(per_model, class_lists)] for per_model in scores]
    return outs, skipped, views, seconds


def view_logits(model: VideoCLIP, video: torch.Tensor, amp: torch.dtype | None) -> torch.Tensor:
    """Logits (B, K) of ``model`` on ``video``, its encoders autocast to ``amp`` (None: full
    precision). Evaluation once autocast every forward to float16, whatever train.amp_dtype said;
    the logits themselves (x100, compared with each other) VideoCLIP.forward computes in at least
    float32 (tcclip/model/precision.py), so bfloat16 does not make near-equal classes tie."""
    with torch.autocast(video.device.type, dtype=amp, enabled=amp is not None):
        return model(video)


def list_logits(model: VideoCLIP, video: torch.Tensor, class_lists: list[list[str]],
                amp: torch.dtype | None) -> list[torch.Tensor]:
    """``view_logits`` against each class list, the video encoded once (its features do not
    depend on the classes; a video-conditioned prompt's text side runs per list)."""
    if len(class_lists) == 1:  # the plain forward
        model.set_class_names(class_lists[0])
        return [view_logits(model, video, amp)]
    with torch.autocast(video.device.type, dtype=amp, enabled=amp is not None):
        vision = model.encode_video(video)
        logits = []
        for names in class_lists:
            model.set_class_names(names)
            logits.append(model.classify(vision))
        return logits


def score(prediction: dict) -> dict:
    """Top-1 / top-5 (in %) of a prediction; top-5 of a set with fewer classes is top-K."""
    labels = prediction["labels"]
    if len(labels) == 0:
        raise TcclipError("no video of the eval set could be read")
    hits = topk_correct(prediction["scores"], labels, TOPK)
    num_classes = prediction["scores"].shape[1]
    return {
        "top1": 100.0 * int(hits[1].sum()) / len(labels),
        "top5": 100.0 * int(hits[5].sum()) / len(labels),
        "top5_k": min(5, num_classes),
        "chance_top1": 100.0 / num_classes,
        "videos": int(len(labels)),
    }


def evaluate_splits(models: list[VideoCLIP], specs: dict, cfg: RunConfig, rt: Dist,
                    per_video: list[list] | None = None) -> tuple[list[dict[str, dict]], dict]:
    """Eval sets (key -> resolved SplitSpec) -> for each model its rows of metrics.json by key,
    and the scoring totals ({"videos": distinct videos scored, "seconds": time spent scoring}).
    Every model scores the same decoded batches. ``per_video``: one list per model, which
    receives each eval set's per-video lines (tcclip.engine.predictions).

    Sets that share a video folder are scored together: each distinct video is decoded and
    encoded once, classified against every class list of the group (HMDB-51's and UCF-101's
    three splits share one list; K-600's three zero-shot subsets have a list each), and its
    scores are read back per set, with the set's own labels. A video's encoding depends
    neither on the list it is in (its views are keyed by its path) nor on the classes, so the
    rows equal set-by-set evaluation, for less decoding and compute.
    """
    from tcclip.data.dataset import VideoDataset

    data = cfg.data.replace(mode="test")
    rows: list[dict[str, dict]] = [{} for _ in models]
    totals = {"videos": 0, "seconds": 0.0}
    for keys, lists, list_of in _groups_sharing_videos(specs, cfg.class_names):
        sets = {key: VideoDataset.from_split(specs[key], data) for key in keys}
        union, positions = _union(list(sets.values()), [list_of[key] for key in keys])
        positions = dict(zip(keys, positions))
        predictions = predict_lists(models, union, lists, cfg.eval.batch_size, rt, cfg.eval.workers,
                                    autocast_dtype(cfg.train.amp, cfg.train.amp_dtype, rt.device))
        first = predictions[0][0]
        selections = {key: _selection(first, positions[key], union) for key in keys}  # same for every model
        for m, model_rows in enumerate(rows):
            for key in keys:
                prediction = predictions[m][list_of[key]]
                entries = _scored_entries(prediction, positions[key], sets[key])
                part = _select(prediction, *selections[key], entries)
                if per_video is not None:
                    per_video[m].append(video_frame(key, specs[key], part["scores"], part["labels"], entries,
                                                    prediction["views"]))
                model_rows[key] = _metrics_row(specs[key], len(lists[list_of[key]]), part, prediction, len(union),
                                               [k for k in keys if k != key])
        totals["videos"] += len(union)
        totals["seconds"] += first["seconds"]
    return [{key: model_rows[key] for key in specs} for model_rows in rows], totals


def _groups_sharing_videos(specs: dict, class_names) -> list[tuple[list[str], list[list[str]], dict[str, int]]]:
    """The eval set keys grouped by video folder, each group with its distinct class-name lists
    and, for each of its keys, the position of the set's list among them."""
    groups: dict[str, tuple[list[str], list[list[str]], dict[str, int]]] = {}
    for key, spec in specs.items():
        keys, lists, list_of = groups.setdefault(str(spec.video_root), ([], [], {}))
        names = spec.prompt_names(class_names)
        if names not in lists:
            lists.append(names)
        keys.append(key)
        list_of[key] = lists.index(names)
    return list(groups.values())


def _metrics_row(spec, classes: int, part: dict, prediction: dict, scored: int, scored_with: list[str]) -> dict:
    """One eval set's row of metrics.json; ``scored``: the videos its group decoded, ``scored_with``: the
    other sets of its group."""
    row = {"dataset": spec.dataset, "split": spec.split, "classes": classes, **score(part)}
    row.update(views=prediction["views"], skipped_videos=len(part["skipped"]), seconds=round(prediction["seconds"], 3),
               videos_per_s=round(scored / max(prediction["seconds"], 1e-9), 2))
    if scored_with:
        row["scored_with"] = scored_with
    return row


def _union(sets: list, list_ids: list[int]) -> tuple[object, list[list[int]]]:
    """One dataset holding every distinct video of ``sets`` (one video folder), and for each
    set the union positions of its videos, in the set's own order. ``list_ids``: each set's
    class list; a video labelled differently by two sets of the same classes is an error
    (labels across different class lists are the sets' own, read back by ``_select``)."""
    union = copy.copy(sets[0])
    union.entries, union.skipped = [], []
    where: dict[str, int] = {}
    label_of: dict[tuple[str, int], tuple[int, object]] = {}
    positions = []
    for dataset, list_id in zip(sets, list_ids):
        mine = []
        for entry in dataset.entries:
            if entry.path not in where:
                where[entry.path] = len(union.entries)
                union.entries.append(dataclasses.replace(entry, source=str(dataset.annotation_list)))
            seen = label_of.setdefault((entry.path, list_id), (entry.label, dataset.annotation_list))
            if seen[0] != entry.label:
                raise TcclipError(f"{entry.path}: label {entry.label} in {dataset.annotation_list}, "
                                  f"{seen[0]} in {seen[1]}, a list of the same classes")
            mine.append(where[entry.path])
        positions.append(mine)
    return union, positions


def _selection(prediction: dict, positions: list[int], union) -> tuple[list[int], set[str]]:
    """Which rows of a union prediction belong to one set, and the paths of its videos."""
    found = {int(i): row for row, i in enumerate(prediction["index"].tolist())}
    return [found[p] for p in positions if p in found], {str(union.video_path(p)) for p in positions}


def _scored_entries(prediction: dict, positions: list[int], dataset) -> list:
    """The set's own list entries (its list lines) of the videos that were scored, in
    ``_selection``'s order."""
    found = set(prediction["index"].tolist())
    return [entry for entry, p in zip(dataset.entries, positions) if p in found]


def _select(prediction: dict, rows: list[int], paths: set[str], entries: list) -> dict:
    """One set's part of a union prediction: its rows, its own labels (``entries``, in the
    rows' order), its skipped videos (dropped from the scores, counted)."""
    return {
        "scores": prediction["scores"][rows],
        "labels": torch.tensor([entry.label for entry in entries], dtype=torch.long),
        "skipped": [s for s in prediction["skipped"] if s.path in paths],
    }


# ---------------------------------------------------------------- the run's weights
def load_model(cfg: RunConfig, run_path: Path, checkpoint: str, wiseft: float | None, rt: Dist) -> tuple[VideoCLIP, dict]:
    """The model with the run's weights (last/best epoch; CLIP's own when nothing was trained),
    WiSE-FT-ensembled with the CLIP weights when ``wiseft`` is a ratio."""
    return load_models(cfg, run_path, checkpoint, [wiseft], rt)[0]


def load_models(cfg: RunConfig, run_path: Path, checkpoint: str, ratios: list[float | None],
                rt: Dist) -> list[tuple[VideoCLIP, dict]]:
    """``load_model`` for several ratios (None: the fine-tuned weights): the checkpoint is
    read and checked once, the CLIP backbone file loaded once."""
    base = VideoCLIP.build(cfg.model)
    if cfg.train.epochs == 0 and cfg.model.load_from is None:
        note = {"wiseft_note": "nothing was trained: WiSE-FT of CLIP with itself is CLIP"}
        return [(_on_device(_own_copy(base, i, ratios), cfg, rt),
                 {"checkpoint": None, "epoch": 0, **(note if r is not None else {})}) for i, r in enumerate(ratios)]
    if cfg.train.epochs == 0:  # model.load_from: released weights, scored (and WiSE-FT-ensembled) as they are
        path, state = Path(cfg.model.load_from), {"model": base.state_dict(), "epoch": 0}
        clip_init = clip_state_dict(cfg.model.backbone)
    else:
        path, state = _checked_checkpoint(cfg, run_path, checkpoint)
        # The CLIP side exactly as the model was initialised (same file, same fp16 rounding).
        clip_init = {k: v.detach().clone() for k, v in base.clip.state_dict().items()}
    info: dict = {"checkpoint": str(path), "epoch": int(state.get("epoch", 0))}
    if "top1" in state:
        info["selection_top1"] = state["top1"]
    loaded = []
    for i, ratio in enumerate(ratios):
        weights, model_info = state["model"], dict(info)
        if ratio is not None:
            weights, ensembled = ensemble_weights(weights, clip_init, ratio)
            model_info["wiseft_ensembled_tensors"] = len(ensembled)
        model = _own_copy(base, i, ratios)
        model.load_state_dict(weights)
        loaded.append((_on_device(model, cfg, rt), model_info))
    return loaded


def _on_device(model: VideoCLIP, cfg: RunConfig, rt: Dist) -> VideoCLIP:
    """The model on the run's device, its encoders compiled with ``train.compile`` (after the
    weights are loaded and the copies made: a compiled module is not copied)."""
    model = model.to(rt.device)
    return model.compile_encoders() if cfg.train.compile else model


def _own_copy(base: VideoCLIP, i: int, ratios: list) -> VideoCLIP:
    """A model of its own for variant i: copies of the built model, the last one takes it."""
    return base if i == len(ratios) - 1 else copy.deepcopy(base)


def _checked_checkpoint(cfg: RunConfig, run_path: Path, checkpoint: str) -> tuple[Path, dict]:
    """The run's finished, finite checkpoint (last or best epoch); a one-line error otherwise."""
    if not (run_path / TRAINED).is_file():  # written last, atomically: the run's completion marker
        raise TcclipError(f"{run_path}: training has not finished (no train.json); finish it with "
                          f"tcclip train --config {run_path / 'config.yaml'} (it resumes)")
    path = run_path / "checkpoints" / (BEST if checkpoint == "best" else LAST)
    if not path.is_file():
        raise TcclipError(f"{path}: no checkpoint; train the run first (tcclip train --config {run_path / 'config.yaml'})")
    state = load_checkpoint(path)
    if checkpoint == "last" and state.get("epoch") != cfg.train.epochs:
        raise TcclipError(f"{path}: training stopped after epoch {state.get('epoch')} of {cfg.train.epochs}; "
                          "finish it with tcclip train (it resumes)")
    check_finite(path, state["model"])
    return path, state


def check_finite(path: Path, weights: dict) -> None:
    """A one-line error when a checkpoint's weights hold NaN/inf (a diverged run)."""
    broken = [key for key, value in weights.items() if value.is_floating_point() and not torch.isfinite(value).all()]
    if broken:  # a diverged run is never scored as if it were a model
        raise TcclipError(f"{path}: {len(broken)} parameter tensor(s) hold NaN/inf (first: {broken[0]}); "
                          "the run diverged: retrain it with a lower train.lr")


# ---------------------------------------------------------------- summaries
def summarize_by_dataset(rows: list[dict], eval_keys: list[str]) -> dict:
    """Per dataset: mean ± population std over its splits (the paper's zero-shot 'a ± b');
    'all' = mean of the dataset means; base-to-novel: base, novel and HM."""
    summary: dict = {}
    by_dataset: dict[str, list[dict]] = {}
    for key, row in zip(eval_keys, rows):
        if key in ("base", "novel"):
            summary[key] = {"top1": row["top1"], "top5": row["top5"]}
        else:
            by_dataset.setdefault(row["dataset"], []).append(row)
    for dataset, group in by_dataset.items():
        top1 = mean_std([r["top1"] for r in group])
        top5 = mean_std([r["top5"] for r in group])
        summary[dataset] = {"top1": top1[0], "top1_std": top1[1], "top5": top5[0], "top5_std": top5[1],
                            "splits": [r["split"] for r in group]}
    if len(by_dataset) > 1:
        summary["all"] = {"top1": sum(s["top1"] for d, s in summary.items() if d in by_dataset) / len(by_dataset)}
    if "base" in summary and "novel" in summary:
        summary["hm"] = harmonic_mean(summary["base"]["top1"], summary["novel"]["top1"])
    return summary


def code_version() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("tcclip")
    except PackageNotFoundError:
        package = "unknown"
    git = None
    try:
        root = paths.PACKAGE
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=5)
        if head.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            git = head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return {"tcclip": package, "sources": source_fingerprint(), "git": git, "torch": torch.__version__,
            "python": platform.python_version()}


def changed_settings(cfg: RunConfig, run_path: Path) -> dict:
    """Evaluation settings of ``cfg`` that differ from the run's config.yaml (none without one)."""
    config_file = run_path / CONFIG
    if not config_file.is_file():
        return {}
    recorded = evaluation_settings(load_resolved(config_file))
    return {key: value for key, value in evaluation_settings(cfg).items() if recorded.get(key) != value}


def provenance(cfg: RunConfig, task, run_path: Path) -> dict:
    """What a metrics file was computed from: the eval sets' and benchmark's fingerprints, the
    evaluation settings, the trained run's recorded inputs and the code."""
    inputs = run_path / "inputs.json"
    return {
        "data": evaluation_data(task.evals),
        "evaluation": evaluation_settings(cfg),
        "trained_on": json.loads(inputs.read_text()) if inputs.is_file() else None,
        "code": code_version(),
    }


# ---------------------------------------------------------------- a whole run
def evaluate_variants(run_path: str | Path, cfg: RunConfig | None = None, ratios: list[float | None] = (None,),
                      out: str | Path | None = None) -> list[dict]:
    """``_evaluate_variants`` holding the run folder (shared: other evaluations may write their own
    files) and each metrics file it writes (exclusive); a training of the run in progress stops it."""
    from tcclip.engine.runlock import run_lock

    changed = changed_settings(cfg, Path(run_path)) if cfg is not None else {}  # names the files it writes
    targets = [Path(out)] if out else [Path(run_path) / metrics_filename(r, changed) for r in ratios]
    with run_lock(Path(run_path), "evaluation", outputs=targets, shared=True):
        return _evaluate_variants(run_path, cfg, ratios, out)


def _evaluate_variants(run_path: str | Path, cfg: RunConfig | None = None, ratios: list[float | None] = (None,),
                       out: str | Path | None = None) -> list[dict]:
    """Evaluate a trained (or untrained, epochs=0) run on every eval set of its task, for one or
    several weight sets at once: the fine-tuned weights (ratio None) and WiSE-FT ensembles
    (ratios), each video decoded once for all of them. Writes one metrics JSON per ratio;
    ``out`` only with a single ratio. ``cfg``: the run's config with any evaluation settings
    changed (default: its config.yaml)."""
    ratios = list(ratios)
    if out is not None and len(ratios) != 1:
        raise TcclipError("an output path names one metrics file: evaluate one variant at a time")
    run_path = Path(run_path)
    cfg = _evaluated_config(run_path, cfg)
    rt = setup_distributed(cfg.train.device)
    threads = configure_threads()
    seed_everything(cfg.seed)
    task = resolve_task(cfg)
    started = time.perf_counter()
    checkpoint = cfg.eval.checkpoint if cfg.train.epochs else "last"
    loaded = load_models(cfg, run_path, checkpoint, ratios, rt)
    per_video: list[list] = [[] for _ in loaded]
    rows_by_model, scoring = evaluate_splits([model for model, _ in loaded], task.evals, cfg, rt, per_video)
    wall = time.perf_counter() - started
    shared = _SharedRecord(
        run_path=run_path, cfg=cfg, task=task, ratios=ratios, wall_s=round(wall, 3), scoring=scoring,
        train=_train_info(run_path) or ({"epochs": 0} if cfg.train.epochs == 0 else None),
        changed=changed_settings(cfg, run_path), provenance=provenance(cfg, task, run_path),
        host={"device": str(rt.device), "world_size": rt.world_size, "threads": threads})
    written = []
    for ratio, (_, weights), by_key, videos in zip(ratios, loaded, rows_by_model, per_video):
        rows = [{"key": key, **row} for key, row in by_key.items()]
        _log_rows(rows, ratio)
        metrics = _metrics_record(shared, ratio, weights, rows)
        target = Path(out) if out else run_path / metrics_filename(ratio, shared.changed)
        if rt.is_main:  # the per-video lines first: a metrics file never lacks its predictions
            metrics["predictions"] = write_predictions(videos, predictions_path(target)).name
            atomic_write_json(metrics, target)
        metrics["path"] = str(target)
        written.append(metrics)
    return written


def _evaluated_config(run_path: Path, cfg: RunConfig | None) -> RunConfig:
    """The run's config (its config.yaml unless given), checked to name this run."""
    config_file = run_path / CONFIG
    if cfg is None:
        if not config_file.is_file():
            raise TcclipError(f"{run_path}: not a run directory (no config.yaml); create it with tcclip train")
        cfg = load_resolved(config_file)
    if run_id(cfg) != run_path.name:
        raise TcclipError(f"overrides change the trained model (run id {run_id(cfg)}, not {run_path.name}); "
                          "evaluate may only change evaluation settings (data views, eval.*)")
    return cfg


def _log_rows(rows: list[dict], ratio: float | None) -> None:
    for row in rows:
        log.info("%s%s: top-1 %.2f top-5 %.2f (%d videos, %.1f videos/s)", row["key"],
                 "" if ratio is None else f" (WiSE-FT {ratio:g})", row["top1"], row["top5"], row["videos"],
                 row["videos_per_s"])


@dataclasses.dataclass(frozen=True)
class _SharedRecord:
    """What the metrics files of variants evaluated together record alike."""

    run_path: Path
    cfg: RunConfig
    task: object  # tcclip.data.protocols.Task
    ratios: list  # every variant evaluated together
    wall_s: float
    scoring: dict  # {"videos": distinct videos scored, "seconds": time spent scoring}
    train: dict | None
    changed: dict  # evaluation settings that differ from the run's config.yaml
    provenance: dict
    host: dict


def _metrics_record(shared: _SharedRecord, ratio: float | None, weights: dict, rows: list[dict]) -> dict:
    """One variant's metrics.json content (without the predictions file it names)."""
    cfg, task, scoring = shared.cfg, shared.task, shared.scoring
    return {
        "schema": METRICS_SCHEMA,
        "run_id": shared.run_path.name,
        "task": task.name,
        "protocol": task.protocol,
        "params": task.params,
        "variant": "finetuned" if ratio is None else "wiseft",
        "wiseft_ratio": ratio,
        "weights": weights,
        "seed": cfg.seed,
        "views": {"clips": cfg.data.num_clips, "crops": cfg.data.num_crops, "sampling": cfg.data.view_sampling,
                  "view_seed": cfg.data.view_seed, "frames": cfg.data.num_frames,
                  "input_size": cfg.data.input_size},
        "class_names": cfg.class_names,
        "results": rows,
        "summary": summarize_by_dataset(rows, [r["key"] for r in rows]),
        "train": shared.train,
        "eval_wall_s": shared.wall_s,  # shared by the variants evaluated together
        "evaluated_with": [metrics_filename(r, shared.changed) for r in shared.ratios if r != ratio],
        "eval_videos_scored": scoring["videos"],  # distinct videos: sets of one folder and class list share scores
        "eval_videos_per_s": round(scoring["videos"] / max(scoring["seconds"], 1e-9), 2),
        "config_hash": config_hash(training_identity(cfg)),
        "config": to_dict(cfg),
        "code_version": shared.provenance["code"],
        "provenance": shared.provenance,
        "host": dict(shared.host),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _train_info(run_path: Path) -> dict | None:
    path = run_path / TRAINED
    if not path.is_file():
        return None
    info = json.loads(path.read_text())
    keys = ("epochs", "updates", "wall_s", "final_loss", "videos_per_s", "best", "selection_set", "selection_views")
    return {key: info.get(key) for key in keys}
