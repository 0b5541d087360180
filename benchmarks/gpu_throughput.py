"""GPU training throughput: ViT-B/16, 16 frames, AMP -- videos/s, memory, model FLOPs utilisation.

Runs unchanged on a CUDA machine: TC-CLIP and the frame-wise baseline (ViFi-CLIP) side
by side, full fine-tuning as in the papers (forward to logits over 400 class names,
cross-entropy, backward, AdamW), random weights and random input already on the GPU
(data loading is measured elsewhere), batch 8 per GPU, fp16 autocast with a gradient
scaler (``--amp bf16`` for bfloat16).

Figures: videos/s (median over timed steps), step time, peak memory
(``torch.cuda.max_memory_allocated`` and ``..._reserved``), model FLOPs per step
(forward + backward, counted with ``FlopCounterMode`` on one extra step, 2 FLOPs per
multiply-accumulate) and MFU = achieved FLOP/s / the GPU's dense fp16/bf16 tensor peak
(from a small table by device name, or ``--peak-tflops``).

Without CUDA it runs a tiny smoke configuration (tiny-clip-p8, 4 frames, batch 2, fp32
on CPU) to show that the script works, and says that no GPU figure was measured.
No target is stated: it reports (exit 1 only if it fails).
"""

from __future__ import annotations

import argparse
import sys

import common
import torch
import torch.nn.functional as F

# Dense (no sparsity) fp16/bf16 tensor-core peak, TFLOP/s, by a substring of the device name.
PEAK_TFLOPS = [
    ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.4), ("H200", 989.4), ("GH200", 989.4),
    ("A100", 312.0), ("A800", 312.0), ("L40S", 362.0), ("L40", 181.0), ("L4", 121.0), ("A10G", 70.0), ("A10", 125.0),
    ("V100", 125.0), ("T4", 65.0), ("RTX 4090", 165.2), ("RTX 3090", 71.0), ("B200", 2250.0),
]


def peak_tflops(name: str) -> float | None:
    for key, value in PEAK_TFLOPS:
        if key in name:
            return value
    return None


