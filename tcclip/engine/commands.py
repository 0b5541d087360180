"""`tcclip train | evaluate | run | predict | run-dir | pretrain-clip`: the engine's command line.

Configs are YAML files (a path, or a shipped name: ``embedded``, ``paper``) merged in
order, then ``key=value`` overrides, e.g.::

    tcclip train --config embedded protocol.catalog=data/synthetic/catalog.yaml model.preset=vifi_clip seed=2
    tcclip evaluate results/runs/3f2a9c0d1e4b --wiseft 0.7
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tcclip.errors import TcclipError
from tcclip.engine.run_files import CONFIG


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", action="append", default=[], metavar="FILE",
                        help="run config YAML, or a shipped one (embedded, paper); repeatable, later wins")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="dotted overrides, e.g. model.preset=vifi_clip train.epochs=2 seed=3")


def _resolve(args):
    from tcclip.engine.run_config import resolve_run_config

    if not args.config:
        raise TcclipError("give a run config: --config embedded | paper | FILE")
    return resolve_run_config(args.config, args.overrides)


def _wiseft_ratio(value: str | None, cfg) -> float | None:
    from tcclip.engine.wiseft import check_ratio

    if value is None:
        return None
    if value == "protocol":  # --wiseft without a number: the protocol's ratio, else the paper's
        return check_ratio(cfg.eval.wiseft if cfg.eval.wiseft is not None else 0.7)
    try:
        return check_ratio(float(value))
    except ValueError:
        raise TcclipError(f"--wiseft: expected a ratio in [0, 1], got {value!r}") from None


def _print_metrics(metrics: dict) -> None:
    label = "WiSE-FT %g" % metrics["wiseft_ratio"] if metrics["wiseft_ratio"] is not None else "fine-tuned"
    print(f"{metrics['task']} ({label}), run {metrics['run_id']}:")
    for row in metrics["results"]:
        print(f"  {row['key']:<24} top-1 {row['top1']:6.2f}  top-{row['top5_k']} {row['top5']:6.2f}  "
              f"({row['videos']} videos, {row['classes']} classes)")
    summary = metrics["summary"]
    if "hm" in summary:
        print(f"  base {summary['base']['top1']:.2f}  novel {summary['novel']['top1']:.2f}  HM {summary['hm']:.2f}")
    if "all" in summary:
        print(f"  all (mean of datasets) top-1 {summary['all']['top1']:.2f}")
    print(f"  -> {metrics['path']}")


# ---------------------------------------------------------------- handlers
def cmd_train(args) -> int:
    from tcclip.engine.train import train_run

    path = train_run(_resolve(args), resume=args.resume, retrain_on_change=args.retrain_on_change)
    print(path)
    return 0


def cmd_run_dir(args) -> int:
    from tcclip.engine.run_config import run_dir

    print(run_dir(_resolve(args)))
    return 0


def _run_for_evaluation(args):
    """(run directory, its config): a given directory (config.yaml + evaluation overrides), or the
    run a --config names (an untrained run is created on the spot)."""
    from tcclip.engine.run_config import load_resolved, run_dir

    if args.run and "=" in args.run and not Path(args.run).is_dir():  # argparse took an override for the run
        args.overrides.insert(0, args.run)
        args.run = None
    if args.run:
        if args.config:
            raise TcclipError("give either a run directory or --config, not both")
        path = Path(args.run)
        if not (path / CONFIG).is_file():
            raise TcclipError(f"{path}: not a run directory (no config.yaml); create it with tcclip train")
        return path, load_resolved(path / CONFIG, args.overrides)
    from tcclip.engine.train import prepare_run

    cfg = _resolve(args)
    path = run_dir(cfg)
    if not (path / CONFIG).is_file():
        if cfg.train.epochs:
            raise TcclipError(f"{path}: not trained yet; run tcclip train with the same config first")
        prepare_run(cfg)
    return path, cfg


def cmd_evaluate(args) -> int:
    from tcclip.engine.evaluate import evaluate_variants
    from tcclip.engine.runtime import setup_logging

    path, cfg = _run_for_evaluation(args)
    setup_logging(None)
    ratios: list[float | None] = [] if args.wiseft_only else [None]
    if args.wiseft is not None:
        ratios.append(_wiseft_ratio(args.wiseft, cfg))
    if args.out and len(ratios) > 1:
        raise TcclipError("--out names one file: use it with --wiseft-only, or without --wiseft")
    for metrics in evaluate_variants(path, cfg, ratios, out=args.out):  # each video decoded once for all
        _print_metrics(metrics)
    return 0


def cmd_run(args) -> int:
    """Train, then evaluate (and WiSE-FT) in one process: the embedded scale's fast path."""
    from tcclip.engine.evaluate import evaluate_variants
    from tcclip.engine.train import train_run

    cfg = _resolve(args)
    path = train_run(cfg, resume=args.resume, retrain_on_change=args.retrain_on_change)
    ratios: list[float | None] = [None]
    if args.wiseft is not None and cfg.train.epochs:
        ratios.append(_wiseft_ratio(args.wiseft, cfg))
    for metrics in evaluate_variants(path, cfg, ratios):
        _print_metrics(metrics)
    return 0


