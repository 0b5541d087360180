"""This checkout's video encoder against another checkout's, round-robin in one process.

Loads ``tcclip/model/temporal.py`` of another checkout (e.g. ``git worktree add --detach
/tmp/main main``) beside this one's, builds TC-CLIP's and the frame-wise encoder of each
over the same random ViT-B/16 weights, and times them in turn (the order reversed every
other pass), so that each ratio is measured under the same load. A warm-up at 2 frames
keeps first-call costs out. Reports wall and process CPU time (one thread: CPU time moves
less with other processes' load); medians. The other checkout's seeds/summarize modules
are this one's (only the encoder file is swapped). No target: it reports.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import common
import torch

from tcclip.model import temporal as ours


def load_temporal(checkout: Path):
    """The other checkout's tcclip/model/temporal.py as a module of its own name."""
    spec = importlib.util.spec_from_file_location("other_temporal", checkout / "tcclip" / "model" / "temporal.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["other_temporal"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def encoders(visual, other) -> dict:
    out = {}
    for tree, module in (("other", other), ("ours", ours)):
        for name in ("tc", "frame"):
            torch.manual_seed(0)  # the same local/global bias in both
            out[f"{tree}/{name}"] = module.TemporalVisionEncoder(visual, module.VisionConfig(temporal=name))
    return out


def round_robin(visual, encs: dict, video: torch.Tensor, passes: int, backward: bool) -> tuple[dict, dict]:
    def call(enc, v):
        out = enc(visual, v).video.sum()
        if backward:
            out.backward()
            visual.zero_grad(set_to_none=True)
            enc.zero_grad(set_to_none=True)

    for enc in encs.values():
        call(enc, video[:, :2])
    wall, cpu = {k: [] for k in encs}, {k: [] for k in encs}
    for i in range(passes):
        for key in (list(encs) if i % 2 == 0 else list(reversed(list(encs)))):
            c0, t0 = time.process_time(), time.perf_counter()
            call(encs[key], video)
            wall[key].append(time.perf_counter() - t0)
            cpu[key].append(time.process_time() - c0)
            print(f"   {key:11s} wall {wall[key][-1]:.2f} s  cpu {cpu[key][-1]:.2f} s", flush=True)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("checkout", type=Path, help="the other checkout's root (e.g. a worktree of main)")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--backward", action="store_true", help="forward + backward (default: forward with autograd on)")
    args = parser.parse_args()
    threads = common.init_threads()
    common.banner("video encoder: this checkout vs another")
    visual = common.random_clip(common.VIT_B16).visual
    video = torch.randn(1, args.frames, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    wall, cpu = round_robin(visual, encoders(visual, load_temporal(args.checkout)), video, args.passes, args.backward)
    what = "forward + backward" if args.backward else "forward with autograd on"
    print(f"\nViT-B/16, T={args.frames}, {what}, batch 1, medians of {args.passes} "
          f"({common.cpu_name()}, {threads} threads; other = {args.checkout}):")
    rows = []
    for label, times in (("wall s", wall), ("cpu s", cpu)):
        m = {k: statistics.median(v) for k, v in times.items()}
        rows.append([label, m["other/frame"], m["other/tc"], m["ours/frame"], m["ours/tc"], m["other/tc"] / m["other/frame"],
                     m["ours/tc"] / m["ours/frame"], m["ours/tc"] / m["other/tc"], m["ours/frame"] / m["other/frame"]])
    print(common.table(rows, ["", "other frame", "other TC", "ours frame", "ours TC", "TC/frame other", "TC/frame ours",
                              "TC ours/other", "frame ours/other"], floatfmt=".3g"))
    return common.Targets().report()


if __name__ == "__main__":
    sys.exit(main())
