"""Table cells, deltas and rendering against hand-computed values."""

import math

import pandas as pd
import pytest

from tcclip.errors import ConfigError
from tcclip.report.aggregate import cells, format_cell, paired_deltas, per_seed, t_quantile_975
from tcclip.report.render import plot_table, render_markdown
from tcclip.suite.tables import load_table, table_names


def records(rows):
    return pd.DataFrame(rows, columns=["row", "seed", "column", "split", "value"])


def test_seed_value_is_mean_over_splits_and_cell_is_mean_std_over_seeds():
    data = records([
        ("A", 1, "x", "s1", 50.0), ("A", 1, "x", "s2", 52.0), ("A", 1, "x", "s3", 54.0),
        ("A", 2, "x", "s1", 60.0), ("A", 2, "x", "s2", 60.0), ("A", 2, "x", "s3", 60.0),
    ])
    seeds = per_seed(data)
    a1 = seeds[(seeds.seed == 1)].iloc[0]
    assert a1.value == 52.0 and math.isclose(a1.split_std, math.sqrt(8 / 3)) and a1.n_splits == 3
    cell = cells(seeds).iloc[0]
    assert cell["mean"] == 56.0 and math.isclose(cell["std"], math.sqrt(32)) and cell["n"] == 2
    assert format_cell(cell["mean"], cell["std"], cell["n"], expected=3) == "56.0 ± 5.7 (n=2)"
    assert format_cell(float("nan"), float("nan"), 0, expected=3) == "—"


def test_derived_column_is_averaged_per_seed():
    data = records([("A", s, c, "s1", v) for s, (c, v) in
                    [(1, ("x", 10.0)), (1, ("y", 20.0)), (2, ("x", 30.0)), (2, ("y", 50.0))]])
    seeds = per_seed(data, {"all": ["x", "y"]})
    overall = seeds[seeds.column == "all"].set_index("seed")["value"]
    assert overall.to_dict() == {1: 15.0, 2: 40.0}


def test_paired_deltas_with_t_interval():
    data = records([("base", s, "x", "s1", v) for s, v in [(1, 50.0), (2, 52.0), (3, 54.0)]]
                   + [("new", s, "x", "s1", v) for s, v in [(1, 51.0), (2, 54.0), (3, 55.0)]])
    delta = paired_deltas(per_seed(data), "base").iloc[0]
    diffs = [1.0, 2.0, 1.0]
    sd = pd.Series(diffs).std(ddof=1)
    assert math.isclose(delta.delta, 4 / 3)
    assert math.isclose(delta.half_width, 4.302653 * sd / math.sqrt(3), rel_tol=1e-6)
    assert t_quantile_975(2) == pytest.approx(4.3027, abs=1e-4) and t_quantile_975(100) == pytest.approx(1.984, abs=1e-3)


def test_every_table_loads_and_renders(tmp_path):
    assert set(table_names()) >= {"zero_shot", "few_shot", "base2novel", "fully_supervised", "components",
                                  "seed_selection", "summarization", "prompting", "temporal_modeling",
                                  "temporal_modeling_ssv2"}
    spec = load_table("zero_shot")
    rows = []
    for i, row in enumerate(spec.rows):
        for seed in spec.seeds:
            for column in ("hmdb51", "ucf101", "k600_top1", "k600_top5"):
                for split in ("split1", "split2", "split3"):
                    rows.append((row.name, seed, column, split, 30.0 + i + seed))
    data = records(rows)
    text = render_markdown(spec, data, "embedded")
    assert "| TC-CLIP | 34.0 ± 1.0 | 53.7 ± 0.7 |" in text
    assert "Difference from “ViFi-CLIP”" in text and "+1.0 [+1.0, +1.0]" in text
    assert "3 training seeds" in text and "embedded scale" in text
    plot_table(spec, data, tmp_path / "zero_shot.png")
    assert (tmp_path / "zero_shot.png").stat().st_size > 10_000


def test_missing_seed_is_shown():
    spec = load_table("zero_shot")
    data = records([("TC-CLIP", s, "hmdb51", "split1", 40.0 + s) for s in (1, 2)])
    text = render_markdown(spec, data, "embedded")
    assert "41.5 ± 0.7 (n=2)" in text
    (unrun,) = [line for line in text.splitlines() if line.startswith("Not run")]
    assert unrun.endswith(": UCF-101, K-600 top-1, K-600 top-5, All.")  # HMDB-51 has values


def test_bad_table_is_one_line(tmp_path):
    (tmp_path / "t.yaml").write_text("title: t\nprotocol: zero_shot\ncolumns: [{name: a}]\nrows: [{name: r}]\n")
    with pytest.raises(ConfigError, match="t.yaml: table column 'a': give exactly one of 'dataset' or 'mean_of'"):
        load_table("t", tmp_path)


def test_context_figure_marks_seed_patches(tmp_path):
    import torch

    from test_model import micro_model, video
    from tcclip.report.context_figure import context_assignments, plot_context_tokens

    model = micro_model(vision__num_context=3, vision__seed_ratio=0.25)
    clips = video(b=2, t=3)
    traces = context_assignments(model, clips)
    assert traces[0]["patch_index"].shape == (3, 4) and traces[0]["assignment"].max() < 3
    frames = [torch.rand(3, 3, 32, 32) * 255 for _ in range(2)]
    plot_context_tokens(frames, traces, grid=4, path=tmp_path / "ctx.png", titles=["a", "b"])
    assert (tmp_path / "ctx.png").stat().st_size > 5_000


