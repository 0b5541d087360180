import pytest
import torch

from tcclip.errors import ConfigError
from tcclip.model.summarize import (
    SALIENCY_EPS,
    SUMMARIZERS,
    SeedSet,
    bipartite_merge,
    knn_log_density,
    merge_schedule,
)

DTYPES = [torch.float32, torch.float64]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
MERGING = [n for n in SUMMARIZERS.names() if n != "none"]


def make_seeds(b=2, m=24, d=8, dtype=torch.float32, device="cpu", grad=False):
    kw = dict(dtype=dtype, device=device)
    seeds = SeedSet(
        tokens=torch.randn(b, m, d, **kw),
        scores=torch.rand(b, m, **kw) + 0.1,
        saliency=torch.rand(b, m, **kw),
    )
    seeds.saliency[:, 0] = 0.0  # min-max normalised saliency reaches 0
    if grad:
        for t in (seeds.tokens, seeds.scores, seeds.saliency):
            t.requires_grad_(True)
    return seeds


def initial_weights(name, seeds):
    if name == "bipartite_attn":
        return seeds.scores
    if name == "bipartite_saliency":
        return seeds.saliency + SALIENCY_EPS
    return torch.ones_like(seeds.scores)


def test_merge_schedule():
    assert merge_schedule(16 * 58, 96, 100) == [100] * 8 + [32]
    assert merge_schedule(8 * 58, 96, 100) == [100, 100, 100, 68]
    assert merge_schedule(4 * 58, 96, 100) == [100, 36]
    assert merge_schedule(96, 96, 100) == []
    assert merge_schedule(50, 96, 100) == []
    assert merge_schedule(6, 3, 2) == [2, 1]
    # Whatever the sizes, the schedule ends at exactly k and never merges more than half.
    for m, k, r in [(10, 2, 3), (200, 7, 100), (31, 30, 5), (97, 1, 100)]:
        n = m
        for step in merge_schedule(m, k, r):
            assert 1 <= step <= n // 2
            n -= step
        assert n == k


def test_registry_names_and_needs():
    # the paper's variants must be registered; a new variant adds to the registry freely
    assert {"bipartite", "bipartite_attn", "bipartite_saliency", "none", "random", "kmeans", "dpc_knn"} <= set(
        SUMMARIZERS.names()
    )
    assert SUMMARIZERS.get("bipartite_saliency").needs == {"patch_entropy"}
    for name in SUMMARIZERS.names():
        if name != "bipartite_saliency":
            assert SUMMARIZERS.get(name).needs == frozenset()
    with pytest.raises(ConfigError, match="bipartite.*dpc_knn"):
        SUMMARIZERS.get("tome")


# Six 2-D tokens. A = positions 0, 2, 4; B = positions 1, 3, 5.
HAND = torch.tensor([[2.0, 0.0], [1.0, 0.0], [1.0, 3.0], [0.0, 1.0], [-2.0, 1.0], [-1.0, 0.0]])


def test_bipartite_hand_worked_one_step():
    # Best matches: A0=(2,0)->B0=(1,0) cos 1; A1=(1,3)->B1=(0,1) cos 3/sqrt(10)=.949;
    # A2=(-2,1)->B2=(-1,0) cos 2/sqrt(5)=.894. r=2 merges A0 and A1; A2 stays.
    out = SUMMARIZERS.get("bipartite")(SeedSet(HAND[None], torch.ones(1, 6)), 4, 2)
    expected = torch.tensor([[-2.0, 1.0], [1.5, 0.0], [0.5, 2.0], [-1.0, 0.0]])
    torch.testing.assert_close(out.tokens[0], expected)
    assert out.assignment[0].tolist() == [1, 1, 2, 2, 0, 3]
    assert out.sizes[0].tolist() == [1, 2, 2, 1]

    # Attention weights: A0 (w=1) into B0 (w=3) gives (2*1 + 1*3) / 4.
    scores = torch.tensor([[1.0, 3.0, 1.0, 1.0, 1.0, 1.0]])
    out = SUMMARIZERS.get("bipartite_attn")(SeedSet(HAND[None], scores), 4, 2)
    torch.testing.assert_close(out.tokens[0, 1], torch.tensor([1.25, 0.0]))
    torch.testing.assert_close(out.sizes[0], torch.tensor([1.0, 4.0, 2.0, 1.0]))


def test_bipartite_hand_worked_second_step_resplits_new_order():
    # Step 2 splits [(-2,1), (1.5,0), (0.5,2), (-1,0)]: A = (-2,1), (0.5,2); B = (1.5,0), (-1,0).
    # (-2,1)->(-1,0) cos .894 beats (0.5,2)->(1.5,0) cos .243, so (-2,1) merges (r=1).
    out = SUMMARIZERS.get("bipartite")(SeedSet(HAND[None], torch.ones(1, 6)), 3, 2)
    expected = torch.tensor([[0.5, 2.0], [1.5, 0.0], [-1.5, 0.5]])
    torch.testing.assert_close(out.tokens[0], expected)
    assert out.assignment[0].tolist() == [1, 1, 0, 0, 2, 2]
    assert out.sizes[0].tolist() == [2, 2, 2]