def cmd_pretrain(args) -> int:
    from tcclip.config import from_dict, load_yaml, merge, parse_overrides
    from tcclip.engine.pretrain import PretrainConfig, load_pairs, pretrain_clip
    from tcclip.engine.runtime import setup_logging

    raw: dict = {}
    for source in args.config:
        raw = merge(raw, load_yaml(source))
    raw = merge(raw, parse_overrides(args.overrides))
    cfg = from_dict(PretrainConfig, raw, "pretrain")
    out = Path(args.out)
    setup_logging(out.with_suffix(".log"))
    report = pretrain_clip(load_pairs(args.data), cfg, out)
    print(json.dumps({k: report[k] for k in ("weights", "steps", "wall_s", "final_loss", "zero_shot_val")}))
    return 0


def _cmd_predict(args) -> int:
    from tcclip.engine.predict import cmd_predict

    return cmd_predict(args)


# ---------------------------------------------------------------- parser
def _retrain_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--retrain-on-change", action="store_true",
                        help="when the training lists, labels or initial weights differ from those the run "
                             "recorded (RUN/inputs.json), train it again from the start instead of refusing "
                             "to resume (the DAG passes it)")


def add_commands(subparsers) -> None:
    _add_train_parser(subparsers)
    _add_evaluate_parser(subparsers)
    _add_run_parser(subparsers)
    _add_predict_parser(subparsers)
    _add_run_dir_parser(subparsers)
    _add_pretrain_parser(subparsers)


def _add_train_parser(subparsers) -> None:
    train = subparsers.add_parser("train", help="fine-tune a model on a protocol task (resumes by default)",
                                  description="Train the run of a config; prints its run directory.")
    _config_args(train)
    train.add_argument("--resume", default="auto", metavar="auto|never|PATH",
                       help="auto: continue from the run's checkpoints/last.pt if present (default); "
                            "never: start over; or a checkpoint file")
    _retrain_arg(train)
    train.set_defaults(func=cmd_train, resumable=True)


def _add_evaluate_parser(subparsers) -> None:
    evaluate = subparsers.add_parser("evaluate", help="evaluate a run on its protocol's eval sets -> metrics.json",
                                     description="Evaluate a run directory (or the run a config names).")
    evaluate.add_argument("run", nargs="?", help="run directory (results/runs/<id>)")
    _config_args(evaluate)
    evaluate.add_argument("--wiseft", nargs="?", const="protocol", default=None, metavar="RATIO",
                          help="also evaluate the WiSE-FT ensemble (ratio = weight of the fine-tuned model; "
                               "no value: the protocol's, else 0.7) -> metrics_wiseft<RATIO>.json")
    evaluate.add_argument("--wiseft-only", action="store_true", help="skip the plain evaluation")
    evaluate.add_argument("--out", help="metrics file (default: RUN/metrics.json or RUN/metrics_wiseft<R>.json)")
    evaluate.set_defaults(func=cmd_evaluate)


