"""Statistics of differences (tcclip.report.stats, differences, claims) on synthetic metrics
and per-video hits, against scipy and hand-computed values; no training."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from tcclip.errors import TcclipError
from tcclip.report import stats
from tcclip.report.aggregate import per_seed
from tcclip.report.claims import Claim, claims_frame, load_claims, render_claims, verdict
from tcclip.report.differences import compare, paper_delta, table_evidence
from tcclip.report.render import plot_differences, render_markdown
from tcclip.suite.tables import load_table


def synthetic(skill: dict[str, float], columns=("hmdb51", "ucf101", "k600_top1"), seeds=(1, 2, 3), videos=200,
              seed_noise=0.01, rng_seed=0):
    """Records and per-video hits of a zero-shot-like table: each row hits a video with its skill
    (+ a per-seed shift), on the same videos for every row and seed."""
    rng = np.random.default_rng(rng_seed)
    records, hits = [], []
    difficulty = {c: rng.random((3, videos)) for c in columns}  # shared by every row: pairing matters
    for row, p in skill.items():
        for seed in seeds:
            shift = seed_noise * rng.normal()
            for column in columns:
                for s, split in enumerate(("s1", "s2", "s3")):
                    hit = (difficulty[column][s] < p + shift).astype(int)
                    hits.append(pd.DataFrame({"row": row, "seed": seed, "column": column, "split": split,
                                              "video": [f"{column}/{split}/{i}" for i in range(videos)], "hit": hit}))
                    records.append((row, seed, column, split, 100.0 * hit.mean()))
    return pd.DataFrame(records, columns=["row", "seed", "column", "split", "value"]), pd.concat(hits, ignore_index=True)


def test_seed_interval_is_scipys_paired_t_interval():
    diffs = [1.0, 2.5, 0.5]
    interval = stats.seed_interval(pd.Series(diffs), seeds=(1, 2, 3))
    low, high = scipy_stats.ttest_1samp(diffs, 0).confidence_interval(0.95)
    assert (interval.low, interval.high) == pytest.approx((low, high))
    assert interval.sd == pytest.approx(np.std(diffs, ddof=1)) and interval.resolved == (low > 0)
    assert not stats.seed_interval(pd.Series([1.0, -1.0, 0.5])).resolved


def test_video_bootstrap_is_a_paired_resampling_of_videos():
    rng = np.random.default_rng(1)
    per_video = rng.choice([-1.0, 0.0, 1.0], size=300, p=[0.2, 0.5, 0.3])
    drawn = stats._stratum_replicates(per_video, np.random.default_rng(2), 20000)
    naive = per_video[rng.integers(0, 300, size=(20000, 300))].mean(axis=1)  # videos drawn with replacement
    assert drawn.mean() == pytest.approx(naive.mean(), abs=0.003)
    assert drawn.std() == pytest.approx(naive.std(), rel=0.03)
    # the same hits for both rows: paired, the difference has no spread at all
    records, hits = synthetic({"A": 0.5, "B": 0.5}, seed_noise=0.0)
    assert set(np.unique(stats.video_replicates(hits, "A", "B")["hmdb51"])) == {0.0}


def test_video_interval_covers_the_test_set_noise_only():
    spec = load_table("zero_shot")
    records, hits = synthetic({"ViFi-CLIP": 0.50, "TC-CLIP": 0.53}, seed_noise=0.0)
    c = compare(spec, per_seed(records, spec.derived()), hits, "TC-CLIP", "ViFi-CLIP")
    # identical seeds: the seed interval has no width; the videos' interval holds the 3-point gap
    assert c["all"].seed.half_width == pytest.approx(0.0, abs=1e-9) and c["all"].seed.resolved
    low, high = c["all"].video
    assert low < c["all"].seed.delta < high and low > 0  # 1,800 paired videos per seed, every loss a gain elsewhere
    assert c["hmdb51"].video[1] - c["hmdb51"].video[0] > high - low  # one dataset: fewer videos, wider


def test_power_smallest_detectable_and_seeds_needed():
    assert stats.smallest_detectable(1.5, 3) == pytest.approx(scipy_stats.t.ppf(0.975, 2) * 1.5 / math.sqrt(3))
    assert stats.seeds_needed(1.0, 1.0) == 10  # effect size 1, 80% power: the textbook 10 (power 0.803)
    assert stats.power(1.0, 1.0, 9) < 0.8 <= stats.power(1.0, 1.0, 10)
    assert stats.seeds_needed(-2.0, 1.0) == stats.seeds_needed(2.0, 1.0) < 10
    assert stats.seeds_needed(0.0, 1.0) is None and stats.seeds_needed(1.0, 0.0) == 2
    assert stats.pooled_sd([1.0, 2.0], [3, 3]) == (pytest.approx(math.sqrt(2.5)), 4)


def test_binomial_standard_error_from_clip_counts():
    hits = pd.DataFrame({"row": "A", "seed": 1, "column": "x", "split": ["s1"] * 100 + ["s2"] * 100,
                         "video": [f"v{i}" for i in range(200)], "hit": [1, 0] * 100})
    se = stats.binomial_se(hits, {"all": ["x"]})
    assert se["x"] == (pytest.approx(100 * math.sqrt(0.25 / 100) / math.sqrt(2)), 200)  # two splits averaged
    assert se["all"] == se["x"]


def test_pooled_mean_difference_and_probability_of_improvement():
    diffs = pd.DataFrame({"column": ["a"] * 3 + ["b"] * 3, "seed": [1, 2, 3] * 2, "difference": [1.0, 2, 3, 2, 2, 2]})
    mine = pd.DataFrame({"column": ["a"] * 3 + ["b"] * 3, "value": [51.0, 52, 53, 62, 62, 62]})
    theirs = pd.DataFrame({"column": ["a"] * 3 + ["b"] * 3, "value": [50.0, 50, 50, 60, 60, 60]})
    pooled = stats.pooled(diffs, mine, theirs)
    assert pooled["mean"] == pytest.approx(2.0) and pooled["p_improve"] == 1.0
    assert 1.0 < pooled["mean_interval"][0] <= 2.0 <= pooled["mean_interval"][1] < 3.0
    # rliable's P(X > Y): ties count half, every pair of seeds compared
    assert stats._prob_greater(np.array([1.0, 2.0]), np.array([1.0, 3.0])) == pytest.approx((0.5 + 0 + 1 + 0) / 4)


def test_table_names_both_intervals_and_resolves_only_on_seeds():
    spec = load_table("zero_shot")
    skill = {"Vanilla CLIP": 0.40, "ViFi-CLIP": 0.50, "TC-CLIP": 0.52, "ViFi-CLIP + WiSE-FT": 0.50,
             "TC-CLIP + WiSE-FT": 0.56}
    records, hits = synthetic(skill, seed_noise=0.03)
    text = render_markdown(spec, records, "embedded", hits, ["row 'TC-CLIP' has seeds 1, 2"])
    assert "95% t-interval over training seeds" in text and "95% paired bootstrap over test videos" in text
    assert "sample std (ddof 1) over training seeds" in text
    assert "population std (ddof 0) over the evaluation splits of one model" in text
    assert "Smallest detectable difference (All): t₀.₉₇₅,2" in text and "Seeds needed" in text
    assert "Binomial standard error" in text and "(1,800 clips)" in text
    assert "P(row > baseline)" in text and "- row 'TC-CLIP' has seeds 1, 2" in text
    evidence = table_evidence(spec, records, hits)
    comparisons = [c for by_column in evidence.comparisons.values() for c in by_column.values()]
    assert {c.seed.resolved for c in comparisons} == {True, False}  # both kinds are in this table
    for c in comparisons:
        marked = f"{c.seed.delta:+.1f} [{c.seed.low:+.1f}, {c.seed.high:+.1f}] ✓"
        assert (marked in text) == c.seed.resolved
    frame = evidence.frame()
    assert set(frame.columns) >= {"seed_t95_low", "video_bootstrap95_low", "resolved", "paper_delta"}
    assert (frame["resolved"] == ((frame["seed_t95_low"] > 0) | (frame["seed_t95_high"] < 0))).all()


def test_difference_figure(tmp_path):
    spec = load_table("temporal_modeling")
    skill = {r.name: 0.5 + 0.01 * i for i, r in enumerate(spec.rows)}
    records, hits = synthetic(skill)
    plot_differences(spec, records, hits, tmp_path / "d.png")
    assert (tmp_path / "d.png").stat().st_size > 20_000


def test_paper_deltas_from_absolute_and_delta_tables():
    zero_shot, temporal = load_table("zero_shot"), load_table("temporal_modeling")
    assert paper_delta(zero_shot, "ViFi-CLIP", "Vanilla CLIP", "all") == pytest.approx(67.3 - 54.6)
    # a table of gains: the derived column is the mean of the gains, the baseline's gain is 0
    tc = "Temporal contextualization"
    assert paper_delta(temporal, tc, "Frame-wise (no temporal keys)", "all") == pytest.approx((0.9 + 0.5 + 2.3) / 3)
    assert paper_delta(temporal, tc, "Cross-frame attention", "hmdb51") == pytest.approx(0.8)


def test_verdicts():
    def comparison(diffs):
        return type("C", (), {"seed": stats.seed_interval(pd.Series(diffs))})()

    assert verdict(1.5, comparison([1.0, 1.2, 1.1])) == "reproduced"
    assert verdict(1.5, comparison([-1.0, -1.2, -1.1])) == "contradicted"
    assert verdict(1.5, comparison([-3.0, 3.0, 1.0])) == "underpowered"  # half-width 7.5 > 1.5
    assert verdict(5.0, comparison([-0.2, 0.3, 0.0])) == "no effect"  # half-width 0.6 < 5
    assert verdict(5.0, comparison([1.0])) == "underpowered"  # one seed: no interval


def test_claims_table_lists_unbuilt_tables_as_not_run():
    claims = load_claims()
    assert {c.table for c in claims} >= {"zero_shot", "components", "prompting", "summarization", "temporal_modeling"}
    spec = load_table("zero_shot")
    skill = {"Vanilla CLIP": 0.40, "ViFi-CLIP": 0.60, "TC-CLIP": 0.60, "ViFi-CLIP + WiSE-FT": 0.61,
             "TC-CLIP + WiSE-FT": 0.60}
    records, hits = synthetic(skill, seed_noise=0.005)
    frame = claims_frame(claims, {"zero_shot": (spec, records, hits)})
    first = frame.set_index("claim").loc["Fine-tuning helps zero-shot transfer"]
    assert first.verdict == "reproduced" and first.paper_delta == pytest.approx(12.7)
    assert first.video_bootstrap95_low > 0 and first.n_seeds == 3
    assert (frame[frame["table"] != "zero_shot"]["verdict"] == "not run").all()
    assert len(frame) == len(claims)  # not run is listed, not dropped
    text = render_claims(frame)
    assert "**reproduced**" in text and "**not run**" in text


def test_claim_on_an_average_of_unrun_columns_uses_the_parts_that_ran():
    spec = load_table("summarization")  # All = mean of HMDB, UCF and SSv2; SSv2 not run here
    records, hits = synthetic({r.name: 0.5 for r in spec.rows}, columns=("hmdb51", "ucf101"))
    claim = next(c for c in load_claims() if c.claim == "No merge falls behind bipartite matching")
    (line,) = claims_frame([claim], {"summarization": (spec, records, hits)}).itertuples()
    assert line.column == "mean of HMDB-51, UCF-101" and "without SSv2" in line.note
    assert line.paper_delta == pytest.approx((57.2 + 85.6) / 2 - (63.4 + 90.2) / 2)


def test_a_claim_naming_an_unknown_row_is_one_line():
    from tcclip.errors import ConfigError

    with pytest.raises(ConfigError, match="row 'Nope' is not a row of table zero_shot"):
        Claim("x", "zero_shot", "Nope", "ViFi-CLIP").validate()


def _run_with_predictions(runs_dir, run_id, hits_by_key, with_predictions=True):
    """A run folder with a metrics.json and (optionally) its per-video predictions file."""
    from tcclip.engine.predictions import write_predictions

    run = runs_dir / run_id
    run.mkdir(parents=True)
    results, frames = [], []
    for key, hit in hits_by_key.items():
        dataset, split = key.split("/")
        labels = np.arange(len(hit)) % 3
        predicted = np.where(np.asarray(hit) == 1, labels, (labels + 1) % 3)
        frame = pd.DataFrame({"dataset": dataset, "split": split, "key": key, "list": "l.txt",
                              "line": np.arange(1, len(hit) + 1), "path": [f"{key}/{i}.mp4" for i in range(len(hit))],
                              "label": labels, "top1_id": predicted})
        for rank in range(2, 6):
            frame[f"top{rank}_id"] = -1
        for rank in range(1, 6):
            frame[f"top{rank}_p"] = 0.1
        frames.append(frame)
        results.append({"key": key, "dataset": dataset, "split": split, "top1": 100.0 * np.mean(hit), "top5": 100.0})
    (run / "metrics.json").write_text(json.dumps({"results": results}))
    if with_predictions:
        write_predictions(frames, run / "predictions.csv.gz")
    return run


def test_per_video_hits_follow_the_runs_and_a_missing_file_is_one_line(tmp_path):
    from tcclip.suite.plan import PlannedRun
    from tcclip.report.collect import collect, collect_videos

    spec = load_table("zero_shot")
    runs = []
    for seed, name in ((1, "aaaaaaaaaaa1"), (2, "aaaaaaaaaaa2")):
        _run_with_predictions(tmp_path, name, {"hmdb51/val1": [1, 0, 1, 1], "hmdb51/val2": [0, 0, 1, 1]},
                              with_predictions=seed == 1)
        runs.append(PlannedRun("zero_shot", "TC-CLIP", seed, (), (), name, None))
    records, _ = collect(spec, runs, tmp_path, allow_partial=False)
    with pytest.raises(TcclipError, match=r"1 per-video predictions files missing, e\.g\. .*aaaaaaaaaaa2/predictions"
                                          r"\.csv\.gz \(row 'TC-CLIP', seed 2\)"):
        collect_videos(spec, runs, tmp_path, allow_partial=False)
    videos, missing = collect_videos(spec, runs, tmp_path, allow_partial=True)
    assert len(missing) == 1 and set(videos["seed"]) == {1}
    by_split = videos.groupby("split")["hit"].mean().mul(100).to_dict()
    from_metrics = records[records.seed == 1].set_index("split")["value"].to_dict()
    assert by_split == from_metrics == {"val1": 75.0, "val2": 50.0}


def test_check_flags_a_table_older_than_its_neighbours(tmp_path):
    from tcclip.report.build import PROVENANCE_PREFIX, stale_tables

    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout.strip()
    parent = subprocess.run(["git", "rev-parse", "--short=12", "HEAD~1"], capture_output=True, text=True).stdout.strip()
    (tmp_path / "new.md").write_text(f"# t\n\n{PROVENANCE_PREFIX}{head}, data catalog c sha256 x.\n")
    (tmp_path / "old.md").write_text(f"# t\n\n{PROVENANCE_PREFIX}{parent}-dirty, data catalog c sha256 x.\n")
    (problem,) = stale_tables(tmp_path)
    assert problem.startswith(f"{tmp_path / 'old.md'}: made by code version {parent}, older than {head}")
