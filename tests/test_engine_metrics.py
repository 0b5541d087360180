"""Views, top-k, HM, WiSE-FT and mixup against hand-computed values (the optimiser and schedule:
test_engine_optim.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tcclip.errors import ConfigError
from tcclip.engine.metrics import aggregate_views, harmonic_mean, mean_std, topk_accuracy
from tcclip.engine.mixup import MixConfig, mix_batch, mix_partners, smooth_one_hot, soft_cross_entropy
from tcclip.engine.wiseft import ensemble_weights

from data_fixtures import synth_tiny  # noqa: F401


# ------------------------------------------------------------------ multi-view aggregation
def test_views_sum_softmax_not_logits():
    # Video 0: view A is very sure of class 0, views B and C mildly prefer class 1.
    # Summed logits pick class 0 (10 + 0 + 0 > 0 + 2 + 2); summed softmax picks class 1.
    logits = torch.tensor([[[10.0, 0.0], [0.0, 2.0], [0.0, 2.0]]])
    scores = aggregate_views(logits)
    e2 = math.exp(2)
    p_sure = 1 / (1 + math.exp(-10))
    expected = [p_sure + 2 / (1 + e2), (1 - p_sure) + 2 * e2 / (1 + e2)]
    assert scores[0].tolist() == pytest.approx(expected, rel=1e-6)
    assert scores.argmax(-1).item() == 1
    assert logits.sum(1).argmax(-1).item() == 0


def test_views_single_view_is_softmax():
    logits = torch.tensor([[[1.0, 2.0, 3.0]]])
    assert aggregate_views(logits)[0].tolist() == pytest.approx(torch.softmax(logits[0, 0], -1).tolist())


def test_views_shape_checked():
    with pytest.raises(ValueError):
        aggregate_views(torch.zeros(2, 3))


# ------------------------------------------------------------------ top-k
def test_top1_top5_hand_computed():
    # 6 classes, 4 videos. Ranks of the true class: 1st, 2nd, 5th, 6th.
    scores = torch.tensor([
        [0.9, 0.1, 0.0, 0.0, 0.0, 0.0],   # label 0: rank 1
        [0.5, 0.4, 0.3, 0.2, 0.1, 0.0],   # label 1: rank 2
        [0.6, 0.5, 0.4, 0.3, 0.2, 0.1],   # label 4: rank 5
        [0.6, 0.5, 0.4, 0.3, 0.2, 0.1],   # label 5: rank 6
    ])
    labels = torch.tensor([0, 1, 4, 5])
    acc = topk_accuracy(scores, labels, ks=(1, 5))
    assert acc[1] == pytest.approx(25.0)
    assert acc[5] == pytest.approx(75.0)


def test_topk_with_fewer_classes_than_k():
    scores = torch.tensor([[0.1, 0.9, 0.0], [0.2, 0.3, 0.5]])
    acc = topk_accuracy(scores, torch.tensor([0, 2]), ks=(1, 5))
    assert acc == {1: 50.0, 5: 100.0}


# ------------------------------------------------------------------ HM and mean ± std
def test_harmonic_mean_hand_computed():
    assert harmonic_mean(80.0, 40.0) == pytest.approx(2 * 80 * 40 / 120)  # 53.33
    assert harmonic_mean(50.0, 50.0) == 50.0
    assert harmonic_mean(0.0, 0.0) == 0.0
    assert harmonic_mean(100.0, 0.0) == 0.0


def test_mean_std_is_population_std():
    mean, std = mean_std([1.0, 2.0, 3.0])
    assert mean == 2.0 and std == pytest.approx(math.sqrt(2 / 3))


# ------------------------------------------------------------------ WiSE-FT
def test_wiseft_hand_computed():
    finetuned = {
        "clip.visual.proj": torch.tensor([1.0, 2.0]),
        "clip.logit_scale": torch.tensor(3.0),
        "vision.attn_bias": torch.tensor([5.0]),     # no CLIP counterpart: kept
        "text.ctx": torch.tensor([7.0, 7.0]),        # prompt vectors: kept
        "text.vp.attn.in_proj_weight": torch.tensor([9.0]),  # VP copy of a CLIP block: kept
    }
    clip = {"visual.proj": torch.tensor([11.0, 12.0]), "logit_scale": torch.tensor(13.0)}
    merged, names = ensemble_weights(finetuned, clip, 0.7)
    # 0.3 * CLIP + 0.7 * fine-tuned
    assert merged["clip.visual.proj"].tolist() == pytest.approx([0.3 * 11 + 0.7 * 1, 0.3 * 12 + 0.7 * 2])
    assert merged["clip.logit_scale"].item() == pytest.approx(0.3 * 13 + 0.7 * 3)
    assert merged["vision.attn_bias"].tolist() == [5.0]
    assert merged["text.ctx"].tolist() == [7.0, 7.0]
    assert merged["text.vp.attn.in_proj_weight"].tolist() == [9.0]
    assert sorted(names) == ["clip.logit_scale", "clip.visual.proj"]


def test_wiseft_endpoints_and_errors():
    ft = {"clip.w": torch.tensor([1.0])}
    clip = {"w": torch.tensor([3.0])}
    assert ensemble_weights(ft, clip, 1.0)[0]["clip.w"].item() == 1.0
    assert ensemble_weights(ft, clip, 0.0)[0]["clip.w"].item() == 3.0
    with pytest.raises(ConfigError):
        ensemble_weights(ft, clip, 1.5)
    with pytest.raises(ConfigError):
        ensemble_weights(ft, {"w": torch.zeros(2)}, 0.7)


# ------------------------------------------------------------------ mixup / cutmix / smoothing
def test_label_smoothing_targets():
    t = smooth_one_hot(torch.tensor([1]), 4, 0.1)
    assert t[0].tolist() == pytest.approx([0.025, 0.925, 0.025, 0.025])


def test_mixup_targets_match_pixels():
    video = torch.stack([torch.zeros(2, 3, 8, 8), torch.ones(2, 3, 8, 8)])
    cfg = MixConfig(mixup_alpha=0.8, cutmix_alpha=0.0, label_smoothing=0.0, partner="reversed")
    mixed, target = mix_batch(video, torch.tensor([0, 1]), 2, cfg, np.random.default_rng(0))
    lam = 1.0 - mixed[0].mean().item()  # video 0 = lam * 0 + (1 - lam) * 1
    assert target[0].tolist() == pytest.approx([lam, 1 - lam], abs=1e-6)
    assert target.sum(-1).tolist() == pytest.approx([1.0, 1.0])


def test_cutmix_box_shared_by_frames_and_area_lambda():
    video = torch.stack([torch.zeros(3, 3, 16, 16), torch.ones(3, 3, 16, 16)])
    cfg = MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0, label_smoothing=0.0, partner="reversed")
    mixed, target = mix_batch(video, torch.tensor([0, 1]), 2, cfg, np.random.default_rng(3))
    pasted = mixed[0, :, 0]  # (T, H, W) of one channel
    assert torch.equal(pasted[0], pasted[1]) and torch.equal(pasted[1], pasted[2])
    area = pasted[0].mean().item()
    assert target[0].tolist() == pytest.approx([1 - area, area], abs=1e-6)


def test_mix_partners_are_a_seeded_permutation_that_can_pick_itself():
    """Official: torch.randperm of the batch (here from the run's generator); ours before: reversed."""
    assert mix_partners(5, "reversed", np.random.default_rng(0)).tolist() == [4, 3, 2, 1, 0]
    draws = [mix_partners(4, "permutation", np.random.default_rng(seed)).tolist() for seed in range(50)]
    assert all(sorted(d) == [0, 1, 2, 3] for d in draws)
    assert any(d[i] == i for d in draws for i in range(4))  # a video can stay unmixed
    assert len({tuple(d) for d in draws}) > 10
    assert draws[7] == mix_partners(4, "permutation", np.random.default_rng(7)).tolist()


def test_mixup_with_permuted_partners_mixes_targets_the_same_way():
    video = torch.arange(6.0).view(6, 1, 1, 1, 1).expand(6, 2, 3, 4, 4).contiguous()
    labels = torch.arange(6)
    cfg = MixConfig(mixup_alpha=0.8, cutmix_alpha=0.0, label_smoothing=0.0)
    assert cfg.partner == "permutation"
    mixed, target = mix_batch(video, labels, 6, cfg, np.random.default_rng(1))
    rng = np.random.default_rng(1)
    lam = float(rng.beta(0.8, 0.8))
    partner = rng.permutation(6)
    for i in range(6):
        assert mixed[i].mean().item() == pytest.approx(lam * i + (1 - lam) * partner[i], abs=1e-5)
        expected = np.zeros(6)
        expected[i] += lam
        expected[partner[i]] += 1 - lam
        assert target[i].tolist() == pytest.approx(expected.tolist(), abs=1e-6)


def test_soft_cross_entropy_equals_hard_for_one_hot():
    logits = torch.tensor([[1.0, 2.0, 0.5]])
    hard = torch.nn.functional.cross_entropy(logits, torch.tensor([1]))
    assert soft_cross_entropy(logits, smooth_one_hot(torch.tensor([1]), 3, 0.0)).item() == pytest.approx(hard.item())


# ------------------------------------------------------------------ the evaluation loop on a stub model
class StubModel(torch.nn.Module):
    """Logits = the first K pixel values of the clip's first frame: easy to hand-compute."""

    def __init__(self):
        super().__init__()
        self.names = []

    def set_class_names(self, names):
        self.names = list(names)

    def forward(self, video):  # (B, T, 3, H, W)
        return video[:, 0, 0, 0, : len(self.names)]


class TwoViewSet(torch.utils.data.Dataset):
    # per video: two views whose logits over 3 classes are given below
    VIEWS = [
        ([4.0, 0.0, 0.0], [0.0, 1.0, 0.0]),   # label 0: view 1 sure of 0
        ([0.0, 3.0, 0.0], [0.0, 3.0, 0.0]),   # label 2: wrong, 2 is ranked 2nd or 3rd
        ([1.0, 0.0, 2.0], [0.0, 0.0, 2.0]),   # label 2: right
    ]
    LABELS = [0, 2, 2]

    def __len__(self):
        return 3

    def __getitem__(self, i):
        video = torch.zeros(2, 1, 3, 1, 3)
        for v, logits in enumerate(self.VIEWS[i]):
            video[v, 0, 0, 0] = torch.tensor(logits)
        return {"video": video, "label": self.LABELS[i], "index": i}


def test_predict_sums_view_softmax_and_scores_topk():
    from tcclip.engine.evaluate import predict, score
    from tcclip.engine.runtime import Dist

    out = predict(StubModel(), TwoViewSet(), ["a", "b", "c"], batch_size=2, rt=Dist())
    expected = torch.stack([torch.tensor(a).softmax(-1) + torch.tensor(b).softmax(-1) for a, b in TwoViewSet.VIEWS])
    assert torch.allclose(out["scores"], expected)
    assert out["views"] == 2 and out["labels"].tolist() == [0, 2, 2]
    result = score(out)
    assert result["top1"] == pytest.approx(200 / 3) and result["top5"] == 100.0 and result["top5_k"] == 3
    assert result["chance_top1"] == pytest.approx(100 / 3)


def test_summary_mean_std_over_splits_and_hm():
    from tcclip.engine.evaluate import summarize_by_dataset

    rows = [{"dataset": "hmdb51", "split": f"val{i}", "top1": v, "top5": 90.0} for i, v in ((1, 40.0), (2, 50.0), (3, 60.0))]
    rows.append({"dataset": "ucf101", "split": "val1", "top1": 70.0, "top5": 95.0})
    summary = summarize_by_dataset(rows, ["hmdb51/val1", "hmdb51/val2", "hmdb51/val3", "ucf101/val1"])
    assert summary["hmdb51"]["top1"] == pytest.approx(50.0)
    assert summary["hmdb51"]["top1_std"] == pytest.approx(math.sqrt(200 / 3))  # population std over the splits
    assert summary["all"]["top1"] == pytest.approx(60.0)  # mean of the dataset means
    b2n = summarize_by_dataset([{"dataset": "ucf101", "split": "b", "top1": 80.0, "top5": 99.0},
                     {"dataset": "ucf101", "split": "n", "top1": 40.0, "top5": 90.0}], ["base", "novel"])
    assert b2n["hm"] == pytest.approx(160 / 3)


# ------------------------------------------------------------------ shared scoring of overlapping eval sets
@pytest.mark.slow
def test_sets_sharing_videos_are_scored_once_with_the_same_results(synth_tiny):  # noqa: F811 (fixture)
    """HMDB-like val1..3 share a folder and classes: one pass over their distinct videos, scored
    by two weight sets, gives exactly the rows of set-by-set, model-by-model evaluation
    (random multi-clip views are keyed by path)."""
    from tcclip.engine.evaluate import evaluate_splits, predict, score
    from tcclip.model.video_clip import VideoCLIP
    from tcclip.engine.run_config import resolve_run_config, resolve_task
    from tcclip.engine.runtime import Dist

    torch.manual_seed(0)
    cfg = resolve_run_config(["embedded"], [
        f"protocol.catalog={synth_tiny / 'catalog.yaml'}", "model.preset=vifi_clip", "model.backbone.weights=null",
        "data.num_frames=2", "data.num_clips=2", "data.view_sampling=official", "eval.batch_size=5"])
    task = resolve_task(cfg)
    specs = {key: spec for key, spec in task.evals.items() if spec.dataset in ("hmdb51", "k600")}
    model = VideoCLIP.build(cfg.model)
    other = VideoCLIP.build(cfg.model)  # a second weight set scored on the same decoded batches
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.05 * torch.randn_like(p))
    (rows, other_rows), totals = evaluate_splits([model, other], specs, cfg, Dist())
    assert list(rows) == list(specs)  # the protocol's order
    from tcclip.data.dataset import VideoDataset

    videos: dict[str, set] = {"hmdb51": set(), "k600": set()}
    for key, spec in specs.items():
        dataset = VideoDataset.from_split(spec, cfg.data.replace(mode="test"))
        videos[spec.dataset] |= {e.path for e in dataset.entries}
        for m, got in ((model, rows), (other, other_rows)):
            alone = score(predict(m, dataset, spec.prompt_names(cfg.class_names), 5, Dist()))
            assert (got[key]["top1"], got[key]["top5"], got[key]["videos"]) == (alone["top1"], alone["top5"], alone["videos"])
    hmdb = [k for k in specs if k.startswith("hmdb51/")]
    assert len(hmdb) == 3 and rows[hmdb[0]]["scored_with"] == hmdb[1:]
    k600 = [k for k in specs if k.startswith("k600/")]  # one folder, a class list each: encoded once too
    assert len(k600) == 3 and rows[k600[1]]["scored_with"] == [k600[0], k600[2]]
    k600_in_sets = sum(rows[k]["videos"] for k in k600)
    assert len(videos["k600"]) < k600_in_sets  # the subsets share videos (labelled per subset)
    assert totals["videos"] == len(videos["hmdb51"]) + len(videos["k600"])
