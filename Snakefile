# tcclip: every paper table as a Snakemake DAG.
#   snakemake --cores all results/tables/zero_shot.md                  (embedded scale, CPU)
#   snakemake --profile workflow/profiles/slurm all --configfile workflow/config/paper.yaml
# Runs are named by the hash of their resolved training config (tcclip.suite.plan), so a
# configuration shared by several tables is trained once.
import os

from snakemake.utils import min_version, validate

min_version("8.0")

# The embedded scale is the default. A --configfile replaces it rather than being merged into
# it: mappings such as `tasks` must not leak from one scale into the other.
if not workflow.overwrite_configfiles:

    configfile: "workflow/config/synthetic.yaml"

validate(config, "workflow/schemas/config.schema.yaml")

from tcclip.suite.plan import load_workflow_config, plan
from tcclip.suite.tables import table_names

WF = load_workflow_config(config)
TABLES = WF.tables or table_names()
PLANS = plan(TABLES, WF)
RUNS = {run.run_id: run for runs in PLANS.values() for run in runs}
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

include: "workflow/rules/data.smk"
include: "workflow/rules/backbone.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        expand(f"{TABLES_DIR}/{{table}}.md", table=TABLES),
        f"{TABLES_DIR}/claims.md",
        [f"{FIGURES_DIR}/context_tokens.png"] if CONTEXT_RUN else [],
