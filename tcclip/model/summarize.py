"""Context-token summarization phi: the T*n_s seeds of a video -> k context tokens.

Every strategy is ``fn(seeds, k, r) -> Summary`` (``r`` is the bipartite merge step;
the others ignore it); ``fn.needs`` names the optional attention statistics it
needs (see ``tcclip.model.seeds``). When there are no more seeds than k, every
merging strategy returns the seeds unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from tcclip.model.precision import autocast_off, full_precision
from tcclip.registry import Registry

KMEANS_ITERS = 10  # Lloyd iterations after k-means++ initialisation
DPC_NEIGHBOURS = 5  # m nearest neighbours in the DPC-KNN density
SALIENCY_EPS = 1e-6  # min-max normalised saliency is 0 for one patch; weights must stay > 0
OPTIONAL_STATS = frozenset({"patch_entropy"})


@dataclass
class SeedSet:
    # (B, M, D) seed features, M = T*n_s, frame-major, within a frame by descending score.
    tokens: torch.Tensor
    # (B, M) their seed scores (e.g. head-averaged [CLS] attention).
    scores: torch.Tensor
    # (B, M) patch-saliency scores in [0, 1], when a strategy needs them.
    saliency: torch.Tensor | None = None


@dataclass
class Summary:
    # (B, k', D) context tokens; k' = min(k, M) for merging strategies, M for "none".
    tokens: torch.Tensor
    # (B, M) long: which output token each input seed ended in.
    assignment: torch.Tensor
    # (B, k') accumulated merge weights (bipartite family only; sizes for "bipartite").
    sizes: torch.Tensor | None = None


Summarizer = Callable[[SeedSet, int, int], Summary]
SUMMARIZERS: Registry[Summarizer] = Registry("summarization", optional_needs=OPTIONAL_STATS)


# Register a strategy: @summarizer("name", needs={...optional stats}).
summarizer = SUMMARIZERS.register


def merge_schedule(m: int, k: int, r: int) -> list[int]:
    """How many tokens each bipartite step merges to go from m to k tokens.

    floor((m-k)/r) steps of min(r, n//2), then steps of min(n-k, n//2) until k
    remain (n = tokens left before the step). A step can merge at most n//2 tokens
    because each merged A token needs a B partner.
    """
    if k < 1 or r < 1:
        raise ValueError(f"k and r must be >= 1, got k={k}, r={r}")
    steps, n = [], m
    for _ in range(max(m - k, 0) // r):
        steps.append(min(r, n // 2))
        n -= steps[-1]
    while n > k:
        steps.append(min(n - k, n // 2))
        n -= steps[-1]
    return steps


def _identity(seeds: SeedSet) -> Summary:
    b, m = seeds.scores.shape
    arange = torch.arange(m, device=seeds.tokens.device)
    return Summary(seeds.tokens, arange.repeat(b, 1))


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"the number of context tokens k must be >= 1, got {k}")


def _merge_step(
    x: torch.Tensor, w: torch.Tensor, r: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One bipartite soft-matching step merging r tokens.

    Returns the new tokens, their weights and, for every current position, the
    position it moves to (so that seed assignments can be followed).
    """
    b, n, d = x.shape
    with torch.no_grad(), autocast_off(x.device):  # a discrete choice: no gradient, no bf16/fp16 ties
        metric = F.normalize(full_precision(x)[0], dim=-1)
        sim = metric[:, ::2] @ metric[:, 1::2].transpose(1, 2)
        best, partner = sim.max(dim=-1)  # each A token's best B match
        order = best.argsort(dim=-1, descending=True, stable=True)
    src, unm = order[:, :r], order[:, r:]
    dst = partner.gather(1, src)

    xa, xb, wa, wb = x[:, ::2], x[:, 1::2], w[:, ::2], w[:, 1::2]
    w_src = wa.gather(1, src)
    x_src = xa.gather(1, src[..., None].expand(-1, -1, d))
    # Weighted average of each B token with the A tokens merged into it.
    w_dst = wb.scatter_add(1, dst, w_src)
    x_dst = (xb * wb[..., None]).scatter_add(
        1, dst[..., None].expand(-1, -1, d), x_src * w_src[..., None]
    ) / w_dst[..., None]
    x_out = torch.cat([xa.gather(1, unm[..., None].expand(-1, -1, d)), x_dst], dim=1)
    w_out = torch.cat([wa.gather(1, unm), w_dst], dim=1)

    # New order: [unmerged A in order of best similarity ; all B in original order].
    n_unm = unm.shape[1]
    moved_a = torch.empty_like(partner)
    moved_a.scatter_(1, unm, torch.arange(n_unm, device=x.device).expand(b, -1))
    moved_a.scatter_(1, src, dst + n_unm)
    moved = torch.empty(b, n, dtype=torch.long, device=x.device)
    moved[:, ::2] = moved_a
    moved[:, 1::2] = n_unm + torch.arange(xb.shape[1], device=x.device)
    return x_out, w_out, moved


def bipartite_merge(tokens: torch.Tensor, weights: torch.Tensor, k: int, r: int) -> Summary:
    """ToMe-style bipartite soft matching repeated along ``merge_schedule(M, k, r)``.

    Shared by the bipartite family; ``weights`` (B, M) > 0 are the initial merge
    weights (1 = token sizes) and add up as tokens merge.
    """
    _check_k(k)
    b, m, _ = tokens.shape
    x, w = tokens, weights
    where = torch.arange(m, device=tokens.device).repeat(b, 1)
    for step in merge_schedule(m, k, r):
        x, w, moved = _merge_step(x, w, step)
        where = moved.gather(1, where)
    return Summary(x, where, w)


@summarizer("bipartite")
def bipartite(seeds: SeedSet, k: int, r: int) -> Summary:
    """Bipartite soft matching, size-weighted (ToMe, Bolya et al. ICLR 2023; TC-CLIP code).

    The default. Each step: metric = the L2-normalised current tokens; A/B = even/odd
    positions; each A token's best cosine match in B; the r A tokens with the highest
    best similarity merge into their match by size-weighted average; output order
    [unmerged A by descending similarity ; all B]. Sizes start at 1.
    """
    return bipartite_merge(seeds.tokens, torch.ones_like(seeds.scores), k, r)


@summarizer("bipartite_attn")
def bipartite_attn(seeds: SeedSet, k: int, r: int) -> Summary:
    """Bipartite matching, merges weighted by the seeds' scores (TC-CLIP poster; rule inferred).

    Same matching as ``bipartite``; the initial weights are the seed scores
    (averaged [CLS] attention) instead of 1 and add up like sizes.
    """
    # Softmax probabilities are positive; the clamp only guards fp32 underflow.
    weights = seeds.scores.clamp_min(torch.finfo(seeds.scores.dtype).tiny)
    return bipartite_merge(seeds.tokens, weights, k, r)


@summarizer("bipartite_saliency", needs={"patch_entropy"})
def bipartite_saliency(seeds: SeedSet, k: int, r: int) -> Summary:
    """Bipartite matching, merges weighted by patch saliency (TC-CLIP poster; vid-TLDR).

    Same matching as ``bipartite``; initial weights = saliency + SALIENCY_EPS, since
    min-max normalised saliency is 0 for the least salient patch of a frame.
    """
    if seeds.saliency is None:
        raise ValueError("bipartite_saliency needs SeedSet.saliency")
    return bipartite_merge(seeds.tokens, seeds.saliency + SALIENCY_EPS, k, r)


@summarizer("none")
def no_merge(seeds: SeedSet, k: int, r: int) -> Summary:
    """No summarization: all T*n_s seeds are context tokens (TC-CLIP poster ablation)."""
    return _identity(seeds)


def _group_means(
    tokens: torch.Tensor, assignment: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of the tokens of each of k groups (0 for an empty group) and group sizes."""
    b, m, d = tokens.shape
    sums = tokens.new_zeros(b, k, d).scatter_add(1, assignment[..., None].expand(-1, -1, d), tokens)
    counts = tokens.new_zeros(b, k).scatter_add(1, assignment, tokens.new_ones(b, m))
    return sums / counts.clamp_min(1)[..., None], counts


@summarizer("random")
def random_merge(seeds: SeedSet, k: int, r: int) -> Summary:
    """Random partition into k near-equal groups, group means (TC-CLIP poster; rule inferred).

    A random permutation per video (torch's global RNG) dealt round-robin into k
    groups, so group sizes differ by at most one.
    """
    _check_k(k)
    b, m, _ = seeds.tokens.shape
    if m <= k:
        return _identity(seeds)
    device = seeds.tokens.device
    perm = torch.rand(b, m, device=device).argsort(dim=-1)
    groups = (torch.arange(m, device=device) % k).expand(b, m)
    assignment = torch.empty_like(perm).scatter_(1, perm, groups)
    return Summary(_group_means(seeds.tokens, assignment, k)[0], assignment)


def _kmeans_pp_init(x: torch.Tensor, k: int) -> torch.Tensor:
    """k-means++ centres (B, k, D): each next centre drawn with probability ~ d^2."""
    b, m, _ = x.shape
    rows = torch.arange(b, device=x.device)
    centre = x[rows, torch.randint(m, (b,), device=x.device)]
    centres = [centre]
    d2 = (x - centre[:, None]).square().sum(-1)
    for _ in range(k - 1):
        # If every point coincides with a centre, draw uniformly instead.
        p = torch.where(d2.sum(-1, keepdim=True) > 0, d2, torch.ones_like(d2))
        centre = x[rows, torch.multinomial(p, 1).squeeze(1)]
        centres.append(centre)
        d2 = torch.minimum(d2, (x - centre[:, None]).square().sum(-1))
    return torch.stack(centres, dim=1)


@summarizer("kmeans")
def kmeans(seeds: SeedSet, k: int, r: int) -> Summary:
    """k-means of the seed features, cluster means (Lloyd 1982 / MacQueen 1967).

    k-means++ initialisation (torch's global RNG), then KMEANS_ITERS Lloyd
    iterations, batched over videos; an empty cluster keeps its previous centre.
    The outputs are the means of the final clusters, recomputed from the tokens so
    gradients reach them (a cluster left empty outputs its centre, without gradient).
    """
    _check_k(k)
    b, m, _ = seeds.tokens.shape
    if m <= k:
        return _identity(seeds)
    with torch.no_grad(), autocast_off(seeds.tokens.device):  # discrete choices: no bf16/fp16 ties
        x = full_precision(seeds.tokens.detach())[0]
        centres = _kmeans_pp_init(x, k)
        for _ in range(KMEANS_ITERS):
            assignment = torch.cdist(x, centres).argmin(dim=-1)
            means, counts = _group_means(x, assignment, k)
            centres = torch.where(counts[..., None] > 0, means, centres)
    means, counts = _group_means(seeds.tokens, assignment, k)
    return Summary(torch.where(counts[..., None] > 0, means, centres.to(means.dtype)), assignment)


def knn_log_density(dist: torch.Tensor, neighbours: int, include_self: bool) -> torch.Tensor:
    """log rho of DPC-KNN: minus the mean squared distance to each point's nearest neighbours.

    dist (B, M, M) pairwise distances, zero diagonal. ``include_self``: the neighbours are
    the ``neighbours`` smallest entries of the distance row, the point itself (distance 0)
    among them, as TCFormer's ``cluster_dpc_knn`` takes them; otherwise the point is left
    out and ``neighbours`` others count. Fewer points than that: all that there are.
    """
    m = dist.shape[-1]
    if include_self:
        return -dist.topk(min(neighbours, m), dim=-1, largest=False).values.square().mean(dim=-1)
    eye = torch.eye(m, dtype=torch.bool, device=dist.device)
    others = dist.masked_fill(eye, math.inf).topk(min(neighbours, m - 1), dim=-1, largest=False)
    return -others.values.square().mean(dim=-1)


def dpc_knn_clusters(seeds: SeedSet, k: int, include_self: bool) -> Summary:
    """Density-peak clustering with a k-NN density; ``include_self`` as in ``knn_log_density``."""
    _check_k(k)
    b, m, d = seeds.tokens.shape
    if m <= k:
        return _identity(seeds)
    with torch.no_grad(), autocast_off(seeds.tokens.device):  # discrete choices: no bf16/fp16 ties
        x = full_precision(seeds.tokens.detach())[0]
        dist = torch.cdist(x, x) / math.sqrt(d)
        log_rho = knn_log_density(dist, DPC_NEIGHBOURS, include_self)
        # denser[b, i, j]: point j is denser than point i.
        idx = torch.arange(m, device=x.device)
        rho_i, rho_j = log_rho[:, :, None], log_rho[:, None, :]
        denser = (rho_j > rho_i) | ((rho_j == rho_i) & (idx[None, :] < idx[:, None]))
        delta = dist.masked_fill(~denser, math.inf).amin(dim=-1)
        delta = torch.where(torch.isinf(delta), dist.flatten(1).amax(dim=-1)[:, None], delta)
        centres = (log_rho + delta.log()).topk(k, dim=-1).indices
        assignment = dist.gather(2, centres[:, None, :].expand(-1, m, -1)).argmin(dim=-1)
        # A centre always joins its own cluster (duplicates could otherwise steal it).
        assignment.scatter_(1, centres, torch.arange(k, device=x.device).expand(b, k))
    return Summary(_group_means(seeds.tokens, assignment, k)[0], assignment)


@summarizer("dpc_knn")
def dpc_knn(seeds: SeedSet, k: int, r: int) -> Summary:
    """Density-peak clustering, k-NN density (Du et al. 2016; as TCFormer's cluster_dpc_knn).

    rho_i = exp(-mean squared distance to its DPC_NEIGHBOURS nearest neighbours), the
    point itself counted among them as in TCFormer (itself + DPC_NEIGHBOURS - 1 others;
    ``dpc_knn_exclude_self`` leaves it out); delta_i = distance to the nearest denser
    point (the largest distance in the set for the densest one); the k points with the
    largest rho*delta are centres, each seed joins its nearest centre, outputs are
    cluster means (ordered by rho*delta). As in TCFormer, distances are divided by
    sqrt(D). Ours: ranking runs in log space (log rho + log delta) so that rho cannot
    underflow to 0, and equal densities are broken by index (the lower index counts as
    denser) where TCFormer adds random noise of 1e-6.
    """
    return dpc_knn_clusters(seeds, k, include_self=True)


@summarizer("dpc_knn_exclude_self")
def dpc_knn_exclude_self(seeds: SeedSet, k: int, r: int) -> Summary:
    """DPC-KNN whose density leaves the point itself out: its DPC_NEIGHBOURS nearest others (ours).

    Otherwise the same as ``dpc_knn`` (the reference's rule, which counts the point itself).
    """
    return dpc_knn_clusters(seeds, k, include_self=False)
