"""FLOPs per view: TC-CLIP vs the frame-wise baseline (and joint attention) at ViT-B/16, 16 frames.

Counter: ``torch.utils.flop_counter.FlopCounterMode`` run on the *meta* device (shapes
only, instant, no weights needed). It counts matrix products (linear, matmul, bmm,
convolution, attention) at 2 FLOPs per multiply-accumulate; layer norms, softmax,
activations, gathers and sorts are not counted (well under 1% here). The tables print
both conventions: GMACs (= the "GFLOPs" of fvcore and of the papers, one per
multiply-accumulate) and GFLOPs (two per multiply-accumulate).

Why meta: on real CPU tensors PyTorch's default attention kernel
(``_scaled_dot_product_flash_attention_for_cpu``) has no FLOP formula, so the counter
silently drops every attention product; on meta (or with the math SDPA backend) the
attention decomposes into counted matmuls. Table 1 below shows all three.

Tables: 1. one layer, counter vs analytic; 2. what TC-CLIP adds, by part; 3. growth
with frames (4-32) of frame-wise, TC-CLIP and joint attention; 4. per view, with the
published figures.

Checks (targets; exit 1 if missed):
- one ViT-B/16 layer, one frame: counter == analytic count (within 0.5%);
- the frame-wise model per view within 1% of the published ViFi-CLIP figure (281);
- TC-CLIP's extra cost over frame-wise == the sum of its analytic parts (within 1%);
- TC-CLIP per view at or below the published 304 GMACs (ViT-B/16, 16 frames).

Counting convention of the GMACs: one per multiply-accumulate of every matrix product
(patch embedding, q/k/v and output projections, attention logits and attention x
values, MLP, ln_post/proj, and TC-CLIP's own: the [CLS] row of seed scores and the
cosine similarities of bipartite merging), fvcore's convention; element-wise work
(layer norms, softmax, activations, top-k, gathers) is not counted.
``--quick``: the same at the embedded size (tiny-clip-p8, 4 frames), checks 1 and 3.
"""

from __future__ import annotations

import argparse
import math
import sys

import common
import torch
from torch.utils.flop_counter import FlopCounterMode

from tcclip.model.backbone import architecture_config
from tcclip.model.seeds import num_seeds
from tcclip.model.summarize import merge_schedule
from tcclip.model.temporal import VisionOutput, _attention

PAPER_GMACS = {"frame": 281.0, "tc": 304.0}  # ViFi-CLIP, TC-CLIP: GFLOPs per view in the TC-CLIP paper (fvcore)
G = 1e9


