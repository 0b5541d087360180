"""`tcclip check-weights`: load a weights file into an architecture once, before any job uses it."""

from __future__ import annotations

import argparse


def _check_weights(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from tcclip.data.fingerprint import file_fingerprint
    from tcclip.model.backbone import BackboneConfig, build_clip

    model = build_clip(BackboneConfig(arch=args.arch, weights=args.weights))
    params = sum(p.numel() for p in model.parameters())
    fingerprint = file_fingerprint(args.weights)
    print(f"{args.weights}: fits {args.arch} ({params / 1e6:.1f} M parameters), fingerprint {fingerprint}")
    if args.out:  # the DAG's record of the backbone: runs depend on it
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        record = {"weights": args.weights, "arch": args.arch, "fingerprint": fingerprint}
        Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    return 0


def add_commands(subparsers) -> None:
    check = subparsers.add_parser("check-weights", help="check that a CLIP weights file fits an architecture")
    check.add_argument("--arch", required=True, help="open_clip architecture, e.g. ViT-B-16-quickgelu")
    check.add_argument("--weights", required=True, help="OpenAI TorchScript archive or state dict file")
    check.add_argument("--out", help="also write {weights, arch, fingerprint} to this JSON file")
    check.set_defaults(func=_check_weights)
