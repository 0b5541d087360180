# All the Python of the workflow: the config, validated and loaded; the globals derived
# from it; wildcard constraints; the input and parameter functions of the rules (get_*).
# Included first by the Snakefile: the rule files only hold rules.
import os
import re
import shlex
from collections import Counter

from snakemake.utils import min_version, validate

from tcclip.engine.run_config import catalog_selection
from tcclip.engine.run_files import predictions_path
from tcclip.report.claims import load_claims
from tcclip.suite.plan import load_workflow_config, plan
from tcclip.suite.tables import table_names
from tcclip.synth.generator import GENERATOR_VERSION

min_version("8.0")


# ---- the config -------------------------------------------------------------------------

# Every key of workflow/config/*.yaml, documented (description, default) in the schema.
validate(config, "../schemas/config.schema.yaml")

WF = load_workflow_config(config)
TABLES = WF.tables or table_names()
# Runs are named by the hash of their resolved training config (tcclip.suite.plan), so a
# configuration shared by several tables is trained once.
PLANS = plan(TABLES, WF)
RUNS = {run.run_id: run for runs in PLANS.values() for run in runs}


# ---- folders ----------------------------------------------------------------------------

RUNS_DIR, TABLES_DIR, FIGURES_DIR = WF.runs_dir, WF.tables_dir, WF.figures_dir
# Logs and benchmark records live beside the tables' folder (results/ or results/smoke/).
LOGS = f"{os.path.dirname(TABLES_DIR) or '.'}/logs"
BENCH = f"{os.path.dirname(TABLES_DIR) or '.'}/benchmarks"
# Fingerprints of the data and the weights (small JSON files): inputs of the runs made from them.
FINGERPRINTS = f"{os.path.dirname(TABLES_DIR) or '.'}/fingerprints"


wildcard_constraints:
    run="[0-9a-f]{12}",
    table="|".join(TABLES),  # not any name: results/figures/context_tokens.png is not a table
    ratio="[0-9.]+",


# ---- data (rules/data.smk) --------------------------------------------------------------
# The synthetic benchmark at the embedded scale; at the paper scale the catalog is the
# packaged one ("real") and the user's video folders (config roots) are checked.

SYNTH = WF.synthetic
CATALOG_READY = f"{SYNTH['out']}/catalog.yaml" if WF.scale == "embedded" else f"{LOGS}/data_check.ok"
# --root-of / --list options of `tcclip data fingerprint`: the user's folders and lists.
DATA_LOCATIONS = " ".join(
    [f"--root-of {shlex.quote(f'{k}={v}')}" for k, v in WF.roots.items()]
    + [f"--list {shlex.quote(f'{k}={v}')}" for k, v in WF.lists.items()]
)


def get_synthetic_folder(wildcards, output):
    """The folder `tcclip synth` writes: the one of its catalog."""
    return os.path.dirname(output.catalog)


def splits_read():
    """{dataset: [split]} that the planned runs train, select and evaluate on (paper scale). Only these are
    checked: the catalog also lists splits no table of this config reads, some of them for other
    copies of a dataset (k400's *_prefix lists name folders a plain Kinetics copy does not have)."""
    from tcclip.data.catalog import Catalog
    from tcclip.data.protocols import Protocol
    from tcclip.suite.tables import load_table

    catalog = Catalog.load(WF.catalog, roots=WF.roots or None, lists=WF.lists or None)
    read, seen = {}, set()
    for run in RUNS.values():
        task = run.task_dict()
        key = (load_table(run.table).protocol, task.get("dataset"), task.get("shots"), task.get("subset"))
        if key in seen:
            continue
        seen.add(key)
        restrict = {"datasets": [key[1]] if key[1] else None, "shots": [key[2]] if key[2] else None}
        restrict["subsets"] = [key[3]] if key[3] else None
        for found in Protocol.load(key[0]).tasks(catalog, strict=False, **restrict):
            for spec in (found.train, *found.evals.values()):
                read.setdefault(spec.dataset, set()).add(spec.split)
            selection = catalog_selection(found.settings["evaluation"].get("select_on"))
            if selection:  # a catalog split that picks the epoch (zero-shot: k400/val)
                read.setdefault(selection[0], set()).add(selection[1])
    return {dataset: sorted(splits) for dataset, splits in sorted(read.items())}


def get_data_checks(wildcards, threads):
    """One `tcclip data check` per dataset the runs read, of the splits they read, with the job's
    threads as decoding workers; a dataset without a root (config: roots) fails with the reason."""
    checks = " && ".join(
        f"tcclip data check --catalog {shlex.quote(WF.catalog)} --dataset {name} {DATA_LOCATIONS} "
        + " ".join(f"--split {split}" for split in splits)
        + f" --workers {threads}"
        for name, splits in splits_read().items()
    )
    return checks or "echo 'no data roots configured (config: roots)' && false"


def get_catalog(wildcards):
    """The catalog `tcclip data fingerprint` reads: a name ('real') or the synthetic
    benchmark's catalog.yaml (then also the rule's input, made by `synthesize`)."""
    return WF.catalog


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


# ---- backbone (rules/backbone.smk) ------------------------------------------------------
# The CLIP weights: pretrained by the DAG at the embedded scale, a user's file at the paper scale.

BACKBONE = WF.backbone
WEIGHTS = BACKBONE["weights"]
PRETRAIN = bool(BACKBONE.get("pretrain"))
PRETRAIN_OVERRIDES = " ".join(BACKBONE.get("pretrain_overrides", []))
# The weights' fingerprint, written once they are known to fit the architecture: runs depend on it.
WEIGHTS_READY = f"{FINGERPRINTS}/weights.json"


