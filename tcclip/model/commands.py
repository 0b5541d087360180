"""`tcclip check-weights`: load a weights file into an architecture once, before any job uses it."""

from __future__ import annotations

import argparse


def _check_weights(args: argparse.Namespace) -> int:
    from tcclip.model.backbone import BackboneConfig, build_clip

    model = build_clip(BackboneConfig(arch=args.arch, weights=args.weights))
    params = sum(p.numel() for p in model.parameters())
    print(f"{args.weights}: fits {args.arch} ({params / 1e6:.1f} M parameters)")
    return 0


def add_commands(subparsers) -> None:
    check = subparsers.add_parser("check-weights", help="check that a CLIP weights file fits an architecture")
    check.add_argument("--arch", required=True, help="open_clip architecture, e.g. ViT-B-16-quickgelu")
    check.add_argument("--weights", required=True, help="OpenAI TorchScript archive or state dict file")
    check.set_defaults(func=_check_weights)
