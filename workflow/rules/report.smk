# Gather: one table's metrics -> markdown (ours beside the paper), long-form CSV, figure.
import os


def _table_metrics(wildcards):
    paths = [f"{RUNS_DIR}/{run.run_id}/{run.metrics_name}" for run in PLANS[wildcards.table]]
    if WF.allow_partial:  # render what exists now; trains nothing
        return [p for p in paths if os.path.exists(p)]
    return paths


rule table:
    input:
        _table_metrics,
    output:
        md=f"{TABLES_DIR}/{{table}}.md",
        csv=f"{TABLES_DIR}/{{table}}.csv",
        figure=report(f"{FIGURES_DIR}/{{table}}.png", category="Tables", caption="../report/table.rst"),
    log:
        f"{LOGS}/table_{{table}}.log",
    benchmark:
        f"{BENCH}/table/{{table}}.tsv"
    run:
        from tcclip.report.build import build_table

        missing = build_table(wildcards.table, WF)
        with open(log[0], "w") as handle:
            handle.write(f"{len(missing)} metrics files missing\n" + "".join(f"{m}\n" for m in missing))
