# Evaluation of a trained run on its protocol's eval sets, plain and weight-space ensembled.
#
# A run that tables need both fine-tuned and WiSE-FT-ensembled is evaluated by one job
# (evaluate_with_wiseft): both weight sets score the same decoded videos, so the videos are
# read once and Python starts once. Other runs use evaluate / evaluate_wiseft.
import re
from collections import Counter

_wise_counts = Counter(run.wise_ft for runs in PLANS.values() for run in runs if run.wise_ft is not None)
COMBINED_RATIO = f"{_wise_counts.most_common(1)[0][0]:g}" if _wise_counts else None
COMBINED_IDS = sorted({run.run_id for runs in PLANS.values() for run in runs
                       if run.wise_ft is not None and f"{run.wise_ft:g}" == COMBINED_RATIO})
_RUN_ID = "[0-9a-f]{12}"
# Run ids (and the ratio) the combined rule owns; the single-variant rules leave them alone.
# The lookaheads test what follows in the whole path: a run id is followed by "/", a ratio by ".json".
_NOT_COMBINED_RUN = f"(?!(?:{'|'.join(COMBINED_IDS)})/){_RUN_ID}" if COMBINED_IDS else _RUN_ID
_NOT_COMBINED_RATIO = f"(?!{re.escape(COMBINED_RATIO)}\\.json$)[0-9.]+" if COMBINED_RATIO else "[0-9.]+"


rule evaluate:
    input:
        f"{RUNS_DIR}/{{run}}/train.json",
    output:
        f"{RUNS_DIR}/{{run}}/metrics.json",
    wildcard_constraints:
        run=_NOT_COMBINED_RUN,
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
    wildcard_constraints:
        ratio=_NOT_COMBINED_RATIO,
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


if COMBINED_IDS:

    rule evaluate_with_wiseft:
        input:
            f"{RUNS_DIR}/{{run}}/train.json",
        output:
            plain=f"{RUNS_DIR}/{{run}}/metrics.json",
            wiseft=f"{RUNS_DIR}/{{run}}/metrics_wiseft{COMBINED_RATIO}.json",
        wildcard_constraints:
            run="|".join(COMBINED_IDS),
        params:
            run=lambda wc: f"{RUNS_DIR}/{wc.run}",
            ratio=COMBINED_RATIO,
        log:
            f"{RUNS_DIR}/{{run}}/snakemake_evaluate_with_wiseft.log",
        benchmark:
            f"{BENCH}/evaluate/{{run}}_with_wiseft.tsv"
        threads: WF.threads
        resources:
            gpu=min(WF.gpus, 1),
        shell:
            "TCCLIP_THREADS={threads} tcclip evaluate {params.run} --wiseft {params.ratio} > {log} 2>&1"
