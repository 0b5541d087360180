"""Data commands of the ``tcclip`` CLI.

  tcclip data check LIST --root DIR [--labels FILE] [--backend decord|pyav] [--decode ...] [--report FILE]
  tcclip data check --catalog CATALOG --dataset NAME [--split NAME ...] [--root-of NAME=DIR ...]
  tcclip data index ROOT --out LIST [--labels FILE|NAME] [--relative-to DIR] [--labels-out FILE]
  tcclip data protocol NAME --catalog CATALOG [--root-of NAME=DIR ...] [--list NAME/SPLIT=FILE ...]

Heavy imports happen inside the handlers so that ``tcclip --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="dataset tools: check, index, protocol")
    sub = data.add_subparsers(dest="data_command", required=True)
    _add_check_parser(sub)
    _add_fingerprint_parser(sub)
    _add_index_parser(sub)
    _add_protocol_parser(sub)


def _add_check_parser(sub: argparse._SubParsersAction) -> None:
    check = sub.add_parser("check", help="find missing, unreadable and empty videos and bad labels, in one pass")
    check.add_argument("annotation_list", nargs="?", help="annotation list (or use --catalog/--dataset)")
    check.add_argument("--root", help="video folder the list's paths are relative to")
    check.add_argument("--labels", help="label file (CSV id,name or rephrased JSON, or a shipped name) for the label range")
    check.add_argument("--num-classes", type=int, help="label range without a label file")
    check.add_argument("--catalog", help="catalog YAML (or 'real'): check splits of --dataset")
    check.add_argument("--dataset", help="dataset name in the catalog")
    check.add_argument("--split", action="append", help="split name(s); default: every split with a list")
    check.add_argument("--root-of", action="append", default=[], metavar="DATASET=DIR", help="video root of a catalog dataset")
    check.add_argument("--list", action="append", default=[], metavar="DATASET/SPLIT=FILE",
                       help="annotation list of a catalog split (one not shipped, or in place of the shipped one)")
    check.add_argument("--backend", default="decord", choices=["decord", "pyav"])
    check.add_argument("--decode", default="ends", choices=["open", "ends", "all"],
                       help="open: container only; ends: first+last frame (default); all: every frame")
    check.add_argument("--workers", type=int, default=1)
    check.add_argument("--report", help="write every problem to this JSON file")
    check.add_argument("--fingerprint-videos", action="store_true",
                       help="also fingerprint the listed videos' bytes (reads every file once)")
    check.set_defaults(func=run_check)


def _add_fingerprint_parser(sub: argparse._SubParsersAction) -> None:
    fingerprint = sub.add_parser("fingerprint", help="fingerprints of a catalog dataset's lists and labels -> JSON",
                                 description="One fingerprint per split with a list (entries + class names), "
                                             "and the synthetic benchmark's; the DAG's runs depend on these files.")
    fingerprint.add_argument("--catalog", required=True, help="catalog YAML (e.g. OUT/catalog.yaml) or 'real'")
    fingerprint.add_argument("--dataset", required=True, help="dataset name in the catalog")
    fingerprint.add_argument("--root-of", action="append", default=[], metavar="DATASET=DIR")
    fingerprint.add_argument("--list", action="append", default=[], metavar="DATASET/SPLIT=FILE")
    fingerprint.add_argument("--out", required=True, help="JSON file to write")
    fingerprint.set_defaults(func=run_fingerprint)


def _add_index_parser(sub: argparse._SubParsersAction) -> None:
    index = sub.add_parser("index", help="annotation list from a folder-per-class layout (e.g. Kinetics-400 train)")
    index.add_argument("root", help="folder holding one sub-folder of videos per class")
    index.add_argument("--out", required=True, help="annotation list to write")
    index.add_argument("--labels", help="label file or shipped name (e.g. kinetics_400) giving the ids")
    index.add_argument("--relative-to", help="write paths relative to this folder (default: ROOT)")
    index.add_argument("--labels-out", help="without --labels: write the class names found as a CSV id,name")
    index.set_defaults(func=run_index)


def _add_protocol_parser(sub: argparse._SubParsersAction) -> None:
    protocol = sub.add_parser("protocol", help="resolve a protocol against a catalog and print its tasks as JSON")
    protocol.add_argument("name", help="zero_shot | few_shot | base2novel | fully_supervised, or a YAML path")
    protocol.add_argument("--catalog", required=True, help="catalog YAML (e.g. OUT/catalog.yaml) or 'real'")
    protocol.add_argument("--root-of", action="append", default=[], metavar="DATASET=DIR")
    protocol.add_argument("--list", action="append", default=[], metavar="DATASET/SPLIT=FILE")
    protocol.add_argument("--scale", choices=["paper", "embedded"], help="default: the catalog's")
    protocol.add_argument("--lenient", action="store_true", help="allow datasets without a video root")
    protocol.set_defaults(func=run_protocol)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    from tcclip.data.errors import DataError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise DataError(f"{what} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def run_check(args) -> int:
    from tcclip.data.catalog import Catalog, resolve_label_file
    from tcclip.data.check import check_dataset
    from tcclip.data.errors import DataError

    jobs = []  # (annotation list, root, label file, rephrased names file)
    if args.catalog:
        if not args.dataset:
            raise DataError("data check --catalog: also give --dataset")
        catalog = Catalog.load(args.catalog, roots=_pairs(args.root_of, "--root-of"), lists=_pairs(args.list, "--list"))
        splits = args.split or [s for s in catalog.split_names(args.dataset) if _has_list(catalog, args.dataset, s)]
        for split in splits:
            spec = catalog.split(args.dataset, split)
            jobs.append((spec.annotation_list, spec.video_root, spec.label_file, spec.rephrased_file))
    else:
        if not args.annotation_list or not args.root:
            raise DataError("data check: give LIST --root DIR, or --catalog CATALOG --dataset NAME")
        labels = resolve_label_file(args.labels) if args.labels else None
        jobs.append((args.annotation_list, args.root, labels, None))
    reports = []
    for annotation_list, root, labels, rephrased in jobs:
        report = check_dataset(annotation_list, root, label_file=labels,
                               num_classes=None if labels else args.num_classes,
                               backend=args.backend, decode=args.decode, workers=args.workers)
        _fingerprint(report, labels, rephrased, args.fingerprint_videos)
        print(report.summary())
        reports.append(report)
    if args.report:
        path = Path(args.report)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = reports[0].to_dict() if len(reports) == 1 else {"reports": [r.to_dict() for r in reports]}
        path.write_text(json.dumps(payload, indent=1) + "\n")
    return 0 if all(r.ok for r in reports) else 1


def _fingerprint(report, label_file, rephrased_file, videos: bool) -> None:
    """Fingerprints of a list without problems (entries + labels, as a run records them; the
    videos' bytes if asked)."""
    from tcclip.data.fingerprint import list_fingerprint, videos_fingerprint

    if not report.ok:  # a list with bad lines or videos is fixed first; its digest would not last
        return
    report.fingerprint = list_fingerprint(report.annotation_list, label_file, rephrased_file)
    if videos:
        report.videos_fingerprint = videos_fingerprint(report.annotation_list, report.video_root)


def run_fingerprint(args) -> int:
    from tcclip.data.catalog import Catalog
    from tcclip.data.fingerprint import benchmark_fingerprint, split_fingerprint

    catalog = Catalog.load(args.catalog, roots=_pairs(args.root_of, "--root-of"), lists=_pairs(args.list, "--list"))
    specs = [catalog.split(args.dataset, split, strict=False) for split in catalog.split_names(args.dataset)
             if _has_list(catalog, args.dataset, split)]
    record = {"dataset": args.dataset, "splits": {spec.key: split_fingerprint(spec) for spec in specs},
              "benchmark": benchmark_fingerprint(specs[0].video_root) if specs else None}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{args.dataset}: {len(specs)} lists fingerprinted -> {out}")
    return 0


def _has_list(catalog, dataset: str, split: str) -> bool:
    entry = catalog.datasets[dataset]["splits"][split]
    return bool(entry.get("list") if isinstance(entry, dict) else entry)


def run_index(args) -> int:
    from tcclip.data.annotations import write_annotation_list, write_label_csv
    from tcclip.data.catalog import resolve_label_file
    from tcclip.data.index import build_index

    labels = resolve_label_file(args.labels) if args.labels else None
    entries, names = build_index(args.root, label_file=labels, relative_to=args.relative_to)
    write_annotation_list(args.out, entries)
    if args.labels_out:
        write_label_csv(args.labels_out, names)
    classes = len({e.label for e in entries})
    print(f"wrote {len(entries)} videos of {classes} classes to {args.out}")
    return 0


def run_protocol(args) -> int:
    from tcclip.data.catalog import Catalog
    from tcclip.data.protocols import Protocol

    catalog = Catalog.load(args.catalog, roots=_pairs(args.root_of, "--root-of"), lists=_pairs(args.list, "--list"))
    tasks = Protocol.load(args.name).tasks(catalog, scale=args.scale, strict=not args.lenient)
    print(json.dumps([task.to_dict() for task in tasks], indent=1))
    return 0
