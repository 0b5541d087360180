# One training per distinct run id; `tcclip train` resumes from the last complete checkpoint.
import shlex


def _run_overrides(wildcards):
    return " ".join(shlex.quote(item) for item in RUNS[wildcards.run].overrides)


rule train:
    input:
        CATALOG_READY,
        WEIGHTS_READY,
    output:
        f"{RUNS_DIR}/{{run}}/train.json",
    params:
        run_config=WF.run_config,
        overrides=_run_overrides,
    log:
        f"{RUNS_DIR}/{{run}}/snakemake_train.log",
    benchmark:
        f"{BENCH}/train/{{run}}.tsv"
    threads: WF.threads
    resources:
        gpu=WF.gpus,
        runtime=60 * 24 if WF.scale == "paper" else 60,
    shell:
        "TCCLIP_THREADS={threads} tcclip train --config {params.run_config} {params.overrides} > {log} 2>&1"
