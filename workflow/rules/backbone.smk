# The CLIP weights: pretrained by the DAG at the embedded scale, a user's file at the paper scale.

BACKBONE = WF.backbone
WEIGHTS = BACKBONE["weights"]
# The weights' fingerprint, written once they are known to fit the architecture: runs depend on it.
WEIGHTS_READY = f"{FINGERPRINTS}/weights.json"


if BACKBONE.get("pretrain"):

    rule pretrain_clip:
        input:
            CATALOG_READY,
        output:
            WEIGHTS,
        params:
            data=WF.synthetic["out"],
            arch=BACKBONE["arch"],
            overrides=" ".join(BACKBONE.get("pretrain_overrides", [])),
        log:
            f"{LOGS}/pretrain_clip.log",
        benchmark:
            f"{BENCH}/pretrain_clip.tsv"
        threads: WF.threads
        shell:
            "TCCLIP_THREADS={threads} tcclip pretrain-clip --data {params.data} --out {output} arch={params.arch} {params.overrides} > {log} 2>&1"



rule check_weights:
    # Load the file into the named architecture once (a wrong file fails here, not in every job)
    # and record its fingerprint.
    input:
        WEIGHTS,
    output:
        WEIGHTS_READY,
    params:
        arch=BACKBONE["arch"],
    log:
        f"{LOGS}/weights_check.log",
    shell:
        "tcclip check-weights --arch {params.arch} --weights {input} --out {output} > {log} 2>&1"
