"""TC overhead: time and peak memory of TC-CLIP vs frame-wise and joint attention as frames grow.

Per frame, TC-CLIP adds k context keys (k=96, or all T*n_s seeds when fewer); joint
space-time attention adds (T-1)*(N+1). How cost grows with T is the point.

A. Embedded size (tiny-clip-p8, 64 px, 64 patches): a full training step -- forward to
   logits over 40 class names, cross-entropy, backward, AdamW step -- batch 4 videos.
   Variants: frame (ViFi-CLIP: frame-wise, hand-crafted prompt), tc_attn (TC attention,
   hand-crafted prompt: the vision overhead alone), tc (TC-CLIP: TC attention + VP),
   joint (joint space-time attention, hand-crafted prompt).
B. ViT-B/16 geometry (224 px, random weights): the vision encoder's forward with autograd
   on (what a training step keeps for backward; no backward on this CPU), batch 1.
   Variants: frame, tc (TC-CLIP's vision encoder), joint.

Every configuration runs in a fresh forked process: the first step/forward there is the
memory measurement (peak RSS during it above RSS before it: activations kept for
backward, gradients, optimiser state, allocator slack -- not the weights), the following
ones are timed (median). Configurations of one T run back to back. A time budget
(--budget-s) bounds the run: a configuration whose predicted time (its counted GMACs x
the measured seconds per GMAC) does not fit is skipped with a printed note.
No target is stated for this benchmark: it reports.
"""

from __future__ import annotations

import argparse
import sys
import time

import common
import torch
import torch.nn.functional as F

from tcclip.model.seeds import num_seeds

EMBEDDED_VARIANTS = ["frame", "tc_attn", "tc", "joint"]
VIT_VARIANTS = ["frame", "tc_attn", "joint"]
LABELS = common.LABELS
num = common.num


def counted_gmacs(arch: str, variants: list[str], frames: list[int]) -> dict[str, float]:
    """Vision-encoder GMACs per video of each (variant, T), counted on the meta device."""
    from torch.utils.flop_counter import FlopCounterMode

    clip = common.random_clip(arch, device="meta")
    size = common.image_size(arch)
    out = {}
    for name in variants:
        model = common.variant_model(clip, name, arch)
        for t in frames:
            counter = FlopCounterMode(display=False)
            with counter, torch.no_grad():
                model.encode_video(torch.randn(1, t, 3, size, size, device="meta"))
            out[f"{name}/{t}"] = counter.get_total_flops() / 2e9
    return out


