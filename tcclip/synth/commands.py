"""`tcclip synth`: render the embedded-scale synthetic video benchmark, or check a rendered one.

  tcclip synth --out DIR [--seed N] [--size tiny|small|default|large] [--workers N] [--reversal-extra]
  tcclip synth --verify DIR

Heavy imports happen inside the handler so that ``tcclip --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    synth = subparsers.add_parser("synth", help="render the synthetic video benchmark (embedded scale)")
    synth.add_argument("--out", help="output folder (created; the files of a previous benchmark there are replaced, "
                                      "nothing else)")
    synth.add_argument("--verify", metavar="DIR", help="check a rendered benchmark against its manifest and print its "
                                                      "fingerprint (compare with the README's)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--size", default="default", help="tiny | small | default | large (default: default)")
    synth.add_argument("--workers", type=int, default=None, help="processes (default: min(2, CPUs))")
    synth.add_argument("--no-images", action="store_true", help="skip the image-caption pretraining set")
    synth.add_argument("--reversal-extra", action="store_true",
                       help="also write the time-reversal-pair set as dataset ssv2_reversal (off by default)")
    synth.add_argument("--quiet", action="store_true")
    # Ctrl-C / SIGTERM: generate() has stopped its workers and removed its staging folder by then
    synth.set_defaults(func=run_synth,
                       after_interrupt=lambda args: f"{args.out} holds what it held before (rerun to render)")


def run_synth(args) -> int:
    from tcclip.data.errors import DataError

    if bool(args.out) == bool(args.verify):
        raise DataError("synth: give --out DIR to render, or --verify DIR to check a rendered benchmark")
    if args.verify:
        from tcclip.synth.files import verify

        ok, summary = verify(args.verify)
        print(summary)
        return 0 if ok else 1
    from tcclip.synth.generator import generate

    say = (lambda message: None) if args.quiet else (lambda message: print(f"tcclip synth: {message}", file=sys.stderr))
    manifest = generate(args.out, seed=args.seed, size=args.size, workers=args.workers,
                        images=not args.no_images, progress=say, reversal_extra=args.reversal_extra)
    if not args.quiet:
        sets = ", ".join(f"{name} {info['classes']} classes" for name, info in manifest["datasets"].items())
        print(f"wrote {manifest['videos']} videos, {manifest['images']} images ({sets}) to {args.out} "
              f"in {manifest['seconds']} s; fingerprint {manifest['fingerprint']}")
    return 0
