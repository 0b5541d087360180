"""Every seed-selection and summarization strategy: forward time at ViT-B/16, 16 frames.

Two measurements, same run:
A. What each strategy costs per layer, on inputs of the real size (16 frames x 196
   patches, 12 heads; 16 x 58 = 928 seeds of width 768 -> k=96), many calls: the
   strategy function itself, plus the extra attention statistics it asks for
   (``needs``: patch-attention entropies for the saliency variants, value norms for
   ATS), measured as the difference of one TC attention layer with and without them.
   A forward runs all of it once per layer (12x).
B. The whole vision encoder (batch 1, 16 frames, 224 px, random weights, inference),
   one model per strategy over the same CLIP, round-robin passes while the time budget
   allows (at least one). Seed selectors run with bipartite merging, summarizers with
   cls_avg selection; the frame-wise encoder is the reference row.

Target ("must not turn a forward into seconds"): no strategy's own cost (A, x12
layers) exceeds 25% of the default TC forward (cls_avg + bipartite, B). A uses the
fastest of its calls, B the fastest forward: on a shared machine other processes only
ever add time. B's ratios are printed, not checked (one or two forwards each, too noisy
to gate on). Exempt: summarization ``none`` (928 context tokens instead of 96 are the
ablation itself; its cost is in attention and MLP, not in a summarizer). ``--quick``:
embedded size (tiny-clip-p8, 8 frames), targets not checked.
"""

from __future__ import annotations

import argparse
import sys
import time

import common
import torch

from tcclip.model.seeds import SEED_SELECTORS, AttentionStats, num_seeds
from tcclip.model.summarize import SUMMARIZERS, SeedSet
from tcclip.model.temporal import _attention

MAX_OWN_SHARE = 0.25
EXEMPT = {"summarization=none"}
DEFAULT = ("cls_avg", "bipartite")
DEFAULT_NAME = "default (cls_avg + bipartite)"


def synthetic_inputs(frames: int, heads: int, patches: int, width: int, n_s: int):
    g = torch.Generator().manual_seed(0)
    cls_attn = torch.randn(frames, heads, patches, generator=g).softmax(-1)
    stats = AttentionStats(
        cls_attn=cls_attn,
        value_norm=torch.rand(frames, patches, generator=g) + 0.5,
        patch_entropy=torch.rand(frames, heads, patches, generator=g) * 5,
    )
    m = frames * n_s
    seeds = SeedSet(
        tokens=torch.randn(1, m, width, generator=g),
        scores=torch.rand(1, m, generator=g) + 1e-3,
        saliency=torch.rand(1, m, generator=g),
    )
    return stats, seeds


def time_call(fn, min_repeats: int, min_seconds: float) -> list[float]:
    fn()  # warm-up
    times, start = [], time.perf_counter()
    while len(times) < min_repeats or time.perf_counter() - start < min_seconds:
        times.append(common.timed(fn)[0])
        if len(times) >= 200:
            break
    return times


def stats_overhead(clip, frames: int, k: int, min_seconds: float) -> dict[str, list[float]]:
    """Per-layer time of one TC attention layer (16 frames, k context keys) with each stats set."""
    block = clip.visual.transformer.resblocks[1]
    width, heads = clip.visual.transformer.width, block.attn.num_heads
    p = clip.visual.grid_size[0] * clip.visual.grid_size[1] + 1
    g = torch.Generator().manual_seed(2)
    h = torch.randn(frames, p, width, generator=g)
    extra = torch.randn(frames, k, width, generator=g)
    bias = torch.zeros(heads, 2)
    out = {}
    for key, needs in [("cls row only", frozenset()), ("value_norm", frozenset({"value_norm"})),
                       ("patch_entropy", frozenset({"patch_entropy"}))]:
        out[key] = time_call(lambda: _attention(block.attn, h, extra, None, bias, needs), 3, min_seconds)
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="embedded size (tiny-clip-p8, 8 frames)")
    parser.add_argument("--frames", type=int, default=None, help="frames (default 16; quick 8)")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="time for part B's round-robin passes (default 300; quick 2); at least one pass runs")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    threads = common.init_threads()
    arch = common.TINY if args.quick else common.VIT_B16
    frames = args.frames or (8 if args.quick else 16)
    budget = args.budget_s if args.budget_s is not None else (2.0 if args.quick else 300.0)
    min_seconds = 0.05 if args.quick else 1.0
    common.banner("seed selection and summarization strategies")
    torch.manual_seed(0)

    clip = common.random_clip(arch)
    default_model = common.variant_model(clip, "tc_attn", arch).eval()
    vcfg = default_model.cfg.vision
    heads, patches = default_model.vision.num_heads, default_model.vision.num_patches
    width = clip.visual.transformer.width
    layers = len(clip.visual.transformer.resblocks)
    n_s = num_seeds(patches, vcfg.seed_ratio)
    k, r = vcfg.num_context, vcfg.merge_step
    print(f"   {arch}: {layers} layers, width {width}, {heads} heads, {patches} patches; {frames} frames, "
          f"n_s={n_s} seeds per frame -> {frames * n_s} seeds -> k={k}; {threads} threads", flush=True)

    own, layer_s, stat_cost = part_a(clip, synthetic_inputs(frames, heads, patches, width, n_s), frames, n_s, k, r,
                                     min_seconds)
    times, passes = part_b(part_b_models(clip, arch), frames, common.image_size(arch), budget)
    rows, targets, base_med, frame_med = rows_and_targets(times, own, layers, args.quick)

    print(f"\nStrategies, {arch}, {frames} frames, batch 1, inference ({common.cpu_name()}, {threads} threads; "
          f"B: {passes} pass(es)):")
    print(common.table(rows, ["variant", "B: forward s (median)", "range s", "x default",
                              "A: own ms per layer (best)", "(median)", f"A: own x{layers} as % of default forward"],
                       floatfmt=".3g"))
    print(f"(own cost = the strategy function + the attention statistics it needs; a TC attention layer here takes "
          f"{layer_s * 1e3:.0f} ms, patch entropies add {stat_cost['patch_entropy'] * 1e3:.1f} ms, "
          f"value norms {stat_cost['value_norm'] * 1e3:.1f} ms; default TC forward {base_med:.2f} s = "
          f"{base_med / frame_med:.2f}x frame-wise {frame_med:.2f} s)")
    return targets.report()