def get_synthetic_data(wildcards, input):
    """The synthetic benchmark's folder: the one of its catalog (the input)."""
    return os.path.dirname(input[0])


# ---- runs (rules/train.smk, rules/evaluate.smk) -----------------------------------------

# Runs that tables also need WiSE-FT-ensembled: most of them at one ratio (COMBINED_RATIO),
# scored in the training job itself; any other ratio is a separate evaluation.
_wise_counts = Counter(run.wiseft for runs in PLANS.values() for run in runs if run.wiseft is not None)
COMBINED_RATIO = f"{_wise_counts.most_common(1)[0][0]:g}" if _wise_counts else None
WISE_IDS = sorted(
    {
        run.run_id
        for runs in PLANS.values()
        for run in runs
        if run.wiseft is not None and f"{run.wiseft:g}" == COMBINED_RATIO
    }
)
PLAIN_IDS = sorted(set(RUNS) - set(WISE_IDS))


def _one_of(ids):
    """An alternation of run ids that matches no run id when the list is empty."""
    return "|".join(ids) if ids else "(?!)"


PLAIN_RUN = _one_of(PLAIN_IDS)
WISE_RUN = _one_of(WISE_IDS)
# evaluate_wiseft's ratios: any but COMBINED_RATIO, a lookahead on what follows in the path
# (the ratio, then ".json" / ".csv.gz").
OTHER_RATIO = f"(?!{re.escape(COMBINED_RATIO)}\\.(json|csv\\.gz)$)[0-9.]+" if COMBINED_RATIO else "[0-9.]+"

# A job with several GPUs is one DDP training: torchrun starts a process per GPU. A GPU job
# starts under `tcclip gpus N --`, which gives it N devices no other job holds
# (CUDA_VISIBLE_DEVICES): `--resources gpu=N` only counts GPUs, so concurrent local jobs all
# opened GPU 0. Under Slurm, which sets CUDA_VISIBLE_DEVICES itself, it changes nothing.
LAUNCH = f"torchrun --standalone --nproc_per_node={WF.gpus} -m tcclip" if WF.gpus > 1 else "tcclip"
if WF.gpus > 0:
    LAUNCH = f"tcclip gpus {WF.gpus} -- {LAUNCH}"
RUN_RUNTIME = 60 * 24 if WF.scale == "paper" else 60  # minutes
EVALUATION_GPUS = min(WF.gpus, 1)
EVALUATE = f"tcclip gpus {EVALUATION_GPUS} -- tcclip" if EVALUATION_GPUS else "tcclip"


def get_run_overrides(wildcards):
    """The run's key=value overrides, quoted for the shell."""
    return " ".join(shlex.quote(item) for item in RUNS[wildcards.run].overrides)


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


def get_run_folder(wildcards):
    """The run's folder (what `tcclip evaluate` takes)."""
    return f"{RUNS_DIR}/{wildcards.run}"


def get_run_folder_of_input(wildcards, input):
    """The folder of the run whose train.json is the input."""
    return os.path.dirname(input[0])


# ---- report (rules/report.smk) ----------------------------------------------------------


def get_table_metrics(wildcards):
    """The metrics and per-video predictions files of a table's runs."""
    metrics = [f"{RUNS_DIR}/{run.run_id}/{run.metrics_name}" for run in PLANS[wildcards.table]]
    paths = [p for m in metrics for p in (m, str(predictions_path(m)))]
    if WF.allow_partial:  # render what exists now; trains nothing
        return [p for p in paths if os.path.exists(p)]
    return paths


def write_table(table, log):
    """Rule table: the table's files from the metrics there are; the log lists the missing ones."""
    from tcclip.report.build import build_table

    missing = build_table(table, WF)
    with open(log, "w") as handle:
        handle.write(f"{len(missing)} metrics files missing\n" + "".join(f"{m}\n" for m in missing))


def plan_digest():
    """Changes whenever a table entry maps to another run: the run index's params (rerun trigger)."""
    import hashlib

    entries = sorted(
        f"{t}|{r.row}|{r.seed}|{r.task}|{r.run_id}|{r.metrics_name}" for t, runs in PLANS.items() for r in runs
    )
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()[:16]


def write_run_index(out, log):
    """Rule run_index: which run folder fills each table row, seed and task of this config."""
    from tcclip.suite.plan import write_run_index as write

    write(PLANS, RUNS_DIR, out)
    with open(log, "w") as handle:
        handle.write(f"{sum(len(runs) for runs in PLANS.values())} table entries\n")


def write_claims(tables, markdown, log):
    """Rules claims / claims_of_table: the paper's claims tested on the built tables (None: all)."""
    from tcclip.report.build import build_claims

    build_claims(WF, tables, markdown)
    with open(log, "w") as handle:
        handle.write(f"{markdown}\n")


# The paper's claims tested on the built tables: every claim (claims.md, in `all`; a claim
# whose table this config does not build is listed as not run), or one table's claims
# (claims_<table>.md: `make zero-shot` builds claims_zero_shot.md beside zero_shot.md).
CLAIM_TABLES = sorted({claim.table for claim in load_claims()} & set(TABLES))

# Which patches formed the context tokens, on a few videos of the zero-shot TC-CLIP run.
CONTEXT_RUN = next((r.run_id for r in PLANS.get("zero_shot", []) if r.row == "TC-CLIP"), None)
CONTEXT_FIGURE = [f"{FIGURES_DIR}/context_tokens.png"] if CONTEXT_RUN else []