def test_plan_shares_runs_across_rows_tables_and_untrained_seeds():
    import yaml

    from tcclip.suite.plan import load_workflow_config, plan_table

    wf = load_workflow_config(yaml.safe_load(open("workflow/config/synthetic.yaml")))
    runs = plan_table("zero_shot", wf)
    ids = {(r.row, r.seed): r.run_id for r in runs}
    assert len({ids["Vanilla CLIP", s] for s in (1, 2, 3)}) == 1  # untrained: scored once for all seeds
    assert len({ids["TC-CLIP", s] for s in (1, 2, 3)}) == 3
    assert all(ids["ViFi-CLIP", s] == ids["ViFi-CLIP + WiSE-FT", s] for s in (1, 2, 3))  # WiSE-FT: same run
    assert ids["ViFi-CLIP", 1] != ids["TC-CLIP", 1]
    components = {r.run_id for r in plan_table("components", wf)}
    assert {ids["TC-CLIP", s] for s in (1, 2, 3)} <= components  # trained once for both tables

    raw = yaml.safe_load(open("workflow/config/synthetic.yaml"))
    raw["overrides"] = ["train.epochs=1"]  # as a smoke run does: untrained rows stay untrained
    vanilla = [r for r in plan_table("zero_shot", load_workflow_config(raw)) if r.row == "Vanilla CLIP"]
    assert all(r.overrides[-1] == "train.epochs=0" for r in vanilla) and len({r.run_id for r in vanilla}) == 1


def test_thread_counts_live_in_the_profiles_not_in_the_workflow_configs():
    import yaml

    for name in ("synthetic", "smoke", "paper"):
        config = yaml.safe_load(open(f"workflow/config/{name}.yaml"))
        assert not {"threads", "run_threads"} & set(config), name
    # the paper scale's profiles give its jobs the same counts (the rules' own are the embedded
    # scale's: one-thread runs side by side); the default profile sets none, or it would
    # override theirs (a workflow profile wins over --profile, key by key)
    slurm, gpu, default = (yaml.safe_load(open(f"workflow/profiles/{profile}/config.yaml"))
                           for profile in ("slurm", "gpu", "default"))
    assert slurm["set-threads"] == gpu["set-threads"] and slurm["set-threads"]["train_and_evaluate"] == 8
    assert "set-threads" not in default and "latency-wait" not in default


def test_task_restrictions_by_protocol_and_by_table():
    import yaml

    from tcclip.suite.plan import load_workflow_config, plan_table

    raw = yaml.safe_load(open("workflow/config/synthetic.yaml"))
    raw["tasks"] = {"few_shot": {"shots": [2, 8]}, "seed_selection": {"shots": [8], "datasets": ["hmdb51"]}}
    wf = load_workflow_config(raw)
    few = {(r.task_dict()["dataset"], r.task_dict()["shots"]) for r in plan_table("few_shot", wf)}
    assert few == {(d, k) for d in ("hmdb51", "ucf101", "ssv2") for k in (2, 8)}  # the protocol's entry
    seeds = {(r.task_dict()["dataset"], r.task_dict()["shots"]) for r in plan_table("seed_selection", wf)}
    assert seeds == {("hmdb51", 8)}  # the table's own entry wins
    summarization = {r.task_dict()["shots"] for r in plan_table("summarization", wf)}
    assert summarization == {2, 8}  # no entry of its own: the protocol's


def _two_row_table():
    from tcclip.suite.tables import Column, Row, TableSpec

    return TableSpec(title="t", protocol="zero_shot", seeds=[1, 2, 3], baseline=None, columns=[
        Column("easy", dataset="a", metric="top5"), Column("hard", dataset="b"), Column("mid", dataset="c")],
        rows=[Row("Untrained", preset="vanilla_clip", train=False), Row("Tuned", preset="vifi_clip")])


def test_degenerate_column_is_flagged_and_informative_ones_are_not():
    spec = _two_row_table()
    rows = []
    for seed, jitter in zip((1, 2, 3), (-0.5, 0.0, 0.5)):
        rows += [("Untrained", seed, "easy", "s1", 99.0, 31.25), ("Tuned", seed, "easy", "s1", 99.5 + jitter, 31.25),
                 ("Untrained", seed, "hard", "s1", 6.0, 6.25), ("Tuned", seed, "hard", "s1", 7.0 + jitter, 6.25),
                 ("Untrained", seed, "mid", "s1", 50.0, 5.0), ("Tuned", seed, "mid", "s1", 60.0 + jitter, 5.0)]
    text = render_markdown(spec, pd.DataFrame(rows, columns=["row", "seed", "column", "split", "value", "chance"]),
                           "embedded")
    flagged = [line for line in text.splitlines() if "degenerate column" in line]
    assert len(flagged) == 2
    assert "column easy:" in flagged[0] and "(31.2%)" in flagged[0]  # near 100%
    assert "column hard:" in flagged[1] and "(6.2%)" in flagged[1]  # near chance
    # Tuned beats Untrained on "mid" by 10 points, on "hard" by 1.0 [-0.2, +2.2]: within noise there only
    (noise,) = [line for line in text.splitlines() if "within noise" in line]
    assert "Tuned" in noise and "hard +1.0" in noise and "mid" not in noise


def test_a_tuned_row_clear_of_the_untrained_one_prints_no_warning():
    spec = _two_row_table()
    rows = [(name, seed, column, "s1", value + seed, 20.0) for seed in (1, 2, 3)
            for name, value in (("Untrained", 40.0), ("Tuned", 50.0)) for column in ("easy", "hard", "mid")]
    rows = [(n, s, c, sp, v if n == "Tuned" else 40.0, ch) for n, s, c, sp, v, ch in rows]
    text = render_markdown(spec, pd.DataFrame(rows, columns=["row", "seed", "column", "split", "value", "chance"]),
                           "embedded")
    assert "Warning" not in text
