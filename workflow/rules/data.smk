# Data: the synthetic benchmark at the embedded scale; at the paper scale the catalog is
# the packaged one ("real") and the user's video folders (config roots) are checked.
import shlex

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


# One fingerprint file per dataset (its lists' entries + class names, and the synthetic
# benchmark's digest): the runs that read a dataset depend on its file, so a change of its
# data re-runs those jobs, and `tcclip run --retrain-on-change` retrains a run whose own
# training inputs changed (the others only evaluate again).
def get_dataset_lists(wildcards):
    """The dataset's list and label files at the paper scale (the user's files: a change of one
    re-runs its fingerprint); at the embedded scale `synthesize` makes them (CATALOG_READY)."""
    if WF.scale == "embedded":
        return []
    from tcclip.data.catalog import Catalog
    from tcclip.data.errors import CatalogError

    catalog = Catalog.load(WF.catalog, roots=WF.roots or None, lists=WF.lists or None)
    files = set()
    for split in catalog.split_names(wildcards.dataset):
        try:
            spec = catalog.split(wildcards.dataset, split, strict=False)
        except CatalogError:  # a split without a list (k400/train before `tcclip data index`)
            continue
        files.update(str(p) for p in (spec.annotation_list, spec.label_file, spec.rephrased_file) if p)
    return sorted(files)


rule fingerprint_dataset:
    input:
        CATALOG_READY,
        get_dataset_lists,
    output:
        f"{FINGERPRINTS}/data/{{dataset}}.json",
    params:
        catalog=WF.catalog,
        where=" ".join(
            [f"--root-of {shlex.quote(f'{k}={v}')}" for k, v in WF.roots.items()]
            + [f"--list {shlex.quote(f'{k}={v}')}" for k, v in WF.lists.items()]
        ),
    log:
        f"{LOGS}/fingerprint_{{dataset}}.log",
    shell:
        "tcclip data fingerprint --catalog {params.catalog} --dataset {wildcards.dataset} {params.where} "
        "--out {output} > {log} 2>&1"