def count_flops(fn) -> tuple[float, dict[str, float]]:
    """(total FLOPs, FLOPs per aten op) of fn() under FlopCounterMode."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    per_op = {str(op): float(v) for op, v in counter.get_flop_counts()["Global"].items()}
    return float(counter.get_total_flops()), per_op


def geometry(arch: str) -> dict:
    cfg = architecture_config(arch)
    v = cfg["vision_cfg"]
    width = v["width"]
    heads = width // v.get("head_width", 64)
    grid = v["image_size"] // v["patch_size"]
    return {
        "D": width, "M": int(width * v.get("mlp_ratio", 4.0)), "L": v["layers"], "H": heads,
        "N": grid * grid, "P": grid * grid + 1, "patch": v["patch_size"], "E": cfg["embed_dim"],
    }


def layer_macs(P: int, D: int, M: int, keys: int | None = None) -> dict[str, float]:
    """Analytic multiply-accumulates of one ViT layer for one frame of P tokens over `keys` keys."""
    keys = P if keys is None else keys
    return {
        "q,k,v projections": P * D * 3 * D,
        "attention logits q.k": P * keys * D,
        "attention x values": P * keys * D,
        "output projection": P * D * D,
        "MLP": 2 * P * D * M,
    }


def frame_view_macs(g: dict, frames: int) -> float:
    """Analytic MACs per view of the frame-wise encoder: patch embedding + L layers + ln_post/proj."""
    patch = g["N"] * g["D"] * 3 * g["patch"] ** 2
    return frames * (patch + g["L"] * sum(layer_macs(g["P"], g["D"], g["M"]).values()) + g["D"] * g["E"])


def tc_extra_macs(g: dict, frames: int, k: int, alpha: float, r: int, bias: bool = True) -> dict[str, float]:
    """Analytic MACs TC-CLIP adds per view (what the library computes), by part.

    The library projects the context tokens to keys/values once per video (each frame's
    attention reads the same ones) and, with the local/global bias on, attends with one
    extra channel per head in layers 2..L (the folded bias: q' = [q, 1], k' = [k, b])."""
    D, H, L, P, T = g["D"], g["H"], g["L"], g["P"], frames
    n_s = num_seeds(g["N"], alpha)
    m = T * n_s
    k_eff = min(k, m)  # fewer seeds than k: all seeds are context tokens
    merge = 0
    n = m
    for step in merge_schedule(m, k, r):
        merge += math.ceil(n / 2) * (n // 2) * D  # cosine similarities A x B
        n -= step
    channels = D + H if bias else D  # q.k and attention x values, per key and query
    return {
        "context keys/values, projected once per video (layers 2..L)": (L - 1) * k_eff * 2 * D * D,
        "attention over the context keys (layers 2..L)": (L - 1) * T * P * k_eff * 2 * D,
        "folded local/global bias: one channel per head (layers 2..L)": (L - 1) * T * P * (P + k_eff) * 2 * (channels - D),
        "[CLS] attention row for seed scores (all layers)": T * (P * D + (L - 1) * (P + k_eff) * channels),
        "bipartite merging similarities (all layers)": L * merge,
        "context tokens through the MLP (all layers)": L * k_eff * 2 * D * g["M"],
        "ln_post + proj of the context tokens": k_eff * D * g["E"],
    }


def one_layer_check(arch: str, device: str, math_sdpa: bool = False) -> float:
    """Counted FLOPs of one layer of the library's encoder loop, one frame, frame-wise."""
    clip = common.random_clip(arch, device=device)
    block = clip.visual.transformer.resblocks[0]
    g = geometry(arch)
    x = torch.randn(1, g["P"], g["D"], device=device)

    def layer():
        with torch.no_grad():
            h = block.ln_1(x)
            y = x + _attention(block.attn, h, None, None, None, None)[0]
            return y + block.mlp(block.ln_2(y))

    if math_sdpa:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        with sdpa_kernel(SDPBackend.MATH):
            return count_flops(layer)[0]
    return count_flops(layer)[0]


def vision_flops(arch: str, name: str, frames: int, batch: int = 1) -> tuple[float, dict]:
    clip = common.random_clip(arch, device="meta")
    model = common.variant_model(clip, name, arch)
    size = common.image_size(arch)
    video = torch.randn(batch, frames, 3, size, size, device="meta")
    with torch.no_grad():
        total, per_op = count_flops(lambda: model.encode_video(video))
    return total / batch, per_op


def vp_text_flops(arch: str, videos: int, classes: int) -> tuple[float, float]:
    """FLOPs per video of VP text encoding for `classes` names: (batched over `videos`, per-video loop)."""
    clip = common.random_clip(arch, device="meta")
    model = common.variant_model(clip, "tc", arch)
    model.set_class_names(common.class_names(classes))
    e, k = clip.text_projection.shape[1], model.cfg.vision.num_context
    ctx = torch.randn(videos, k, e, device="meta")
    vision = VisionOutput(video=ctx[:, 0], frames=ctx[:, :1], context=ctx)
    with torch.no_grad():
        batched = count_flops(lambda: model.encode_text(vision))[0] / videos
        # The loop runs the whole encoder per video: the batched count for one video.
        one = VisionOutput(video=ctx[:1, 0], frames=ctx[:1, :1], context=ctx[:1])
        loop = count_flops(lambda: model.encode_text(one))[0]
    return batched, loop


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="embedded size (tiny-clip-p8, 4 frames)")
    parser.add_argument("--frames", type=int, default=None, help="frames per view (default 16; quick 4)")
    return parser.parse_args()