def part_a(clip, inputs, frames: int, n_s: int, k: int, r: int, min_seconds: float):
    """A. Each strategy alone, and the statistics it needs: (own(name) -> (best, median) seconds per
    layer, the attention layer's seconds, the extra seconds of each statistic)."""
    stats, seeds = inputs
    calls: dict[str, list[float]] = {}
    needs: dict[str, frozenset] = {}
    with torch.no_grad():
        for name in SEED_SELECTORS.names():
            fn = SEED_SELECTORS.get(name)
            calls[f"seed_selection={name}"] = time_call(lambda: fn(stats, n_s), 5, min_seconds / 2)
            needs[f"seed_selection={name}"] = fn.needs
        for name in SUMMARIZERS.names():
            fn = SUMMARIZERS.get(name)
            calls[f"summarization={name}"] = time_call(lambda: fn(seeds, k, r), 5, min_seconds)
            needs[f"summarization={name}"] = fn.needs
        layer = stats_overhead(clip, frames, min(k, frames * n_s), min_seconds)
    stat_cost = {key: max(0.0, min(layer[key]) - min(layer["cls row only"])) for key in ("value_norm", "patch_entropy")}
    print(f"   part A done: attention layer {min(layer['cls row only']) * 1e3:.0f} ms; extra for value norms "
          f"{stat_cost['value_norm'] * 1e3:.1f} ms, for patch entropies {stat_cost['patch_entropy'] * 1e3:.1f} ms", flush=True)

    def own(name: str) -> tuple[float, float]:
        """(best, median) seconds per layer: the strategy + the statistics it needs."""
        extra = sum(stat_cost[s] for s in needs[name])
        return min(calls[name]) + extra, common.median(calls[name]) + extra

    return own, min(layer["cls row only"]), stat_cost


def part_b_models(clip, arch: str) -> dict:
    """B's models over the same CLIP: the frame-wise reference, each seed selector (with bipartite
    merging) and each other summarizer (with cls_avg selection)."""
    models = {"frame-wise (reference)": common.variant_model(clip, "frame", arch).eval()}
    for name in SEED_SELECTORS.names():
        key = DEFAULT_NAME if name == DEFAULT[0] else f"seed_selection={name}"
        models[key] = common.variant_model(clip, "tc_attn", arch, vision={"seed_selection": name}).eval()
    for name in SUMMARIZERS.names():
        if name != DEFAULT[1]:
            models[f"summarization={name}"] = common.variant_model(clip, "tc_attn", arch, vision={"summarization": name}).eval()
    return models


def part_b(models: dict, frames: int, size: int, budget: float) -> tuple[dict[str, list[float]], int]:
    """B. Whole forwards, round-robin passes while the budget allows (at least one): seconds per
    forward of each model, and the number of passes."""
    video = torch.randn(1, frames, 3, size, size, generator=torch.Generator().manual_seed(1))
    warm = video[:, :2]
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.no_grad():
        for model in models.values():  # warm every code path on 2 frames
            model.encode_video(warm)
        start = time.perf_counter()
        passes = 0
        while True:
            pass_start = time.perf_counter()
            for name, model in models.items():
                times[name].append(common.timed(lambda: model.encode_video(video))[0])
            passes += 1
            spent, last = time.perf_counter() - start, time.perf_counter() - pass_start
            if spent + last > budget:
                break
    print(f"   part B: {passes} round-robin pass(es) of {len(models)} forwards in {time.perf_counter() - start:.0f} s", flush=True)
    return times, passes


def rows_and_targets(times: dict[str, list[float]], own, layers: int, quick: bool):
    """The table's rows and the targets checked: (rows, targets, default forward median s,
    frame-wise forward median s)."""
    base_best = min(times[DEFAULT_NAME])
    base_med = common.median(times[DEFAULT_NAME])
    frame_med = common.median(times["frame-wise (reference)"])
    default_own = tuple(a + b for a, b in zip(own(f"seed_selection={DEFAULT[0]}"), own(f"summarization={DEFAULT[1]}")))
    rows, targets = [], common.Targets()
    for name, ts in times.items():
        med = common.median(ts)
        if name == "frame-wise (reference)":
            rows.append([name, med, common.spread(ts), med / base_med, "", "", ""])
            continue
        best, median = default_own if name == DEFAULT_NAME else own(name)
        rows.append([name, med, common.spread(ts), med / base_med, best * 1e3, median * 1e3,
                     best * layers / base_best * 100])
        if name == DEFAULT_NAME:
            continue
        exempt = name in EXEMPT
        ok = None if (exempt or quick) else best * layers <= MAX_OWN_SHARE * base_best
        note = (" (exempt: the ablation's extra context tokens)" if exempt
                else " (targets are for ViT-B/16, 16 frames: run without --quick)" if quick else "")
        targets.check(f"{name}: own cost x{layers} <= {MAX_OWN_SHARE:.0%} of a default forward", ok,
                      f"{best * layers:.2f} s vs {base_best:.2f} s{note}")
    return rows, targets, base_med, frame_med


if __name__ == "__main__":
    sys.exit(main())
