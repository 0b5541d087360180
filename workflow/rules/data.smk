# Data: the synthetic benchmark at the embedded scale; at the paper scale the catalog is
# the packaged one ("real") and the user's video folders (config roots) are checked.


rule synthesize:
    output:
        catalog=f"{SYNTH['out']}/catalog.yaml",
    log:
        f"{LOGS}/synthesize.log",
    benchmark:
        f"{BENCH}/synthesize.tsv"
    threads: 2
    params:
        out=get_synthetic_folder,
        seed=SYNTH.get("seed", 0),
        size=SYNTH.get("size", "default"),
        # a generator that renders different files re-renders the benchmark (params trigger)
        generator=GENERATOR_VERSION,
    shell:
        "TCCLIP_THREADS={threads} tcclip synth --out {params.out} --seed {params.seed} --size {params.size} > {log} 2>&1"


rule check_data:
    # Paper scale: missing, unreadable and empty videos, label ids out of range, before any training.
    output:
        touch(f"{LOGS}/data_check.ok"),
    log:
        f"{LOGS}/data_check.log",
    benchmark:
        f"{BENCH}/data_check.tsv"
    threads: 2
    params:
        checks=get_data_checks,
    shell:
        "({params.checks}) > {log} 2>&1"


rule fingerprint_dataset:
    input:
        CATALOG_READY,
        get_dataset_lists,
    output:
        f"{FINGERPRINTS}/data/{{dataset}}.json",
    log:
        f"{LOGS}/fingerprint_{{dataset}}.log",
    benchmark:
        f"{BENCH}/fingerprint/{{dataset}}.tsv"
    params:
        catalog=get_catalog,
        where=DATA_LOCATIONS,
    shell:
        "tcclip data fingerprint --catalog {params.catalog} --dataset {wildcards.dataset} {params.where} "
        "--out {output} > {log} 2>&1"
