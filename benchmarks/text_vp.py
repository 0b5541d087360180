"""Text side with video-conditional prompting (VP): batched encoding vs the per-video loop.

Scores B=8 videos against K=400 class names (Kinetics-400 size) at ViT-B/16's text
geometry (width 512, 12 blocks, context length 30, 4 prompt vectors, VP before the last
block, 96 context tokens per video), random weights, float32, inference (no grad).
The vision side is the same for every path and is not timed: each path gets the same
(B, 96, 512) context tokens.

Paths, all timed round-robin in this process:
- ``batched``   the library: ``VideoCLIP.encode_text`` (tcclip.model.prompts.VideoConditionalPrompt)
- ``loop``      the official design, re-implemented here as the reference: for each video
                the whole text encoder runs over all K prompts, VP refining the prompt
                positions of every class with that video's context tokens. It is written
                as fast as a per-video loop can be (VP's keys/values once per video, all
                K classes batched), so the ratio is not inflated by a slow reference.
- ``eot_only``  a proposal measured here only (not in the library): when VP precedes the
                last block, that block is needed only at each prompt's [EOT] query; its keys
                and values of the class tokens do not depend on the video.

Target (full mode): ``batched`` at least 5x faster than ``loop``, outputs equal
(max |diff| <= 1e-4 x max |value|). ``--quick`` runs a tiny text encoder and checks the
equality only.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import common
import torch
import torch.nn.functional as F

from tcclip.model.temporal import VisionOutput

TARGET_SPEEDUP = 5.0
RTOL = 1e-4


def loop_reference(clip, text, tokens: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    """(B, K, E): one full text-encoder pass over the K prompts per video (official design)."""
    n = text.cfg.n_ctx
    blocks = list(clip.transformer.resblocks)
    length = tokens.shape[1]
    mask = clip.attn_mask[:length, :length]
    eot = tokens.argmax(dim=-1)
    rows = torch.arange(tokens.shape[0], device=tokens.device)
    out = []
    for video_tokens in context:  # the Python loop over videos
        x = clip.token_embedding(tokens)
        x = torch.cat([x[:, :1], text.ctx[None].expand(x.shape[0], -1, -1), x[:, 1 + n :]], dim=1)
        x = x + clip.positional_embedding[:length]
        for block in blocks[: text.vp_index]:
            x = block(x, attn_mask=mask)
        # VP on every class's prompt positions; all K*n queries see the same keys (this video).
        prompts = text.vp(x[:, 1 : 1 + n].reshape(1, -1, x.shape[-1]), video_tokens[None])
        x = torch.cat([x[:, :1], prompts.view(x.shape[0], n, -1), x[:, 1 + n :]], dim=1)
        for block in blocks[text.vp_index :]:
            x = block(x, attn_mask=mask)
        x = clip.ln_final(x)
        out.append(x[rows, eot] @ clip.text_projection)
    return torch.stack(out)


def eot_only(clip, text, tokens: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    """(B, K, E) like the library's path, computing the last block at the [EOT] queries only.

    Valid when VP precedes the last block: the last block's output is read at [EOT] only,
    and its keys/values at [SOS] and the class tokens are the same for every video.
    """
    blocks = clip.transformer.resblocks
    assert text.vp_index == len(blocks) - 1, "eot_only needs VP before the last text block"
    n = text.cfg.n_ctx
    x = text.run_blocks(clip, text.embed(clip, tokens), blocks[: text.vp_index])  # (K, L, W), once
    prompt = text.vp(x[:1, 1 : 1 + n].expand(context.shape[0], -1, -1), context.to(x.dtype))  # (B, n, W)
    last = blocks[-1]
    eot = tokens.argmax(dim=-1)
    # (K, W): the residual stream at [EOT] does not depend on the video
    x_eot = x[torch.arange(x.shape[0], device=tokens.device), eot]
    out = eot_attention(last.attn, last.ln_1(x), last.ln_1(prompt), eot, n)
    y = x_eot[None] + last.ls_1(last.attn.out_proj(out))
    y = y + last.ls_2(last.mlp(last.ln_2(y)))
    return clip.ln_final(y) @ clip.text_projection


def eot_attention(attn, h: torch.Tensor, h_prompt: torch.Tensor, eot: torch.Tensor, n: int) -> torch.Tensor:
    """(B, K, W) before the output projection: each prompt's [EOT] query of the last block over its own
    class tokens ``h`` (K, L, W; the n prompt slots masked) and the video's prompt vectors ``h_prompt``
    (B, n, W), both already layer-normed."""
    (k, length, width), b = h.shape, h_prompt.shape[0]
    heads = attn.num_heads
    hd = width // heads
    w_q, w_k, w_v = attn.in_proj_weight.chunk(3)
    b_q, b_k, b_v = attn.in_proj_bias.chunk(3)
    ar = torch.arange(k, device=eot.device)
    q = F.linear(h[ar, eot], w_q, b_q).view(k, heads, hd)
    k_cls = F.linear(h, w_k, b_k).view(k, length, heads, hd)
    v_cls = F.linear(h, w_v, b_v).view(k, length, heads, hd)
    k_vid = F.linear(h_prompt, w_k, b_k).view(b, n, heads, hd)
    v_vid = F.linear(h_prompt, w_v, b_v).view(b, n, heads, hd)
    scale = 1.0 / math.sqrt(hd)
    logits_cls = torch.einsum("khd,klhd->khl", q, k_cls) * scale  # (K, H, L)
    pos = torch.arange(length, device=eot.device)
    blocked = (pos[None, :] > eot[:, None]) | ((pos >= 1) & (pos <= n))[None, :]  # causal; prompt slots are the video's
    logits_cls = logits_cls.masked_fill(blocked[:, None, :], float("-inf"))
    logits_vid = torch.einsum("khd,bnhd->bkhn", q, k_vid) * scale  # (B, K, H, n)
    probs = torch.cat([logits_cls[None].expand(b, -1, -1, -1), logits_vid], dim=-1).softmax(dim=-1)
    out = torch.einsum("bkhl,klhd->bkhd", probs[..., :length], v_cls) + torch.einsum(
        "bkhn,bnhd->bkhd", probs[..., length:], v_vid
    )
    return out.reshape(b, k, width)


def path_gmacs(arch: str, videos: int, classes: int) -> dict[str, float]:
    """GMACs of each path, counted on the meta device (no compute): the cost the timings should follow."""
    from torch.utils.flop_counter import FlopCounterMode

    clip = common.random_clip(arch, device="meta")
    model = common.variant_model(clip, "tc", arch)
    model.set_class_names(common.class_names(classes))
    text, tokens = model.text, model.class_tokens
    context = torch.randn(videos, model.cfg.vision.num_context, clip.text_projection.shape[1], device="meta")
    paths = {
        "batched": lambda: text(clip, tokens, VisionOutput(video=context[:, 0], frames=context[:, :1], context=context)),
        "loop": lambda: loop_reference(clip, text, tokens, context),
    }
    if text.vp_index == len(clip.transformer.resblocks) - 1:
        paths["eot_only"] = lambda: eot_only(clip, text, tokens, context)
    out = {}
    for name, fn in paths.items():
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            fn()
        out[name] = counter.get_total_flops() / 2e9
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="tiny text encoder, 4 videos x 40 classes (smoke)")
    parser.add_argument("--videos", type=int, default=None, help="videos per batch (default 8; quick 4)")
    parser.add_argument("--classes", type=int, default=None, help="class names (default 400; quick 40)")
    parser.add_argument("--repeats", type=int, default=None, help="most timed rounds (default 3; quick 2)")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="no new round starts unless it fits in this many seconds from the start (default 420); "
                        "at least one round runs")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    threads = common.init_threads()
    arch = common.TINY if args.quick else common.VIT_B16
    videos = args.videos or (4 if args.quick else 8)
    classes = args.classes or (40 if args.quick else 400)
    repeats = args.repeats or (2 if args.quick else 3)
    budget = args.budget_s if args.budget_s is not None else 420.0
    common.banner("text side: batched VP vs per-video loop")

    clip = common.random_clip(arch)
    model = common.variant_model(clip, "tc", arch).eval()
    model.set_class_names(common.class_names(classes))
    width = clip.text_projection.shape[1]
    k_ctx = model.cfg.vision.num_context
    context = torch.randn(videos, k_ctx, width, generator=torch.Generator().manual_seed(1))
    text, tokens = model.text, model.class_tokens
    blocks = len(clip.transformer.resblocks)
    paths = timed_paths(clip, text)
    print(f"   {arch}: text width {width}, {blocks} blocks, context length {tokens.shape[1]}, "
          f"VP before block {text.vp_index}; {videos} videos x {classes} classes, {k_ctx} context tokens; "
          f"up to {repeats} round-robin rounds (after a small warm-up); {threads} threads", flush=True)

    outputs, times = time_round_robin(paths, tokens, context, repeats, budget)
    rows, diffs, scale = comparison(outputs, times, path_gmacs(arch, videos, classes))
    # Block-passes over K prompts of length L: the loop needs B*blocks, the batched path
    # (blocks-1) + B*1 when VP precedes the last block: the best speed-up that design can reach.
    after = blocks - text.vp_index
    bound = videos * blocks / (text.vp_index + videos * after)

    print(f"\nText side, {videos} videos x {classes} classes, {arch} text geometry ({common.cpu_name()}, {threads} threads):")
    print(common.table(rows, ["path", "GMACs", "loop / path GMACs", "median s", "range s", "speed-up vs loop (medians)",
                              "(fastest runs)", "max abs diff vs loop"],
                       floatfmt=("", ".4g", ".3g", ".3g", "", ".3g", ".3g", "")))
    print(f"(max |value| of the class embeddings: {scale:.3g}; the batched design's block-count bound on the "
          f"speed-up: {videos}*{blocks}/({text.vp_index}+{videos}*{after}) = {bound:.2f}x)")
    return check_targets(diffs, scale, common.median(times["loop"]) / common.median(times["batched"]), args.quick)


def timed_paths(clip, text) -> dict:
    """name -> fn(tokens, context) -> (B, K, E) of each path this machine can run."""
    def batched(tok, ctx):  # what VideoCLIP.encode_text runs for a video-conditioned prompt
        return text(clip, tok, VisionOutput(video=ctx.mean(1), frames=ctx[:, :1], context=ctx))

    paths = {"batched": batched, "loop": lambda tok, ctx: loop_reference(clip, text, tok, ctx)}
    if text.vp_index == len(clip.transformer.resblocks) - 1:
        paths["eot_only"] = lambda tok, ctx: eot_only(clip, text, tok, ctx)
    return paths


def time_round_robin(paths: dict, tokens, context, repeats: int, budget: float):
    """Each path's output and seconds per round, after a warm-up on 2 videos x 8 classes; no new
    round starts unless it fits in ``budget`` seconds from the start."""
    outputs: dict[str, torch.Tensor] = {}
    times: dict[str, list[float]] = {name: [] for name in paths}
    start = time.perf_counter()
    with torch.no_grad():
        for fn in paths.values():  # warm-up on 2 videos x 8 classes
            fn(tokens[:8], context[:2])
        for _ in range(repeats):
            round_start = time.perf_counter()
            for name, fn in paths.items():
                seconds, outputs[name] = common.timed(lambda: fn(tokens, context))
                times[name].append(seconds)
            print(f"   round: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()), flush=True)
            now = time.perf_counter()
            if now - start + (now - round_start) > budget:
                break
    return outputs, times


def comparison(outputs: dict, times: dict, gmacs: dict):
    """The table's rows (cost, time and difference of each path against the loop), each path's max
    |difference| from the loop, and the loop's max |value|."""
    ref = outputs["loop"]
    scale = ref.abs().max().item()
    rows, diffs = [], {}
    base = common.median(times["loop"])
    for name in outputs:
        diff = (outputs[name] - ref).abs().max().item()
        diffs[name] = diff
        med = common.median(times[name])
        rows.append([name, gmacs[name], gmacs["loop"] / gmacs[name], med, common.spread(times[name]), base / med,
                     min(times["loop"]) / min(times[name]), f"{diff:.2e}"])
    return rows, diffs, scale


def check_targets(diffs: dict, scale: float, speedup: float, quick: bool) -> int:
    targets = common.Targets()
    for name in diffs:
        if name != "loop":
            targets.check(f"{name} equals loop", diffs[name] <= RTOL * scale,
                          f"max |diff| {diffs[name]:.2e} <= {RTOL:g} x {scale:.3g}")
    if quick:
        targets.check(f"batched >= {TARGET_SPEEDUP:g}x loop", None,
                      f"{speedup:.2f}x measured; the target is for ViT-B/16, 8 videos x 400 classes (run without --quick)")
    else:
        targets.check(f"batched >= {TARGET_SPEEDUP:g}x loop", speedup >= TARGET_SPEEDUP, f"{speedup:.2f}x")
    return targets.report()


if __name__ == "__main__":
    sys.exit(main())
