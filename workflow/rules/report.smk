# Gather: one table's metrics and per-video predictions -> markdown (ours beside the paper,
# differences with both intervals, power) + HTML, long-form CSV, differences CSV, figures.
# Then the claims table from the built tables.
import os

from tcclip.report.claims import load_claims
from tcclip.engine.run_files import predictions_path


def _table_metrics(wildcards):
    metrics = [f"{RUNS_DIR}/{run.run_id}/{run.metrics_name}" for run in PLANS[wildcards.table]]
    paths = [p for m in metrics for p in (m, str(predictions_path(m)))]
    if WF.allow_partial:  # render what exists now; trains nothing
        return [p for p in paths if os.path.exists(p)]
    return paths


rule table:
    input:
        _table_metrics,
    output:
        md=f"{TABLES_DIR}/{{table}}.md",
        html=report(f"{TABLES_DIR}/{{table}}.html", category="Tables", subcategory="{table}",
                    caption="../report/table_text.rst"),
        csv=f"{TABLES_DIR}/{{table}}.csv",
        differences_csv=f"{TABLES_DIR}/{{table}}_differences.csv",
        figure=report(f"{FIGURES_DIR}/{{table}}.png", category="Tables", subcategory="{table}",
                      caption="../report/table.rst"),
        differences=report(f"{FIGURES_DIR}/{{table}}_differences.png", category="Tables", subcategory="{table}",
                           caption="../report/differences.rst"),
    log:
        f"{LOGS}/table_{{table}}.log",
    benchmark:
        f"{BENCH}/table/{{table}}.tsv"
    run:
        from tcclip.report.build import build_table

        missing = build_table(wildcards.table, WF)
        with open(log[0], "w") as handle:
            handle.write(f"{len(missing)} metrics files missing\n" + "".join(f"{m}\n" for m in missing))


# The paper's claims tested on the built tables: every claim (claims.md, in `all`; a claim
# whose table this config does not build is listed as not run), or one table's claims
# (claims_<table>.md: `make zero-shot` builds claims_zero_shot.md beside zero_shot.md).
CLAIM_TABLES = sorted({claim.table for claim in load_claims()} & set(TABLES))


rule claims:
    input:
        expand(f"{TABLES_DIR}/{{table}}.md", table=CLAIM_TABLES),
    output:
        md=f"{TABLES_DIR}/claims.md",
        csv=f"{TABLES_DIR}/claims.csv",
        html=report(f"{TABLES_DIR}/claims.html", category="Claims", caption="../report/claims.rst"),
    log:
        f"{LOGS}/claims.log",
    run:
        from tcclip.report.build import build_claims

        build_claims(WF, None, output.md)
        with open(log[0], "w") as handle:
            handle.write(f"{output.md}\n")


rule claims_of_table:
    input:
        f"{TABLES_DIR}/{{table}}.md",
    output:
        md=f"{TABLES_DIR}/claims_{{table}}.md",
        csv=f"{TABLES_DIR}/claims_{{table}}.csv",
        html=report(f"{TABLES_DIR}/claims_{{table}}.html", category="Claims", caption="../report/claims.rst"),
    log:
        f"{LOGS}/claims_{{table}}.log",
    run:
        from tcclip.report.build import build_claims

        build_claims(WF, [wildcards.table], output.md)
        with open(log[0], "w") as handle:
            handle.write(f"{output.md}\n")


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
