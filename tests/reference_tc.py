"""A slow, loop-by-loop re-statement of TC-CLIP, written straight from DESIGN.md.

It shares no code with tcclip.model (only open_clip's modules for weights): explicit
per-video / per-frame / per-head loops, Python sorting, sequential merging. The tests
compare the library's batched encoder with it in float64.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _linear(x, weight, bias):
    return x @ weight.t() + bias


def _attend(block, x, context, bias):
    """One frame: queries x (P, D); keys [x ; context]. Returns (x + attn, head-avg [CLS] probs over all keys)."""
    attn = block.attn
    heads = attn.num_heads
    d = x.shape[-1]
    hd = d // heads
    h = block.ln_1(x)
    keys_in = h if context is None else torch.cat([h, block.ln_1(context)])
    w_q, w_k, w_v = attn.in_proj_weight.chunk(3)
    b_q, b_k, b_v = attn.in_proj_bias.chunk(3)
    q, k, v = _linear(h, w_q, b_q), _linear(keys_in, w_k, b_k), _linear(keys_in, w_v, b_v)
    outputs, cls_rows = [], []
    for head in range(heads):
        sl = slice(head * hd, (head + 1) * hd)
        logits = q[:, sl] @ k[:, sl].t() / math.sqrt(hd)
        if context is not None and bias is not None:
            offset = torch.cat([bias[head, 0].expand(x.shape[0]), bias[head, 1].expand(context.shape[0])])
            logits = logits + offset
        probs = logits.softmax(dim=-1)
        outputs.append(probs @ v[:, sl])
        cls_rows.append(probs[0])
    out = _linear(torch.cat(outputs, dim=-1), attn.out_proj.weight, attn.out_proj.bias)
    return x + out, torch.stack(cls_rows).mean(0)


def _schedule(m, k, r):
    steps, n = [], m
    for _ in range(max(m - k, 0) // r):
        steps.append(min(r, n // 2))
        n -= steps[-1]
    while n > k:
        steps.append(min(n - k, n // 2))
        n -= steps[-1]
    return steps


def _bipartite(tokens, k, r):
    """Sequential bipartite soft matching on a list of 1-D tensors."""
    sizes = [1.0] * len(tokens)
    for r_step in _schedule(len(tokens), k, r):
        a_tok, b_tok = tokens[0::2], [t.clone() for t in tokens[1::2]]
        a_size, b_size = sizes[0::2], list(sizes[1::2])
        best, match = [], []
        for a in a_tok:
            sims = [float(F.normalize(a, dim=0) @ F.normalize(b, dim=0)) for b in tokens[1::2]]
            j = max(range(len(sims)), key=lambda i: sims[i])
            best.append(sims[j])
            match.append(j)
        order = sorted(range(len(a_tok)), key=lambda i: -best[i])  # stable
        sums = [b * s for b, s in zip(b_tok, b_size)]
        for i in order[:r_step]:
            j = match[i]
            sums[j] = sums[j] + a_tok[i] * a_size[i]
            b_size[j] += a_size[i]
        b_tok = [s / w for s, w in zip(sums, b_size)]
        tokens = [a_tok[i] for i in order[r_step:]] + b_tok
        sizes = [a_size[i] for i in order[r_step:]] + b_size
    return torch.stack(tokens)


def reference_tc_encoder(visual, video, k, alpha, r, bias=None):
    """video (B, T, 3, H, W) -> (video features (B, E), context (B, k, E))."""
    features, contexts = [], []
    for clip_video in video:
        frames = [visual._embeds(frame[None])[0] for frame in clip_video]
        n_patches = frames[0].shape[0] - 1
        n_seeds = int(math.floor(alpha * n_patches))
        context = None
        for layer, block in enumerate(visual.transformer.resblocks):
            attended, seeds = [], []
            for x in frames:
                x, cls_probs = _attend(block, x, context, None if bias is None else bias[layer])
                scores = cls_probs[1 : 1 + n_patches].tolist()
                ranked = sorted(range(n_patches), key=lambda j: -scores[j])[:n_seeds]
                seeds.extend(x[1 + j] for j in ranked)
                attended.append(x)
            merged = _bipartite(seeds, k, r)
            frames = [x + block.mlp(block.ln_2(x)) for x in attended]
            context = merged + block.mlp(block.ln_2(merged))
        cls = torch.stack([visual.ln_post(x[0]) @ visual.proj for x in frames])
        features.append(cls.mean(0))
        contexts.append(visual.ln_post(context) @ visual.proj)
    return torch.stack(features), torch.stack(contexts)


def reference_vp_text(clip, prompt_module, tokens, visual_tokens):
    """The official design's per-video loop: the whole text encoder once per video, VP per class."""
    n = prompt_module.cfg.n_ctx
    blocks = list(clip.transformer.resblocks)
    split = prompt_module.vp_index
    out = []
    for video_tokens in visual_tokens:
        x = clip.token_embedding(tokens)
        x = torch.cat([x[:, :1], prompt_module.ctx[None].expand(x.shape[0], -1, -1), x[:, 1 + n :]], dim=1)
        x = x + clip.positional_embedding[: tokens.shape[1]]
        mask = clip.attn_mask[: tokens.shape[1], : tokens.shape[1]]
        for block in blocks[:split]:
            x = block(x, attn_mask=mask)
        rows = []
        for row in x:
            prompt = prompt_module.vp(row[None, 1 : 1 + n], video_tokens[None])[0]
            rows.append(torch.cat([row[:1], prompt, row[1 + n :]]))
        x = torch.stack(rows)
        for block in blocks[split:]:
            x = block(x, attn_mask=mask)
        x = clip.ln_final(x)
        out.append(x[torch.arange(x.shape[0]), tokens.argmax(-1)] @ clip.text_projection)
    return torch.stack(out)
