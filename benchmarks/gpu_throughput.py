"""GPU training throughput: ViT-B/16, 16 frames, AMP -- videos/s, memory, model FLOPs utilisation.

Runs unchanged on a CUDA machine: TC-CLIP and the frame-wise baseline (ViFi-CLIP) side
by side, full fine-tuning as in the papers (forward to logits over 400 class names,
cross-entropy, backward, AdamW), random weights and random input already on the GPU
(loading, mixing and accumulation are the second part's, below), batch 8 per GPU, fp16
autocast with a gradient scaler (``--amp bf16`` for bfloat16).

Figures: videos/s (median over timed steps), step time, peak memory
(``torch.cuda.max_memory_allocated`` and ``..._reserved``), model FLOPs per step
(forward + backward, counted with ``FlopCounterMode`` on one extra step, 2 FLOPs per
multiply-accumulate) and MFU = achieved FLOP/s / the GPU's dense fp16/bf16 tensor peak
(from a small table by device name, or ``--peak-tflops``).

Without CUDA it runs a tiny smoke configuration (tiny-clip-p8, 4 frames, batch 2, fp32
on CPU) to show that the script works, and says that no GPU figure was measured.
Second, **a run's training step** (``--run-step``, on by default; ``--no-run-step`` skips it):
what a training run will see, through the engine's own ``Trainer`` -- the run config's optimiser
and schedule, total batch and gradient accumulation, mixup/cutmix, AMP and gradient scaler, and
its DataLoader (workers, pinned memory, the train augmentation) decoding real H.264 files:
videos drawn as the paper-scale rehearsal draws them (``workflow/rehearsal/make_data.py``,
298 x 224, 16 frames), a few distinct files listed again and again to fill the epochs. Two
epochs of ``--updates`` updates each; the second is timed (its loader starts its workers
afresh, as every epoch of a run does). The paper run config (``paper``: ViT-B/16, 16 frames,
total batch 256 as 4 per GPU x accumulation) on CUDA; without CUDA the embedded one cut to a
smoke size. Random weights, 400 class names.

No target is stated: it reports (exit 1 only if it fails).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

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
    out = {"times": times, "flops": flops, "batch": batch, "frames": frames}
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
    parser.add_argument("--run-step", action=argparse.BooleanOptionalAction, default=True,
                        help="also time a run's training step through the engine's Trainer (default: on)")
    parser.add_argument("--run-config", default=None, help="run config of the run step (default: paper on CUDA, embedded without)")
    parser.add_argument("--updates", type=int, default=2, help="updates per epoch of the run step (two epochs, the second timed)")
    parser.add_argument("--videos", type=int, default=32, help="distinct video files drawn for the run step")
    parser.add_argument("--preset", default="tc_clip", help="model preset of the run step")
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


# ------------------------------------------------------------------ a run's training step
# Without CUDA: the embedded run config at a smoke size (2 videos per micro-batch, 2 micro-batches
# per update, 4 frames, no loader worker) -- it shows that the path runs, not a figure.
RUN_STEP_SMOKE = ["train.total_batch=4", "train.batch_size=2", "train.workers=0", "data.num_frames=4"]


def model_only_variant(preset: str) -> str | None:
    """The model-only variant (common.VARIANTS) that is ``preset`` as it is: the row a run step compares with."""
    return next((name for name, (p, overrides) in common.VARIANTS.items() if p == preset and not overrides), None)


def draw_videos(folder: Path, distinct: int, entries: int, classes: int) -> Path:
    """``distinct`` H.264 files drawn as the rehearsal draws them, and an annotation list of
    ``entries`` lines cycling through them (labels cycle through ``classes``)."""
    sys.path.insert(0, str(common.ROOT / "workflow" / "rehearsal"))
    from make_data import render_videos

    from tcclip.data.annotations import write_annotation_list

    names = [f"v{i:04d}.mp4" for i in range(distinct)]
    render_videos(folder, names)
    return write_annotation_list(folder / "train.txt", [(names[i % distinct], i % classes) for i in range(entries)])


def run_step(config: str, overrides: list[str], preset: str, updates: int, distinct: int, classes: int) -> dict:
    """Two epochs of ``updates`` updates of the engine's Trainer; the second epoch's record."""
    from tcclip.data.dataset import VideoDataset
    from tcclip.engine.runtime import seed_everything, setup_distributed
    from tcclip.engine.train import Trainer
    from tcclip.model.video_clip import VideoCLIP

    cfg = common.random_weights_config(config, [f"model.preset={preset}", "train.epochs=2", *overrides])
    rt = setup_distributed(cfg.train.device)
    names = common.class_names(classes)
    seed_everything(cfg.seed)
    model = VideoCLIP.build(cfg.model)
    model.set_class_names(names)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "checkpoints").mkdir()
        entries = updates * cfg.train.total_batch
        listed = draw_videos(folder / "videos", distinct, entries, classes)
        dataset = VideoDataset(listed, folder / "videos", cfg.data.replace(mode="train"), num_classes=classes)
        trainer = Trainer(model, dataset, classes, cfg.train, cfg.seed, folder / "checkpoints", rt)
        result = trainer.fit(resume="never")
    timed = result.history[-1]
    return {**timed, "accumulation": trainer.accumulation, "micro_batch": cfg.train.micro_batch(rt.world_size),
            "updates_per_epoch": trainer.updates_per_epoch, "total_batch": cfg.train.total_batch,
            "frames": cfg.data.num_frames, "arch": cfg.model.backbone.arch,
            "amp": str(trainer.amp_dtype).replace("torch.", "") if trainer.use_amp else "off",
            "workers": cfg.train.workers, "mix": cfg.train.mix}


def print_run_step(step: dict, config: str, overrides: list[str], preset: str, gpu: str | None,
                   model_only: dict | None) -> None:
    mix = step["mix"]
    print(f"\nA run's training step (engine Trainer, run config {config!r}{' + ' + ' '.join(overrides) if overrides else ''}, "
          f"preset {preset}, {step['arch']}, {step['frames']} frames, on {gpu or common.cpu_name() + ' (CPU)'}):")
    per_update = step["seconds"] / step["updates_per_epoch"]
    rows = [["videos/s (second epoch, loader start-up included)", f"{step['videos_per_s']:.4g}"],
            ["seconds per update", f"{per_update:.4g}"],
            ["total batch = micro-batch x accumulation", f"{step['total_batch']} = {step['micro_batch']} x {step['accumulation']}"],
            ["AMP", step["amp"]],
            ["mixup / cutmix alpha, label smoothing", f"{mix.mixup_alpha} / {mix.cutmix_alpha}, {mix.label_smoothing}"],
            ["loader workers", step["workers"]],
            ["final loss", f"{step['last_loss']:.4f}"]]
    print(common.table(rows, ["", "value"]))
    if overrides:
        print("NOTE: smoke size (no CUDA, or --quick): the run step shows that the path runs; it is not a figure.")
    elif model_only and (model_only["batch"], model_only["frames"]) == (step["micro_batch"], step["frames"]):
        model_rate = step["micro_batch"] / common.median(model_only["times"])
        print(f"The model-only step above (same micro-batch and frames): {model_rate:.4g} videos/s; a run's step "
              f"reaches {step['videos_per_s'] / model_rate:.2f}x of it (the rest: loading, mixing, accumulation, optimiser)")
    elif model_only:
        print(f"(The model-only rows above ran batch {model_only['batch']}, {model_only['frames']} frames; "
              f"--batch {step['micro_batch']} --frames {step['frames']} makes them comparable.)")


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
    if args.run_step:
        smoke = args.quick or not cuda
        config = args.run_config or ("embedded" if smoke else "paper")
        overrides = RUN_STEP_SMOKE if smoke else []
        step = run_step(config, overrides, args.preset, args.updates, args.videos, s["classes"])
        print_run_step(step, config, overrides, args.preset, gpu, results.get(model_only_variant(args.preset)))
    return common.Targets().report()


if __name__ == "__main__":
    sys.exit(main())