def training_step(model, device: str, frames: int, batch: int, classes: int, amp: str):
    """One full fine-tuning step as a closure: forward to logits, cross-entropy, backward, AdamW (scaled under fp16)."""
    cuda = device == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6, betas=(0.9, 0.98), weight_decay=1e-3,
                                  **({"fused": True} if cuda else {}))
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(amp)
    scaler = torch.amp.GradScaler("cuda", enabled=cuda and dtype is torch.float16)
    size = common.image_size(model.cfg.backbone.arch)
    g = torch.Generator(device=device).manual_seed(1)
    video = torch.randn(batch, frames, 3, size, size, device=device, generator=g)
    labels = torch.randint(0, classes, (batch,), device=device, generator=g)

    def step():
        with torch.autocast(device_type=device, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = F.cross_entropy(model(video), labels)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    return step


def step_flops(step, cuda: bool) -> float:
    """Model FLOPs of one step (not timed). On CPU tensors the default attention kernel has
    no FLOP formula: count with the math kernel there (CUDA kernels have formulas)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    if cuda:
        with counter:
            step()
    else:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        with counter, sdpa_kernel(SDPBackend.MATH):
            step()
    return float(counter.get_total_flops())


def run_variant(name: str, arch: str, device: str, frames: int, batch: int, classes: int,
                warmup: int, steps: int, amp: str) -> dict:
    clip = common.random_clip(arch, device=device)
    model = common.variant_model(clip, name, arch).train()
    model.set_class_names(common.class_names(classes))
    cuda = device == "cuda"
    step = training_step(model, device, frames, batch, classes, amp)
    for _ in range(warmup):
        step()
    flops = step_flops(step, cuda)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = [common.timed(step, device)[0] for _ in range(steps)]
    out = {"times": times, "flops": flops}
    if cuda:
        out["mem_alloc_gb"] = torch.cuda.max_memory_allocated() / 2**30
        out["mem_reserved_gb"] = torch.cuda.max_memory_reserved() / 2**30
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="the tiny smoke configuration, even on a GPU")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8, help="videos per step (per GPU)")
    parser.add_argument("--classes", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--amp", choices=["fp16", "bf16", "off"], default="fp16")
    parser.add_argument("--variants", nargs="+", default=["tc", "frame"], choices=sorted(common.VARIANTS))
    parser.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense fp16/bf16 peak (default: from the device name)")
    return parser.parse_args()


def settings(args: argparse.Namespace, cuda: bool) -> dict:
    """The configuration that runs: the tiny smoke one without CUDA (or with --quick), else ViT-B/16."""
    if args.quick or not cuda:
        return {"arch": common.TINY, "frames": 4, "batch": 2, "classes": 10, "warmup": 1, "steps": 2,
                "amp": "off" if not cuda else args.amp}
    return {"arch": common.VIT_B16, "frames": args.frames, "batch": args.batch, "classes": args.classes,
            "warmup": args.warmup, "steps": args.steps, "amp": args.amp}


def result_row(name: str, res: dict, batch: int, cuda: bool, peak: float | None) -> list:
    step_s = common.median(res["times"])
    achieved = res["flops"] / step_s
    mem = f"{res['mem_alloc_gb']:.1f} / {res['mem_reserved_gb']:.1f}" if cuda else "n/a on CPU"
    mfu = f"{100 * achieved / (peak * 1e12):.1f}%" if (peak and cuda) else "n/a"
    return [common.LABELS[name], batch / step_s, step_s * 1e3, mem, res["flops"] / 1e12, achieved / 1e12, mfu]


def print_report(rows: list, results: dict, s: dict, gpu: str | None, peak: float | None, smoke: bool) -> None:
    cuda = gpu is not None
    print(f"\nTraining throughput, {s['arch']}, {s['frames']} frames, batch {s['batch']}, {s['classes']} classes, "
          f"AMP {s['amp']}, on {gpu or common.cpu_name() + ' (CPU)'}:")
    print(common.table(rows, ["variant", "videos/s", "step ms", "peak GB alloc / reserved" if cuda else "peak GB",
                              "model TFLOP / step", "achieved TFLOP/s", "MFU"], floatfmt=".4g"))
    if "tc" in results and "frame" in results:
        ratio = common.median(results["tc"]["times"]) / common.median(results["frame"]["times"])
        print(f"TC-CLIP step time = {ratio:.2f}x frame-wise (ViFi-CLIP)")
    if cuda and peak is None:
        print("MFU: unknown peak for this GPU; pass --peak-tflops")
    elif cuda:
        print(f"MFU against {peak:g} TFLOP/s dense fp16/bf16 peak of {gpu}")
    if not cuda:
        print("\nNOTE: no CUDA device here -- GPU figures were NOT measured. This was the CPU smoke configuration "
              "(tiny-clip-p8, 4 frames, batch 2, fp32); run this script on a CUDA machine for the real figures.")
    elif smoke:
        print("\nNOTE: --quick smoke configuration, not the ViT-B/16 figures.")


def main() -> int:
    args = parse_args()
    threads = common.init_threads()
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    s = settings(args, cuda)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    common.banner("GPU training throughput")
    gpu = torch.cuda.get_device_name(0) if cuda else None
    peak = args.peak_tflops or (peak_tflops(gpu) if gpu else None)
    print(f"   {s['arch']}, {s['frames']} frames, batch {s['batch']}, {s['classes']} classes, AMP {s['amp']}, "
          f"{s['warmup']} warm-up + {s['steps']} timed steps on {gpu or 'CPU'}"
          + ("" if cuda else f" ({threads} threads)"), flush=True)
    rows, results = [], {}
    for name in args.variants:
        results[name] = run_variant(name, s["arch"], device, s["frames"], s["batch"], s["classes"], s["warmup"],
                                    s["steps"], s["amp"])
        rows.append(result_row(name, results[name], s["batch"], cuda, peak))
        print(f"   {name}: {rows[-1][1]:.2f} videos/s", flush=True)
    print_report(rows, results, s, gpu, peak, args.quick or not cuda)
    return common.Targets().report()


if __name__ == "__main__":
    sys.exit(main())
