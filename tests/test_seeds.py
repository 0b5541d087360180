import pytest
import torch

from tcclip.errors import ConfigError
from tcclip.model.seeds import (
    SEED_SELECTORS,
    AttentionStats,
    num_seeds,
    patch_saliency_scores,
)

DTYPES = [torch.float32, torch.float64]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def make_stats(f=3, h=4, n=12, dtype=torch.float32, device="cpu", grad=False):
    cls_attn = torch.randn(f, h, n + 1, dtype=dtype, device=device).softmax(-1)[..., 1:]
    stats = AttentionStats(
        cls_attn=cls_attn,
        value_norm=torch.rand(f, n, dtype=dtype, device=device) + 0.5,
        patch_entropy=torch.rand(f, h, n, dtype=dtype, device=device) * 2,
    )
    if grad:
        for t in (stats.cls_attn, stats.value_norm, stats.patch_entropy):
            t.requires_grad_(True)
    return stats


def test_num_seeds():
    assert num_seeds(196, 0.3) == 58
    assert num_seeds(196, 1.0) == 196
    with pytest.raises(ConfigError):
        num_seeds(196, 0.0)
    with pytest.raises(ConfigError):
        num_seeds(3, 0.2)


def test_registry_names_and_needs():
    # the paper's variants must be registered; a new variant adds to the registry freely
    assert {"cls_avg", "cls_headwise", "patch_saliency", "ats", "random"} <= set(SEED_SELECTORS.names())
    assert SEED_SELECTORS.get("cls_avg").needs == frozenset()
    assert SEED_SELECTORS.get("ats").needs == {"value_norm"}
    assert SEED_SELECTORS.get("patch_saliency").needs == {"patch_entropy"}
    with pytest.raises(ConfigError, match="cls_avg.*cls_headwise"):
        SEED_SELECTORS.get("nope")


def test_cls_avg_picks_planted_in_descending_order():
    stats = make_stats(f=2, h=3, n=10)
    stats.cls_attn = stats.cls_attn * 0.01
    # Plant patches 7 > 2 > 5 in frame 0 and 0 > 9 > 4 in frame 1 (through one head only:
    # it is the mean over heads that counts).
    for f, picks in enumerate([(7, 2, 5), (0, 9, 4)]):
        for rank, p in enumerate(picks):
            stats.cls_attn[f, rank % 3, p] = 0.9 - 0.2 * rank
    idx, scores = SEED_SELECTORS.get("cls_avg")(stats, 3)
    assert idx.tolist() == [[7, 2, 5], [0, 9, 4]]
    torch.testing.assert_close(scores, stats.cls_attn.mean(1).gather(1, idx))
    assert (scores[:, :-1] >= scores[:, 1:]).all()


def test_cls_headwise_picks_each_heads_favourite():
    h, n = 4, 16
    attn = torch.full((1, h, n), 0.01)
    attn[0, :, 12:16] = 0.2  # liked moderately by every head: the top of the average
    for head, p in enumerate([1, 3, 5, 7]):
        attn[0, head, p] = 0.5  # each head's own favourite
    stats = AttentionStats(attn)
    avg_idx, _ = SEED_SELECTORS.get("cls_avg")(stats, 4)
    assert set(avg_idx[0].tolist()) == {12, 13, 14, 15}
    idx, scores = SEED_SELECTORS.get("cls_headwise")(stats, 4)
    assert set(idx[0].tolist()) == {1, 3, 5, 7}
    # Union larger than n: keep the union members with the best averaged score.
    attn[0, 2, 5] = 0.6
    attn[0, 0, 1] = 0.55
    idx, _ = SEED_SELECTORS.get("cls_headwise")(AttentionStats(attn), 2)
    assert idx[0].tolist() == [5, 1]


def test_cls_headwise_fills_union_by_average():
    n = 10
    attn = torch.full((1, 4, n), 0.01)
    attn[0, :, 6] = 0.5  # every head's favourite: union = {6}
    attn[0, 0, 2] = 0.3  # then the best averaged scores: 2 (0.3/4 + ...) > 8
    attn[0, 1, 8] = 0.2
    idx, scores = SEED_SELECTORS.get("cls_headwise")(AttentionStats(attn), 4)
    assert idx[0, :3].tolist() == [6, 2, 8]
    assert len(set(idx[0].tolist())) == 4
    torch.testing.assert_close(scores, attn.mean(1).gather(1, idx))


def test_patch_saliency_picks_low_entropy_patches():
    stats = make_stats(f=2, h=3, n=10)
    stats.patch_entropy = torch.full((2, 3, 10), 2.0) + 0.1 * torch.rand(2, 3, 10)
    stats.patch_entropy[0, :, 4] = 0.1
    stats.patch_entropy[0, :, 8] = 0.5
    stats.patch_entropy[1, :, 0] = 0.3
    stats.patch_entropy[1, :, 6] = 0.2
    idx, scores = SEED_SELECTORS.get("patch_saliency")(stats, 2)
    assert idx.tolist() == [[4, 8], [6, 0]]
    sal = patch_saliency_scores(stats.patch_entropy)
    torch.testing.assert_close(sal.amax(-1), torch.ones(2))
    torch.testing.assert_close(sal.amin(-1), torch.zeros(2))
    torch.testing.assert_close(scores[:, 0], torch.ones(2))


def test_ats_prefers_high_value_norm_at_equal_attention():
    attn = torch.full((1, 2, 8), 0.1)
    attn[0, :, 0] = 0.2  # more attention but a small value norm
    value_norm = torch.tensor([[0.1, 1.0, 3.0, 1.0, 2.0, 1.0, 1.0, 1.0]])
    idx, scores = SEED_SELECTORS.get("ats")(AttentionStats(attn, value_norm=value_norm), 2)
    assert idx.tolist() == [[2, 4]]
    s = attn.mean(1) * value_norm
    torch.testing.assert_close(scores, (s / s.sum(-1, keepdim=True))[:, [2, 4]])


def test_random_reproducible_and_valid():
    stats = make_stats(f=4, n=20)
    fn = SEED_SELECTORS.get("random")
    torch.manual_seed(3)
    a, sa = fn(stats, 6)
    torch.manual_seed(3)
    b, sb = fn(stats, 6)
    assert torch.equal(a, b) and torch.equal(sa, sb)
    c, _ = fn(stats, 6)
    assert not torch.equal(a, c)
    assert all(len(set(row.tolist())) == 6 for row in a)  # no repeats within a frame
    torch.testing.assert_close(sa, stats.cls_attn.mean(1).gather(1, a))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SEED_SELECTORS.names())
def test_every_selector_forward_backward(name, dtype, device):
    stats = make_stats(dtype=dtype, device=device, grad=True)
    fn = SEED_SELECTORS.get(name)
    keep = {"value_norm", "patch_entropy"} & fn.needs
    for missing in {"value_norm", "patch_entropy"} - keep:  # the strategy must not need them
        setattr(stats, missing, None)
    idx, scores = fn(stats, 5)
    assert idx.shape == (3, 5) and idx.dtype == torch.long
    assert scores.shape == (3, 5) and scores.dtype == dtype
    assert ((idx >= 0) & (idx < 12)).all()
    if name != "random":  # only the random control returns picks unsorted
        assert (scores[:, :-1] >= scores[:, 1:]).all()
    scores.sum().backward()
    source = stats.patch_entropy if name == "patch_saliency" else stats.cls_attn
    assert source.grad is not None and source.grad.abs().sum() > 0
    if name == "ats":
        assert stats.value_norm.grad.abs().sum() > 0
