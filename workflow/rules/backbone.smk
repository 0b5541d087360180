# The CLIP weights: pretrained by the DAG at the embedded scale, a user's file at the paper scale.


if PRETRAIN:

    rule pretrain_clip:
        input:
            CATALOG_READY,
        output:
            WEIGHTS,
        log:
            f"{LOGS}/pretrain_clip.log",
        benchmark:
            f"{BENCH}/pretrain_clip.tsv"
        threads: 2
        params:
            data=get_synthetic_data,
            arch=BACKBONE["arch"],
            overrides=PRETRAIN_OVERRIDES,
        shell:
            "TCCLIP_THREADS={threads} tcclip pretrain-clip --data {params.data} --out {output} arch={params.arch} {params.overrides} > {log} 2>&1"


rule check_weights:
    # Load the file into the named architecture once (a wrong file fails here, not in every job)
    # and record its fingerprint.
    input:
        WEIGHTS,
    output:
        WEIGHTS_READY,
    log:
        f"{LOGS}/weights_check.log",
    benchmark:
        f"{BENCH}/weights_check.tsv"
    params:
        arch=BACKBONE["arch"],
    shell:
        "tcclip check-weights --arch {params.arch} --weights {input} --out {output} > {log} 2>&1"