def reference_bipartite(tokens, weights, k, r):
    """Plain-loop re-statement of the merge rule, one video at a time."""
    out = []
    for x, w in zip(tokens.tolist(), weights.tolist()):
        toks = [(torch.tensor(t, dtype=tokens.dtype), wi, [i])
                for i, (t, wi) in enumerate(zip(x, w))]
        for step in merge_schedule(len(toks), k, r):
            a, b = toks[0::2], toks[1::2]
            best = []
            for ai, (ta, _, _) in enumerate(a):
                sims = [float(ta @ tb / (ta.norm() * tb.norm())) for tb, _, _ in b]
                j = max(range(len(b)), key=lambda j: (sims[j], -j))  # first maximum
                best.append((sims[j], ai, j))
            best.sort(key=lambda e: (-e[0], e[1]))  # stable descending
            b = [list(e) for e in b]
            for _, ai, j in best[:step]:
                ta, wa, ia = a[ai]
                tb, wb, ib = b[j]
                b[j] = [(ta * wa + tb * wb) / (wa + wb), wa + wb, ib + ia]
            toks = [a[ai] for _, ai, _ in best[step:]] + [tuple(e) for e in b]
        out.append(toks)
    return out


def test_bipartite_matches_plain_reference_over_several_steps():
    seeds = make_seeds(b=2, m=40, d=5, dtype=torch.float64)
    weights = seeds.scores
    got = bipartite_merge(seeds.tokens, weights, 7, 9)  # schedule [9, 9, 9, 6]
    for bi, ref in enumerate(reference_bipartite(seeds.tokens, weights, 7, 9)):
        torch.testing.assert_close(got.tokens[bi], torch.stack([t for t, _, _ in ref]))
        ref_sizes = torch.tensor([w for _, w, _ in ref], dtype=torch.float64)
        torch.testing.assert_close(got.sizes[bi], ref_sizes)
        for j, (_, _, members) in enumerate(ref):
            assert sorted((got.assignment[bi] == j).nonzero().flatten().tolist()) == sorted(members)


@pytest.mark.parametrize("name", ["bipartite", "bipartite_attn", "bipartite_saliency"])
def test_bipartite_preserves_weighted_mean(name):
    seeds = make_seeds(b=3, m=30, dtype=torch.float64)
    out = SUMMARIZERS.get(name)(seeds, 5, 7)
    w0 = initial_weights(name, seeds)
    torch.testing.assert_close(out.sizes.sum(-1), w0.sum(-1))
    torch.testing.assert_close(
        (out.sizes[..., None] * out.tokens).sum(1), (w0[..., None] * seeds.tokens).sum(1)
    )
    if name == "bipartite":
        assert (out.sizes.sum(-1) == 30).all()


@pytest.mark.parametrize("name", SUMMARIZERS.names())
def test_assignment_consistent_with_outputs(name):
    seeds = make_seeds(b=2, m=24, dtype=torch.float64)
    k = 5
    out = SUMMARIZERS.get(name)(seeds, k, 4)
    k_out = 24 if name == "none" else k
    assert out.tokens.shape == (2, k_out, 8)
    assert out.assignment.shape == (2, 24) and out.assignment.dtype == torch.long
    w0 = initial_weights(name, seeds)
    for b in range(2):
        for j in range(k_out):
            members = out.assignment[b] == j
            if not members.any():
                assert name == "kmeans"  # only k-means may leave a cluster empty
                continue
            w = w0[b, members]
            mean = (w[:, None] * seeds.tokens[b, members]).sum(0) / w.sum()
            torch.testing.assert_close(out.tokens[b, j], mean)


@pytest.mark.parametrize("name", MERGING)
def test_few_seeds_are_returned_unchanged(name):
    seeds = make_seeds(b=2, m=5)
    out = SUMMARIZERS.get(name)(seeds, 5, 2)
    assert torch.equal(out.tokens, seeds.tokens)
    assert out.assignment.tolist() == [list(range(5))] * 2


def planted_clusters(b=2, per=8, d=4):
    centres = torch.tensor([[10.0, 0, 0, 0], [0, 10.0, 0, 0], [0, 0, -10.0, 3.0]])
    labels = torch.arange(3).repeat_interleave(per)
    perm = torch.randperm(3 * per)
    labels = labels[perm]
    tokens = centres[labels] + 0.3 * torch.randn(b, 3 * per, d)
    return SeedSet(tokens, torch.ones(b, 3 * per)), labels


