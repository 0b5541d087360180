# Gather: one table's metrics and per-video predictions -> markdown (ours beside the paper,
# differences with both intervals, power) + HTML, long-form CSV, differences CSV, figures.
# Then the claims table from the built tables (CLAIM_TABLES), and the context-token figure.


rule table:
    input:
        get_table_metrics,
    output:
        md=f"{TABLES_DIR}/{{table}}.md",
        html=report(
            f"{TABLES_DIR}/{{table}}.html",
            category="Tables",
            subcategory="{table}",
            caption="../report/table_text.rst",
        ),
        csv=f"{TABLES_DIR}/{{table}}.csv",
        differences_csv=f"{TABLES_DIR}/{{table}}_differences.csv",
        figure=report(
            f"{FIGURES_DIR}/{{table}}.png", category="Tables", subcategory="{table}", caption="../report/table.rst"
        ),
        differences=report(
            f"{FIGURES_DIR}/{{table}}_differences.png",
            category="Tables",
            subcategory="{table}",
            caption="../report/differences.rst",
        ),
    log:
        f"{LOGS}/table_{{table}}.log",
    benchmark:
        f"{BENCH}/table/{{table}}.tsv"
    run:
        write_table(wildcards.table, log[0])


# The paper's claims tested on the built tables: every claim (claims.md, in `all`; a claim
# whose table this config does not build is listed as not run), or one table's claims
# (claims_<table>.md: `make zero-shot` builds claims_zero_shot.md beside zero_shot.md).
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
        write_claims(None, output.md, log[0])


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
        write_claims([wildcards.table], output.md, log[0])


# Which patches formed the context tokens, on a few videos of the zero-shot TC-CLIP run.
if CONTEXT_RUN:

    rule context_figure:
        input:
            f"{RUNS_DIR}/{CONTEXT_RUN}/train.json",
        output:
            report(
                f"{FIGURES_DIR}/context_tokens.png", category="Context tokens", caption="../report/context_tokens.rst"
            ),
        log:
            f"{LOGS}/context_figure.log",
        benchmark:
            f"{BENCH}/context_figure.tsv"
        threads: 2
        params:
            run=get_run_folder_of_input,
        shell:
            "TCCLIP_THREADS={threads} tcclip context-figure {params.run} --out {output} > {log} 2>&1"


# results/runs/index.csv: run ids -> the table rows, seeds and tasks they fill (the plan, no compute).
rule run_index:
    output:
        f"{RUNS_DIR}/index.csv",
    log:
        f"{LOGS}/run_index.log",
    params:
        plan=plan_digest(),
    run:
        write_run_index(output[0], log[0])
