# Set-up and checks. `make test` works on a fresh clone: it creates .venv, installs the
# pinned lock file and this package, then runs the test suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export XDG_CACHE_HOME ?= $(CURDIR)/.cache
export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install test test-fast lint clean-venv

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch and torchvision are pinned together in the lock; --no-deps on the package
	# itself so that nothing can swap them for another build.
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

# The workflow's style and Snakemake's own checks: snakefmt (pinned in requirements.lock) and
# `snakemake --lint` (.ci/snakemake-lint says which lint is accepted, and why).
lint: install
	$(BIN)/snakefmt --check workflow/
	PATH=$(CURDIR)/$(BIN):$$PATH .ci/snakemake-lint

clean-venv:
	rm -rf $(VENV)

# The main job: the zero-shot table at the embedded scale (synthetic data, tiny CLIP, CPU), and the
# paper's claims that it tests (results/tables/claims_zero_shot.md; `make tables`: claims.md).
# Snakemake applies workflow/profiles/default by itself.
.PHONY: zero-shot tables
zero-shot: install
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake results/tables/zero_shot.md results/tables/claims_zero_shot.md

tables: install
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake all

# CI smoke run of the real DAG at a reduced size (tiny data, one seed, one epoch), then a
# check that every row of the table is filled.
.PHONY: smoke
smoke: install
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake results/smoke/tables/zero_shot.md results/smoke/tables/claims_zero_shot.md --cores all --configfile workflow/config/smoke.yaml
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/tcclip table zero_shot --check --workflow-config workflow/config/smoke.yaml

# Clips and images of the synthetic benchmark rendered under valgrind's memcheck: no library
# that decides their bytes (x264, libav*, numpy, Pillow, zlib) may read memory it never wrote
# (such reads made files depend on the process and CPU); first a control with x264's macroblock
# tree on, whose reads must be found. Installs valgrind with apt when missing (root); skips with
# one line where it cannot.
.PHONY: memcheck
memcheck: install
	$(BIN)/python .ci/memcheck.py --control
	$(BIN)/python .ci/memcheck.py

# The smoke DAG through workflow/profiles/slurm on a real one-node Slurm cluster started on
# this machine (Debian's slurm-wlm, slurmdbd, munge, mariadb; installed with apt when
# missing, which needs root), then stopped: every row filled, sacct records, a killed and a
# preempted training resuming (workflow/slurm/rehearsal.py). Skips with one line where the
# cluster cannot be installed or started.
.PHONY: slurm-smoke
slurm-smoke: install
	PATH=$(CURDIR)/$(BIN):$$PATH workflow/slurm/local_cluster.sh $(BIN)/python workflow/slurm/rehearsal.py

# The paper configuration end to end on CPUs with only the sizes cut (workflow/config/rehearsal.yaml):
# ViT-B-16-quickgelu at 224 px from a local file in OpenAI's key layout (seeded random), the real
# label files and official split lists cut to a few entries with videos rendered at their paths
# (workflow/rehearsal/make_data.py), the paper's AMP settings (fp16 autocast on CUDA only: fp32
# here), each training a 2-process torchrun DDP
# job (gloo); check_weights -> check_data -> train -> evaluate -> table, in results/rehearsal/.
# `--resources gpu=2`: one 2-process job at a time, as on a 2-GPU machine (workflow/profiles/gpu).
.PHONY: rehearsal
rehearsal: install
	$(BIN)/python workflow/rehearsal/make_data.py workflow/config/rehearsal.yaml
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake results/rehearsal/tables/zero_shot.md results/rehearsal/tables/claims_zero_shot.md --cores 2 --resources gpu=2 --configfile workflow/config/rehearsal.yaml
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/tcclip table zero_shot --check --workflow-config workflow/config/rehearsal.yaml