def measure(arch: str, frames: int, frame_sweep: list[int], classes: int) -> dict:
    """Every count the tables print: one layer (analytic and counted), per view, growth with T, text."""
    g = geometry(arch)
    tc = common.variant_model(common.random_clip(arch, device="meta"), "tc", arch).cfg.vision
    analytic_layer = layer_macs(g["P"], g["D"], g["M"])
    counted_layer = {
        "counter, meta device": one_layer_check(arch, "meta") / 2,
        "counter, CPU tensors, default SDPA kernel": one_layer_check(arch, "cpu") / 2,
        "counter, CPU tensors, math SDPA kernel": one_layer_check(arch, "cpu", math_sdpa=True) / 2,
    }
    per_view = {name: vision_flops(arch, name, frames)[0] / 2 for name in ("frame", "tc", "joint")}
    growth = {t: {name: vision_flops(arch, name, t)[0] / 2 for name in ("frame", "tc", "joint")} for t in frame_sweep}
    vp_batched, vp_loop = vp_text_flops(arch, videos=8, classes=classes)
    return {
        "g": g, "tc": tc, "analytic_layer": analytic_layer, "counted_layer": counted_layer, "per_view": per_view,
        "growth": growth, "frame_analytic": frame_view_macs(g, frames),
        "extras": tc_extra_macs(g, frames, tc.num_context, tc.seed_ratio, tc.merge_step, tc.local_global_bias),
        "vp_batched": vp_batched, "vp_loop": vp_loop,
        # what projecting the context once per frame (the official code) would add
        "kv_per_frame": (g["L"] - 1) * (frames - 1) * min(tc.num_context, frames * num_seeds(g["N"], tc.seed_ratio))
        * 2 * g["D"] ** 2,
    }


def layer_rows(m: dict) -> list[list]:
    """Table 1: one layer, analytic parts and the three counters (MMACs)."""
    a_total = sum(m["analytic_layer"].values())
    rows = [[f"analytic: {part}", v / 1e6, ""] for part, v in m["analytic_layer"].items()]
    rows.append(["analytic total", a_total / 1e6, "1.000"])
    return rows + [[name, v / 1e6, f"{v / a_total:.3f}"] for name, v in m["counted_layer"].items()]


def extra_rows(m: dict) -> list[list]:
    """Table 2: TC-CLIP's extra GMACs by analytic part, their sum and the counted difference."""
    rows = [[part, v / G] for part, v in m["extras"].items()]
    rows.append(["sum of the analytic parts", sum(m["extras"].values()) / G])
    rows.append(["counted: TC-CLIP minus frame-wise", (m["per_view"]["tc"] - m["per_view"]["frame"]) / G])
    return rows


def growth_rows(m: dict) -> list[list]:
    """Table 3: GMACs per view as frames grow."""
    return [[t, f["frame"] / G, f["tc"] / G, f["joint"] / G, f["tc"] / f["frame"], f["joint"] / f["frame"]]
            for t, f in m["growth"].items()]


def per_view_rows(m: dict, paper_ok: bool) -> list[list]:
    """Table 4: per view at the default frames, beside the published figures."""
    per_view, rows = m["per_view"], []
    for name, label in [("frame", "ViFi-CLIP (frame-wise)"), ("tc", "TC-CLIP (vision)"), ("joint", "joint space-time")]:
        paper = PAPER_GMACS.get(name) if paper_ok else None
        rows.append([label, per_view[name] / G, 2 * per_view[name] / G, per_view[name] / per_view["frame"],
                     "" if paper is None else paper, "" if paper is None else f"{per_view[name] / G / paper:.3f}"])
    fa = m["frame_analytic"]
    rows.append(["analytic frame-wise", fa / G, 2 * fa / G, fa / per_view["frame"], "", ""])
    return rows


