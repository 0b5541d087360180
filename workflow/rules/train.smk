# One job per distinct run id: `tcclip run` trains (resuming from the last complete
# checkpoint) and evaluates in one process, so Python starts and the model is built once.
# A run that tables also need WiSE-FT-ensembled gets both weight sets scored on the same
# decoded videos in that job. A job re-run after its metrics were deleted retrains nothing:
# the run resumes at its last epoch and only evaluates.
import shlex
from collections import Counter


def _run_overrides(wildcards):
    return " ".join(shlex.quote(item) for item in RUNS[wildcards.run].overrides)


_wise_counts = Counter(run.wiseft for runs in PLANS.values() for run in runs if run.wiseft is not None)
COMBINED_RATIO = f"{_wise_counts.most_common(1)[0][0]:g}" if _wise_counts else None
WISE_IDS = sorted({run.run_id for runs in PLANS.values() for run in runs
                   if run.wiseft is not None and f"{run.wiseft:g}" == COMBINED_RATIO})
PLAIN_IDS = sorted(set(RUNS) - set(WISE_IDS))


# A job with several GPUs is one DDP training: torchrun starts a process per GPU.
LAUNCH = f"torchrun --standalone --nproc_per_node={WF.gpus} -m tcclip" if WF.gpus > 1 else "tcclip"


def get_run_fingerprints(wildcards):
    """The fingerprint files of the datasets a run trains or evaluates on, and of the weights."""
    from tcclip.data.protocols import Protocol
    from tcclip.suite.tables import load_table

    run = RUNS[wildcards.run]
    task = run.task_dict()
    data = Protocol.load(load_table(run.table).protocol).data
    if "dataset" in task:  # few-shot / base-to-novel: one dataset per task
        datasets = {task["dataset"]}
    elif "datasets" in data:
        datasets = set(data["datasets"])
    else:
        datasets = {data["train"]["dataset"], *data.get("eval", {})}
    return [f"{FINGERPRINTS}/data/{name}.json" for name in sorted(datasets)] + [WEIGHTS_READY]


def _one_of(ids):
    # an alternation that matches no run id when the list is empty
    return "|".join(ids) if ids else "(?!)"


rule train_and_evaluate:
    input:
        CATALOG_READY,
        get_run_fingerprints,
    output:
        train=f"{RUNS_DIR}/{{run}}/train.json",
        metrics=f"{RUNS_DIR}/{{run}}/metrics.json",
        predictions=f"{RUNS_DIR}/{{run}}/predictions.csv.gz",
    wildcard_constraints:
        run=_one_of(PLAIN_IDS),
    params:
        launch=LAUNCH,
        run_config=WF.run_config,
        overrides=_run_overrides,
        wiseft="",
    log:
        f"{RUNS_DIR}/{{run}}/snakemake_run.log",
    benchmark:
        f"{BENCH}/train_and_evaluate/{{run}}.tsv"
    threads: WF.threads_per_run
    resources:
        gpu=WF.gpus,
        runtime=60 * 24 if WF.scale == "paper" else 60,
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
    wildcard_constraints:
        run=_one_of(WISE_IDS),
    params:
        launch=LAUNCH,
        run_config=WF.run_config,
        overrides=_run_overrides,
        wiseft=f"--wiseft {COMBINED_RATIO}",
    benchmark:
        f"{BENCH}/train_and_evaluate/{{run}}_wiseft.tsv"