@pytest.mark.parametrize("name", ["kmeans", "dpc_knn", "dpc_knn_exclude_self"])
def test_clustering_recovers_planted_clusters(name):
    for seed in range(3):
        torch.manual_seed(seed)
        seeds, labels = planted_clusters()
        out = SUMMARIZERS.get(name)(seeds, 3, 100)
        same_label = labels[:, None] == labels[None, :]
        for b in range(2):
            a = out.assignment[b]
            assert torch.equal(a[:, None] == a[None, :], same_label)


@pytest.mark.parametrize("name", ["random", "kmeans"])
def test_random_strategies_reproducible(name):
    seeds = make_seeds(b=2, m=30)
    fn = SUMMARIZERS.get(name)
    torch.manual_seed(5)
    a = fn(seeds, 6, 4)
    torch.manual_seed(5)
    b = fn(seeds, 6, 4)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.assignment, b.assignment)


def test_random_merge_groups_are_near_equal():
    seeds = make_seeds(b=3, m=23)
    out = SUMMARIZERS.get("random")(seeds, 5, 1)
    for row in out.assignment:
        assert sorted(torch.bincount(row, minlength=5).tolist()) == [4, 4, 5, 5, 5]
    torch.manual_seed(1)
    other = SUMMARIZERS.get("random")(seeds, 5, 1)
    assert not torch.equal(out.assignment, other.assignment)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SUMMARIZERS.names())
def test_every_summarizer_forward_backward(name, dtype, device):
    seeds = make_seeds(b=2, m=20, d=6, dtype=dtype, device=device, grad=True)
    if "patch_entropy" not in SUMMARIZERS.get(name).needs:
        seeds.saliency = None  # the strategy must not need it
    out = SUMMARIZERS.get(name)(seeds, 4, 3)
    assert out.tokens.dtype == dtype and out.tokens.device.type == device
    assert torch.isfinite(out.tokens).all()
    (out.tokens * torch.randn_like(out.tokens)).sum().backward()
    assert seeds.tokens.grad is not None and (seeds.tokens.grad.abs().sum(-1) > 0).all()
    if name == "bipartite_attn":
        assert seeds.scores.grad.abs().sum() > 0
    if name == "bipartite_saliency":
        assert seeds.saliency.grad.abs().sum() > 0


# Six 1-D tokens (D = 1: distances are |xi - xj|); DPC_NEIGHBOURS = 5.
DPC_HAND = torch.tensor([0.0, 3.0, 4.0, 6.0, 7.0, 11.0], dtype=torch.float64)


def test_dpc_knn_density_hand_computed_both_rules():
    """Squared distances to the others, by row: 0: 9 16 36 49 121 | 3: 9 1 9 16 64 |
    4: 16 1 4 9 49 | 6: 36 9 4 1 25 | 7: 49 16 9 1 16 | 11: 121 64 49 25 16.
    Reference rule (TCFormer): the 5 smallest entries of the row, its own 0 included, so
    the farthest other drops out: (0 + the 4 nearest others) / 5. Exclude-self: the 5
    nearest others, here all of them, / 5."""
    dist = (DPC_HAND[:, None] - DPC_HAND[None, :]).abs()[None]
    reference = [110 / 5, 35 / 5, 30 / 5, 39 / 5, 42 / 5, 154 / 5]
    exclude_self = [231 / 5, 99 / 5, 79 / 5, 75 / 5, 91 / 5, 275 / 5]
    torch.testing.assert_close(knn_log_density(dist, 5, include_self=True)[0], -torch.tensor(reference, dtype=torch.float64))
    torch.testing.assert_close(knn_log_density(dist, 5, include_self=False)[0], -torch.tensor(exclude_self, dtype=torch.float64))


def test_dpc_knn_centres_hand_computed_both_rules():
    """k = 2. Reference rule: densest is 4 (log rho -6, delta = the largest distance 11:
    score -6 + ln 11 = -3.60); next 3 (-7 + ln 1 = -7) just ahead of 6 (-7.8 + ln 2 = -7.11).
    Centres 4, 3: clusters {4, 6, 7, 11} and {0, 3}.
    Exclude-self: densest is 6 (-15 + ln 11 = -12.60), next 4 (-15.8 + ln 2 = -15.11), then
    7 (-18.2). Centres 6, 4: clusters {6, 7, 11} and {0, 3, 4}."""
    seeds = SeedSet(DPC_HAND[None, :, None], torch.ones(1, 6, dtype=torch.float64))
    reference = SUMMARIZERS.get("dpc_knn")(seeds, 2, 100)
    assert reference.assignment.tolist() == [[1, 1, 0, 0, 0, 0]]
    torch.testing.assert_close(reference.tokens[0, :, 0], torch.tensor([7.0, 1.5], dtype=torch.float64))
    exclude_self = SUMMARIZERS.get("dpc_knn_exclude_self")(seeds, 2, 100)
    assert exclude_self.assignment.tolist() == [[1, 1, 1, 0, 0, 0]]
    torch.testing.assert_close(exclude_self.tokens[0, :, 0], torch.tensor([8.0, 7 / 3], dtype=torch.float64))
