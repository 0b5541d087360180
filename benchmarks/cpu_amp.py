"""bf16 autocast against fp32 on this CPU: is mixed precision a lever here?

The engine autocasts to bfloat16 on a CPU when a run sets ``train.amp=true
train.amp_dtype=bfloat16`` (``tcclip.engine.runtime.autocast_dtype``; the same
``torch.autocast`` call as on CUDA). Whether that is faster depends on the CPU: with AMX or
AVX512-BF16 the matrix products run in hardware bf16; with AVX2 only, PyTorch converts and
computes them in software. This script says which kernels the CPU has and measures, in one
process, calls alternating between the two precisions (median of ``--repeats``):

- one ViT-B/16 MLP matrix product (1,568 tokens x 768 -> 3,072: 8 frames of 196 patches);
- the embedded model's training step (tiny-clip-p16 TC-CLIP, 8 frames, the embedded batch
  of 32 (4 with ``--quick``), 48 class names, forward + cross-entropy + backward + AdamW), through
  ``gpu_throughput.training_step`` (the autocast and optimiser a run uses);
- its evaluation forward (no grad), and the largest logit difference bf16 vs fp32 there.

No target: it reports the ratios (exit 1 only if it fails).

    TCCLIP_THREADS=1 python benchmarks/cpu_amp.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import common
import torch

FRAMES, CLASSES = 8, 48


def cpu_flags() -> str:
    """The bf16-relevant flags of /proc/cpuinfo (empty where the file is absent)."""
    info = Path("/proc/cpuinfo")
    flags = set()
    if info.is_file():
        line = next((l for l in info.read_text().splitlines() if l.startswith("flags")), "")
        flags = set(line.split(":", 1)[-1].split())
    wanted = ["avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"]
    return ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in wanted)


def autocast(enabled: bool):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)


def linear_pair(repeats: int) -> dict[str, list[float]]:
    torch.manual_seed(0)
    layer = torch.nn.Linear(768, 3072)
    x = torch.randn(1568, 768)

    def run(bf16: bool):
        def call():
            with torch.no_grad(), autocast(bf16):
                return layer(x)
        return call

    return common.round_robin({"fp32": run(False), "bf16": run(True)}, repeats)


def tiny_model():
    from tcclip.model.video_clip import VideoCLIP

    cfg = common.random_weights_config("embedded")
    torch.manual_seed(0)
    model = VideoCLIP.build(cfg.model)
    model.set_class_names(common.class_names(CLASSES))
    return model


def step_pair(repeats: int, batch: int) -> dict[str, list[float]]:
    from gpu_throughput import training_step

    model = tiny_model().train()
    steps = {name: training_step(model, "cpu", FRAMES, batch, CLASSES, name) for name in ("off", "bf16")}
    return common.round_robin({"fp32": steps["off"], "bf16": steps["bf16"]}, repeats)


def eval_pair(repeats: int, batch: int) -> tuple[dict[str, list[float]], float]:
    model = tiny_model().eval()
    video = torch.randn(batch, FRAMES, 3, 64, 64, generator=torch.Generator().manual_seed(1))

    def run(bf16: bool):
        def call():
            with torch.no_grad(), autocast(bf16):
                return model(video).float()
        return call

    calls = {"fp32": run(False), "bf16": run(True)}
    difference = (calls["fp32"]() - calls["bf16"]()).abs().max().item()
    return common.round_robin(calls, repeats), difference


def row(what: str, times: dict[str, list[float]], difference: str = "") -> list:
    """One table row: the medians of both precisions and their ratio."""
    fp32, bf16 = common.median(times["fp32"]), common.median(times["bf16"])
    return [what, fp32, bf16, fp32 / bf16, difference]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1 repeat, batch 4: shows that it runs")
    args = parser.parse_args()
    repeats, batch = (1, 4) if args.quick else (args.repeats, 32)
    threads = common.init_threads()
    common.banner("bf16 autocast vs fp32 on this CPU")
    print(f"   ATen CPU capability {torch.backends.cpu.get_cpu_capability()}; {cpu_flags()}; {threads} threads",
          flush=True)
    eval_times, difference = eval_pair(repeats, batch)
    rows = [row("ViT-B/16 MLP product, 1568 x 768 -> 3072", linear_pair(repeats)),
            row(f"tiny TC-CLIP training step, batch {batch}, {FRAMES} frames", step_pair(repeats, batch)),
            row(f"tiny TC-CLIP evaluation forward, batch {batch}", eval_times, f"{difference:.3g}")]
    print(common.table(rows, ["call", "fp32 s", "bf16 s", "bf16 speed-up", "max |logit diff|"]))
    print("speed-up = fp32 time / bf16 time (below 1: bf16 is slower); medians of calls that alternate")
    return common.Targets().report()


if __name__ == "__main__":
    sys.exit(main())
