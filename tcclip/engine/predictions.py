"""Per-video predictions beside each metrics file: what every scored video got.

One gzip CSV per scored model (``predictions.csv.gz`` beside ``metrics.json``,
``predictions_wiseft0.7.csv.gz`` beside ``metrics_wiseft0.7.json``), one line per
(eval set, video): dataset, split, eval-set key, the list file and its 1-based line, the
video path as listed, the label, the five highest class ids and their probabilities (the
mean over views of each view's softmax, i.e. the summed scores divided by the views).
``metrics.json``'s top-1/top-5 follow from it (``accuracy``); the statistics over test
videos (tcclip.report.stats) are computed from it.

The ids are ranked by the metrics' own ``top_ranked``, so ties resolve identically.
Sets with fewer than five classes leave the missing ranks at -1 (id) and NaN (probability).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from tcclip.engine.metrics import TOPK, top_ranked
from tcclip.errors import TcclipError

TOP = max(TOPK)
ID_COLUMNS = [f"top{i}_id" for i in range(1, TOP + 1)]
PROB_COLUMNS = [f"top{i}_p" for i in range(1, TOP + 1)]
COLUMNS = ["dataset", "split", "key", "list", "line", "path", "label", *ID_COLUMNS, *PROB_COLUMNS]


def video_frame(key: str, spec, scores: torch.Tensor, labels: torch.Tensor, entries: list, views: int) -> pd.DataFrame:
    """One eval set's lines: ``scores`` (N, K) summed over ``views``, ``entries`` the list
    annotations of the N scored videos (path, line, source) in the same order."""
    top = top_ranked(scores, TOP) if len(scores) else None
    k = top.indices.shape[1] if top is not None else 0
    frame = pd.DataFrame({
        "dataset": spec.dataset, "split": spec.split, "key": key,
        "list": [str(e.source or spec.annotation_list) for e in entries],
        "line": [int(e.line) for e in entries], "path": [e.path for e in entries],
        "label": labels.tolist(),
    })
    for rank in range(TOP):
        frame[ID_COLUMNS[rank]] = top.indices[:, rank].tolist() if rank < k else -1
        frame[PROB_COLUMNS[rank]] = (top.values[:, rank] / max(views, 1)).tolist() if rank < k else float("nan")
    return frame[COLUMNS]


def write_predictions(frames: list[pd.DataFrame], path: Path) -> Path:
    """All eval sets of one model, written atomically (a half-written file is never read)."""
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    frame.to_csv(partial, index=False, float_format="%.6g", compression="gzip")
    partial.replace(path)
    return path


def read_predictions(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    try:
        frame = pd.read_csv(path, compression="gzip", keep_default_na=False, na_values=["", "nan", "NaN"])
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError) as err:
        raise TcclipError(f"{path}: unreadable per-video predictions ({err})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise TcclipError(f"{path}: per-video predictions lack columns {missing}")
    return frame


def hits(frame: pd.DataFrame) -> pd.DataFrame:
    """Per video: top1 and top5 as 0/1 (top-5 of a set of fewer classes is top-K, as in metrics)."""
    ids = frame[ID_COLUMNS].to_numpy()
    label = frame["label"].to_numpy()[:, None]
    return frame.assign(top1=(ids[:, :1] == label).any(axis=1).astype(int), top5=(ids == label).any(axis=1).astype(int))


def accuracy(frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Eval-set key -> {"top1", "top5" (in %), "videos"}: what metrics.json's rows hold."""
    scored = hits(frame)
    out = {}
    for key, group in scored.groupby("key", sort=False):
        n = len(group)
        out[key] = {"top1": 100.0 * int(group["top1"].sum()) / n, "top5": 100.0 * int(group["top5"].sum()) / n,
                    "videos": n}
    return out