def _add_run_parser(subparsers) -> None:
    run = subparsers.add_parser("run", help="train + evaluate (+ WiSE-FT) in one process")
    _config_args(run)
    run.add_argument("--resume", default="auto", metavar="auto|never|PATH")
    _retrain_arg(run)
    run.add_argument("--wiseft", nargs="?", const="protocol", default=None, metavar="RATIO")
    run.set_defaults(func=cmd_run, resumable=True)


def _add_predict_parser(subparsers) -> None:
    predict = subparsers.add_parser(
        "predict", help="top-k class names of videos from a run's model -> CSV + JSON",
        description="Score videos with a run's model and its evaluation settings (frames, clips x crops views, "
                    "input size: as tcclip evaluate scores them) and write each video's top-k classes. The model "
                    "scores against the class names given by --labels, as text prompts: they need not be the "
                    "classes it was trained on (zero-shot), and their number may differ from the run's. "
                    "Unreadable or missing videos are named and skipped.")
    predict.add_argument("videos", nargs="*", metavar="VIDEO", help="video files (relative to --root)")
    predict.add_argument("--list", metavar="FILE",
                         help="a file of video paths, one per line (an annotation list's 'path label' lines "
                              "work too: the label is ignored)")
    predict.add_argument("--root", metavar="DIR",
                         help="folder the video paths are relative to (default: the current folder); the path "
                              "as written seeds official multi-clip views, as the listed path does in evaluation")
    predict.add_argument("--labels", required=True, metavar="CLASSES",
                         help="class names the model scores against: a text file of one name per line, a CSV "
                              "with header id,name, or a rephrased JSON; used as given (no CamelCase splitting)")
    predict.add_argument("--run", metavar="RUN_DIR", help="a trained run (results/runs/<id>): its config.yaml and "
                                                          "checkpoint (the evaluation's eval.checkpoint)")
    predict.add_argument("--weights", metavar="FILE",
                         help="instead of --run: a tcclip checkpoint (e.g. RUN/checkpoints/best.pt), with --config")
    predict.add_argument("--config", "-c", action="append", default=[], metavar="FILE",
                         help="with --weights: the model's config (embedded, paper, a YAML or RUN/config.yaml); "
                              "repeatable, later wins")
    predict.add_argument("--topk", type=int, default=5, help="classes per video (default 5; at most the classes)")
    predict.add_argument("--out", default="predictions.csv",
                         help="CSV to write (default predictions.csv); the JSON goes beside it (same name, .json)")
    predict.set_defaults(func=_cmd_predict)


def _add_run_dir_parser(subparsers) -> None:
    run_dir = subparsers.add_parser("run-dir", help="print the run directory a config trains into (no work done)")
    _config_args(run_dir)
    run_dir.set_defaults(func=cmd_run_dir)


def _add_pretrain_parser(subparsers) -> None:
    pretrain = subparsers.add_parser("pretrain-clip", help="contrastive pretraining of the embedded tiny CLIP",
                                     description="Train a tiny CLIP on synthetic image-caption pairs; "
                                                 "writes a state dict loadable as backbone.weights.")
    pretrain.add_argument("--data", required=True, help="synthetic benchmark folder (tcclip synth OUT)")
    pretrain.add_argument("--out", required=True, help="weights file to write (a .json report goes beside it)")
    pretrain.add_argument("--config", "-c", action="append", default=[], metavar="FILE",
                          help="YAML with PretrainConfig fields")
    pretrain.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. steps=300 batch_size=64")
    pretrain.set_defaults(func=cmd_pretrain)
