# Data: the synthetic benchmark at the embedded scale; at the paper scale the catalog is
# the packaged one ("real") and the user's video folders (config roots) are checked.

SYNTH = WF.synthetic
CATALOG_READY = f"{SYNTH['out']}/catalog.yaml" if WF.scale == "embedded" else f"{LOGS}/data_check.ok"


rule synthesize:
    output:
        catalog=f"{SYNTH['out']}/catalog.yaml",
    params:
        out=SYNTH["out"],
        seed=SYNTH.get("seed", 0),
        size=SYNTH.get("size", "default"),
    log:
        f"{LOGS}/synthesize.log",
    benchmark:
        f"{BENCH}/synthesize.tsv"
    threads: WF.threads
    shell:
        "TCCLIP_THREADS={threads} tcclip synth --out {params.out} --seed {params.seed} --size {params.size} > {log} 2>&1"


rule check_data:
    # Paper scale: missing, unreadable and empty videos, label ids out of range, before any training.
    output:
        touch(f"{LOGS}/data_check.ok"),
    params:
        checks=" && ".join(
            f"tcclip data check --catalog real --dataset {name} --root-of {name}={path} --workers {WF.threads}"
            for name, path in WF.roots.items()
        )
        or "echo 'no data roots configured (config: roots)' && false",
    log:
        f"{LOGS}/data_check.log",
    benchmark:
        f"{BENCH}/data_check.tsv"
    threads: WF.threads
    shell:
        "({params.checks}) > {log} 2>&1"
