# One job per distinct run id: `tcclip run` trains (resuming from the last complete
# checkpoint) and evaluates in one process, so Python starts and the model is built once.
# A run that tables also need WiSE-FT-ensembled gets both weight sets scored on the same
# decoded videos in that job. A job re-run after its metrics were deleted retrains nothing:
# the run resumes at its last epoch and only evaluates.


rule train_and_evaluate:
    input:
        CATALOG_READY,
        get_run_fingerprints,
    output:
        train=f"{RUNS_DIR}/{{run}}/train.json",
        metrics=f"{RUNS_DIR}/{{run}}/metrics.json",
        predictions=f"{RUNS_DIR}/{{run}}/predictions.csv.gz",
    log:
        f"{RUNS_DIR}/{{run}}/snakemake_run.log",
    benchmark:
        f"{BENCH}/train_and_evaluate/{{run}}.tsv"
    wildcard_constraints:
        run=PLAIN_RUN,
    threads: 1
    resources:
        gpu=WF.gpus,
        runtime=RUN_RUNTIME,
    params:
        launch=LAUNCH,
        run_config=WF.run_config,
        overrides=get_run_overrides,
        wiseft="",
    shell:
        "TCCLIP_THREADS={threads} {params.launch} run --retrain-on-change --config {params.run_config} "
        "{params.overrides} {params.wiseft} > {log} 2>&1"


# The same job for the runs tables also need WiSE-FT-ensembled at COMBINED_RATIO.
use rule train_and_evaluate as train_and_evaluate_wiseft with:
    output:
        train=f"{RUNS_DIR}/{{run}}/train.json",
        metrics=f"{RUNS_DIR}/{{run}}/metrics.json",
        predictions=f"{RUNS_DIR}/{{run}}/predictions.csv.gz",
        wiseft=f"{RUNS_DIR}/{{run}}/metrics_wiseft{COMBINED_RATIO}.json",
        wiseft_predictions=f"{RUNS_DIR}/{{run}}/predictions_wiseft{COMBINED_RATIO}.csv.gz",
    benchmark:
        f"{BENCH}/train_and_evaluate/{{run}}_wiseft.tsv"
    wildcard_constraints:
        run=WISE_RUN,
    params:
        launch=LAUNCH,
        run_config=WF.run_config,
        overrides=get_run_overrides,
        wiseft=f"--wiseft {COMBINED_RATIO}",
