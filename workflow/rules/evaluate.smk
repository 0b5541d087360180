# WiSE-FT at a ratio other than the one evaluated with the training job
# (train_and_evaluate_wiseft): a separate evaluation of the trained run.
import re

_OTHER_RATIO = f"(?!{re.escape(COMBINED_RATIO)}\\.(json|csv\\.gz)$)[0-9.]+" if COMBINED_RATIO else "[0-9.]+"


rule evaluate_wiseft:
    input:
        f"{RUNS_DIR}/{{run}}/train.json",
    output:
        metrics=f"{RUNS_DIR}/{{run}}/metrics_wiseft{{ratio}}.json",
        predictions=f"{RUNS_DIR}/{{run}}/predictions_wiseft{{ratio}}.csv.gz",
    wildcard_constraints:
        ratio=_OTHER_RATIO,  # a lookahead on what follows in the path: the ratio, then ".json" / ".csv.gz"
    params:
        run=lambda wc: f"{RUNS_DIR}/{wc.run}",
    log:
        f"{RUNS_DIR}/{{run}}/snakemake_evaluate_wiseft{{ratio}}.log",
    benchmark:
        f"{BENCH}/evaluate/{{run}}_wiseft{{ratio}}.tsv"
    threads: WF.threads_per_run
    resources:
        gpu=min(WF.gpus, 1),
    shell:
        "TCCLIP_THREADS={threads} tcclip evaluate {params.run} --wiseft {wildcards.ratio} --wiseft-only > {log} 2>&1"
