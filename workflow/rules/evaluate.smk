# Evaluation of a trained run on its protocol's eval sets, plain and weight-space ensembled.


rule evaluate:
    input:
        f"{RUNS_DIR}/{{run}}/train.json",
    output:
        f"{RUNS_DIR}/{{run}}/metrics.json",
    params:
        run=lambda wc: f"{RUNS_DIR}/{wc.run}",
    log:
        f"{RUNS_DIR}/{{run}}/snakemake_evaluate.log",
    benchmark:
        f"{BENCH}/evaluate/{{run}}.tsv"
    threads: WF.threads
    resources:
        gpu=min(WF.gpus, 1),
    shell:
        "TCCLIP_THREADS={threads} tcclip evaluate {params.run} > {log} 2>&1"


rule evaluate_wiseft:
    input:
        f"{RUNS_DIR}/{{run}}/train.json",
    output:
        f"{RUNS_DIR}/{{run}}/metrics_wiseft{{ratio}}.json",
    params:
        run=lambda wc: f"{RUNS_DIR}/{wc.run}",
    log:
        f"{RUNS_DIR}/{{run}}/snakemake_evaluate_wiseft{{ratio}}.log",
    benchmark:
        f"{BENCH}/evaluate/{{run}}_wiseft{{ratio}}.tsv"
    threads: WF.threads
    resources:
        gpu=min(WF.gpus, 1),
    shell:
        "TCCLIP_THREADS={threads} tcclip evaluate {params.run} --wiseft {wildcards.ratio} --wiseft-only > {log} 2>&1"
