# WiSE-FT at a ratio other than the one evaluated with the training job
# (train_and_evaluate_wiseft): a separate evaluation of the trained run.


rule evaluate_wiseft:
    input:
        f"{RUNS_DIR}/{{run}}/train.json",
    output:
        metrics=f"{RUNS_DIR}/{{run}}/metrics_wiseft{{ratio}}.json",
        predictions=f"{RUNS_DIR}/{{run}}/predictions_wiseft{{ratio}}.csv.gz",
    log:
        f"{RUNS_DIR}/{{run}}/snakemake_evaluate_wiseft{{ratio}}.log",
    benchmark:
        f"{BENCH}/evaluate/{{run}}_wiseft{{ratio}}.tsv"
    wildcard_constraints:
        ratio=OTHER_RATIO,
    threads: 1
    resources:
        gpu=EVALUATION_GPUS,
    params:
        run=get_run_folder,
        launch=EVALUATE,
    shell:
        "TCCLIP_THREADS={threads} {params.launch} evaluate {params.run} --wiseft {wildcards.ratio} --wiseft-only > {log} 2>&1"