def print_tables(m: dict, arch: str, frames: int, classes: int, paper_ok: bool) -> None:
    g = m["g"]
    print(f"\n1. One {arch} layer, one frame ({g['P']} tokens, width {g['D']}), frame-wise, MMACs:")
    print(common.table(layer_rows(m), ["", "MMACs", "/ analytic"], floatfmt=".2f"))
    print(f"\n2. What TC-CLIP adds per view, {frames} frames (analytic parts vs counted difference), GMACs:")
    print(common.table(extra_rows(m), ["part", "GMACs"], floatfmt=".2f"))
    print(f"\n3. Growth with frames, vision encoder GMACs per view ({arch}):")
    print(common.table(growth_rows(m), ["T", "frame-wise", "TC-CLIP", "joint", "TC / frame", "joint / frame"],
                       floatfmt=".2f"))
    print(f"\n4. Per view: 1 clip x {frames} frames x {common.image_size(arch)} px, {arch} vision encoder "
          "(GMACs = fvcore/paper 'GFLOPs'; GFLOPs = 2 x GMACs):")
    print(common.table(per_view_rows(m, paper_ok), ["model", "GMACs", "GFLOPs", "x frame-wise", "paper GMACs",
                                                    "ours / paper"], floatfmt=(".1f", ".1f", ".1f", ".3f", ".0f", ".3f")))
    print(f"Text side per video with VP, {classes} class names: {m['vp_batched'] / 2 / G:.1f} GMACs batched over 8 "
          f"videos, {m['vp_loop'] / 2 / G:.1f} GMACs in a per-video loop (ViFi-CLIP's hand-crafted prompts: encoded "
          "once per class list, 0 per video at evaluation). Not part of the papers' per-view figures.")
    print("Convention: GMACs = multiply-accumulates of every matrix product (projections, attention, MLP, patch "
          "embedding, ln_post/proj, seed-score row, merge similarities); element-wise ops not counted.")
    if paper_ok:
        print(f"Note: our TC-CLIP count is {m['per_view']['tc'] / G - PAPER_GMACS['tc']:+.1f} GMACs from the published "
              f"304. The library projects the {m['tc'].num_context} context tokens to keys/values once per video "
              f"(the official code, once per frame: +{m['kv_per_frame'] / G:.1f} GMACs here) and counts the folded bias's extra channel; "
              "how the paper counted (which ops fvcore traced, merging included or not) is not published; the "
              "frame-wise figure matches it exactly.")


def check_targets(m: dict, paper_ok: bool) -> common.Targets:
    targets = common.Targets()
    a_total, counted = sum(m["analytic_layer"].values()), m["counted_layer"]
    targets.check("one-layer counter == analytic", abs(counted["counter, meta device"] / a_total - 1) <= 0.005,
                  f"{counted['counter, meta device'] / 1e6:.2f} vs {a_total / 1e6:.2f} MMACs")
    targets.check("math-SDPA CPU counter == meta counter",
                  abs(counted["counter, CPU tensors, math SDPA kernel"] / counted["counter, meta device"] - 1) <= 1e-6,
                  "the meta count is what real tensors compute")
    frame_gmacs, tc_gmacs = m["per_view"]["frame"] / G, m["per_view"]["tc"] / G
    targets.check("frame-wise per view within 1% of ViFi-CLIP's 281",
                  abs(frame_gmacs / PAPER_GMACS["frame"] - 1) <= 0.01 if paper_ok else None,
                  f"{frame_gmacs:.1f} GMACs" if paper_ok else "ViT-B/16, 16 frames only")
    counted_extra, extra_sum = m["per_view"]["tc"] - m["per_view"]["frame"], sum(m["extras"].values())
    targets.check("TC extra == sum of analytic parts", abs(counted_extra / extra_sum - 1) <= 0.01,
                  f"counted {counted_extra / G:.2f} vs analytic {extra_sum / G:.2f} GMACs")
    targets.check("TC-CLIP per view <= the published 304 GMACs", tc_gmacs <= PAPER_GMACS["tc"] if paper_ok else None,
                  f"{tc_gmacs:.1f} GMACs" if paper_ok else "ViT-B/16, 16 frames only")
    return targets


def main() -> int:
    args = parse_args()
    threads = common.init_threads()
    arch = common.TINY if args.quick else common.VIT_B16
    frames = args.frames or (4 if args.quick else 16)
    classes = 40 if args.quick else 400
    common.banner("FLOPs per view")
    m = measure(arch, frames, [4, 8] if args.quick else [4, 8, 16, 32], classes)
    g, tc = m["g"], m["tc"]
    print(f"   {arch}: {g['L']} layers, width {g['D']}, {g['N']} patches + [CLS]; {frames} frames per view; "
          f"TC k={tc.num_context}, alpha={tc.seed_ratio}, r={tc.merge_step}; counted on the meta device", flush=True)
    paper_ok = not args.quick and frames == 16 and arch == common.VIT_B16
    print_tables(m, arch, frames, classes, paper_ok)
    targets = check_targets(m, paper_ok)
    print(f"(threads {threads}; counting takes no real compute)")
    return targets.report()


if __name__ == "__main__":
    sys.exit(main())