def train_step_child(arch: str, name: str, frames: int, batch: int, classes: int, repeats: int) -> dict:
    """Fresh process: build, one memory-measured training step, then timed steps."""
    clip = common.random_clip(arch)
    model = common.variant_model(clip, name, arch).train()
    model.set_class_names(common.class_names(classes))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    size = common.image_size(arch)
    g = torch.Generator().manual_seed(1)
    video = torch.randn(batch, frames, 3, size, size, generator=g)
    labels = torch.randint(0, classes, (batch,), generator=g)

    def step():
        loss = F.cross_entropy(model(video), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    with common.PeakRSS() as mem:
        first = common.timed(step)[0]
    times = [common.timed(step)[0] for _ in range(repeats)]
    params_mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    return {"times": times or [first], "first": first, "mem_mb": mem.added_mb, "rss_before_mb": mem.before_mb,
            "exact": mem.exact, "params_mb": params_mb}


def forward_child(arch: str, name: str, frames: int, calls: int) -> dict:
    """Fresh process: build, forwards with autograd on (the first one memory-measured)."""
    clip = common.random_clip(arch)
    model = common.variant_model(clip, name, arch).train()
    size = common.image_size(arch)
    video = torch.randn(1, frames, 3, size, size, generator=torch.Generator().manual_seed(1))

    def forward():
        out = model.encode_video(video)
        return out.video.sum()  # graph alive until the result is dropped

    with common.PeakRSS() as mem:
        first, out = common.timed(forward)
    del out
    times = [common.timed(forward)[0] for _ in range(calls - 1)]
    return {"times": times or [first], "first": first, "mem_mb": mem.added_mb, "rss_before_mb": mem.before_mb,
            "exact": mem.exact}


class Budget:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.start = time.perf_counter()
        self.rate: dict[str, float] = {}  # seconds per GMAC, per part/variant

    def remaining(self) -> float:
        return self.seconds - (time.perf_counter() - self.start)

    def predict(self, key: str, fallback: str, gmacs: float) -> float | None:
        rate = self.rate.get(key, self.rate.get(fallback))
        return None if rate is None else rate * gmacs

    def learn(self, key: str, seconds: float, gmacs: float) -> None:
        self.rate[key] = seconds / gmacs


def extra_keys(name: str, frames: int, patches: int, k: int, alpha: float) -> str:
    if name == "frame":
        return "0"
    if name == "joint":
        return str((frames - 1) * (patches + 1))
    return str(min(k, frames * num_seeds(patches, alpha)))


def profile_child(arch: str, name: str, frames: int, top: int) -> list[list]:
    """Fresh process: one forward with autograd on under torch.profiler; the top ops by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    clip = common.random_clip(arch)
    model = common.variant_model(clip, name, arch).train()
    size = common.image_size(arch)
    video = torch.randn(1, frames, 3, size, size, generator=torch.Generator().manual_seed(1))
    model.encode_video(video[:, :2])  # warm-up: first-call costs out of the profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        model.encode_video(video).video.sum()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return [[e.key, e.count, e.self_cpu_time_total / 1e6, 100 * e.self_cpu_time_total / total] for e in events[:top]]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="embedded part only, T=4 and 8, 1 timed step (smoke)")
    parser.add_argument("--frames", type=int, nargs="+", default=None, help="frame counts (default 4 8 16 32)")
    parser.add_argument("--budget-s", type=float, default=None, help="time budget of the whole run (default 480)")
    parser.add_argument("--max-call-s", type=float, default=150.0, help="skip a configuration predicted to take longer per call")
    parser.add_argument("--skip-vit", action="store_true", help="embedded part only")
    parser.add_argument("--skip-embedded", action="store_true", help="ViT-B/16 part only")
    parser.add_argument("--profile", type=int, default=None, metavar="T",
                        help="instead: where one ViT-B/16 forward's time goes at T frames, TC vs frame-wise (profiler)")
    return parser.parse_args()


def embedded_rows(frames: list[int], gmacs: dict, budget: Budget, repeats: int, notes: list[str],
                  batch: int = 4, classes: int = 40) -> tuple[list[list], float]:
    """Part A: one row per (T, variant), a training step each in a fresh process; and the optimiser-state MB."""
    rows, res = [], None
    patches = (common.image_size(common.TINY) // 8) ** 2
    for t in frames:
        base_time = base_mem = None
        for name in EMBEDDED_VARIANTS:
            g_step = gmacs[f"{name}/{t}"] * batch
            pred = budget.predict(f"A/{name}", "A/frame", g_step)
            keys = extra_keys(name, t, patches, 96, 0.3)
            if pred is not None and pred * (1 + repeats) > budget.remaining():
                notes.append(f"embedded {name} T={t} skipped: predicted {pred * (1 + repeats):.0f} s, "
                             f"{budget.remaining():.0f} s of budget left")
                rows.append([t, LABELS[name], keys, gmacs[f"{name}/{t}"], "skipped", "", "", ""])
                continue
            res = common.isolated(train_step_child, common.TINY, name, t, batch, classes, repeats)
            med = common.median(res["times"])
            budget.learn(f"A/{name}", med, g_step)
            if name == "frame":
                base_time, base_mem = med, res["mem_mb"]
            rows.append([t, LABELS[name], keys, gmacs[f"{name}/{t}"], num(med),
                         num(med / base_time if base_time else None), num(res["mem_mb"], ".0f"),
                         num(res["mem_mb"] / base_mem if base_mem else None, ".2f")])
            print(f"   A  T={t:2d} {name:8s} step {med:.3f} s  (+{res['mem_mb']:.0f} MB)", flush=True)
    return rows, (3 * res["params_mb"] if res else float("nan"))


def vit_calls(t: int, gmacs_vit: dict, budget: Budget) -> int:
    """Forwards per ViT-B/16 configuration at T: 2 (a memory-measured one, a timed one) while they are short."""
    preds = [budget.predict(f"B/{n}", "B/frame", gmacs_vit[f"{n}/{t}"]) for n in ("frame", "tc_attn")]
    return 2 if all(p is not None and p <= 20 for p in preds) or t <= 4 else 1


def vit_rows(frames: list[int], gmacs_vit: dict, budget: Budget, max_call_s: float, notes: list[str]) -> list[list]:
    """Part B: one row per (T, variant), forwards with autograd on in a fresh process each."""
    rows, patches = [], (224 // 16) ** 2
    for t in frames:
        base_time = base_mem = None
        calls = vit_calls(t, gmacs_vit, budget)
        for name in VIT_VARIANTS:
            g_fwd = gmacs_vit[f"{name}/{t}"]
            pred = budget.predict(f"B/{name}", "B/frame", g_fwd)
            keys = extra_keys(name, t, patches, 96, 0.3)
            if pred is not None and (pred > max_call_s or pred + 5 > budget.remaining()):
                notes.append(f"ViT-B/16 {name} T={t} skipped: predicted {pred:.0f} s per forward ({g_fwd:.0f} GMACs) "
                             f"with {budget.remaining():.0f} s of the budget left (limit per call {max_call_s:.0f} s)")
                rows.append([t, LABELS[name], keys, g_fwd, f"skipped (~{pred:.0f})", "", "", ""])
                continue
            n_calls = 1 if pred is not None and pred * calls + 5 > budget.remaining() else calls
            res = common.isolated(forward_child, common.VIT_B16, name, t, n_calls)
            med = common.median(res["times"])
            budget.learn(f"B/{name}", res["first"], g_fwd)
            if name == "frame":
                base_time, base_mem = med, res["mem_mb"]
            rows.append([t, LABELS[name], keys, g_fwd, f"{med:.3g}" + ("" if n_calls > 1 else "*"),
                         num(med / base_time if base_time else None), num(res["mem_mb"], ".0f"),
                         num(res["mem_mb"] / base_mem if base_mem else None, ".2f")])
            print(f"   B  T={t:2d} {name:8s} forward {med:.2f} s ({n_calls} call(s))  (+{res['mem_mb']:.0f} MB)", flush=True)
    return rows


def print_results(rows_a: list[list], rows_b: list[list], state_mb: float, threads: int, repeats: int) -> None:
    if rows_a:
        print(f"\nA. Embedded size: tiny-clip-p8, 64 px (64 patches), training step, batch 4, 40 classes "
              f"({common.cpu_name()}, {threads} threads; step = median of {repeats} after a first, memory-measured step):")
        print(common.table(rows_a, ["T", "variant", "extra keys / frame", "vision GMACs / video", "step s", "x frame",
                                    "peak MB added by a step", "x frame"], floatfmt=".4g"))
        print(f"(the step's memory includes gradients + AdamW state, about {state_mb:.0f} MB, the same for every "
              "variant; at this size a frame has 65 tokens and TC adds up to 96 context keys, relatively more than "
              "at ViT-B/16's 197)")
    if rows_b:
        print(f"\nB. ViT-B/16 geometry (224 px, 196 patches), vision encoder forward with autograd on, batch 1 "
              f"({common.cpu_name()}, {threads} threads; * = a single, first forward in its process, "
              "otherwise the median of the forwards after it):")
        print(common.table(rows_b, ["T", "variant", "extra keys / frame", "GMACs", "forward s", "x frame",
                                    "peak MB added by the forward", "x frame"], floatfmt=".4g"))


def print_profile(frames: int, threads: int, top: int = 12) -> None:
    """Where the time of one ViT-B/16 forward goes, TC (vision only) and frame-wise, each in a fresh process."""
    for name in ("tc_attn", "frame"):
        rows = common.isolated(profile_child, common.VIT_B16, name, frames, top)
        print(f"\nTop ops by self CPU time, {LABELS[name]}, ViT-B/16, T={frames}, one forward with autograd on "
              f"({common.cpu_name()}, {threads} threads, torch.profiler):")
        print(common.table(rows, ["op", "calls", "self s", "% of the forward"], floatfmt=".3g"))


def main() -> int:
    args = parse_args()
    threads = common.init_threads()
    if args.profile:
        common.banner("TC overhead: where the time goes")
        print_profile(args.profile, threads)
        return common.Targets().report()
    frames = args.frames or ([4, 8] if args.quick else [4, 8, 16, 32])
    budget = Budget(args.budget_s if args.budget_s is not None else (60.0 if args.quick else 480.0))
    repeats = 1 if args.quick else 3
    common.banner("TC overhead vs frame-wise and joint attention")
    notes: list[str] = []
    rows_a, state_mb, rows_b = [], float("nan"), []
    if not args.skip_embedded:
        gmacs = common.isolated(counted_gmacs, common.TINY, EMBEDDED_VARIANTS, frames)
        rows_a, state_mb = embedded_rows(frames, gmacs, budget, repeats, notes)
    if not (args.quick or args.skip_vit):
        gmacs_vit = common.isolated(counted_gmacs, common.VIT_B16, VIT_VARIANTS, frames)
        rows_b = vit_rows(frames, gmacs_vit, budget, args.max_call_s, notes)
    print_results(rows_a, rows_b, state_mb, threads, repeats)
    for note in notes:
        print(f"note: {note}")
    print(f"(run took {budget.seconds - budget.remaining():.0f} s; budget {budget.seconds:.0f} s)")
    return common.Targets().report()


if __name__ == "__main__":
    sys.exit(main())
