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


# Which patches formed the context tokens, on a few videos of the zero-shot TC-CLIP run.
CONTEXT_RUN = next((r.run_id for r in PLANS.get("zero_shot", []) if r.row == "TC-CLIP"), None)

if CONTEXT_RUN:

    rule context_figure:
        input:
            f"{RUNS_DIR}/{CONTEXT_RUN}/train.json",
        output:
            report(f"{FIGURES_DIR}/context_tokens.png", category="Context tokens",
                   caption="../report/context_tokens.rst"),
        params:
            run=f"{RUNS_DIR}/{CONTEXT_RUN}",
        log:
            f"{LOGS}/context_figure.log",
        threads: WF.threads
        shell:
            "TCCLIP_THREADS={threads} tcclip context-figure {params.run} --out {output} > {log} 2>&1"
