"""The Slurm profile as the executor plugin turns it into sbatch options (no cluster needed;
`make slurm-smoke` runs the smoke DAG on a real one: workflow/slurm/)."""
import re
import subprocess
from pathlib import Path

import pytest
import yaml

pytest.importorskip("snakemake_executor_plugin_slurm")
from snakemake_executor_plugin_slurm.submit_string import get_submit_command  # noqa: E402
from snakemake_executor_plugin_slurm.utils import set_gres_string  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROFILE = yaml.safe_load((ROOT / "workflow/profiles/slurm/config.yaml").read_text())


class Resources(dict):
    """Snakemake's job resources as the plugin reads them: .get() and attributes."""
    __getattr__ = dict.get


class TrainingJob:
    """A paper-scale training job: the profile's resources for its rule, 4 GPUs, 8 threads."""
    name, wildcards, threads = "train_and_evaluate", ["abc123def456"], 8

    def __init__(self):
        self.resources = Resources({**PROFILE["default-resources"],
                                    **PROFILE["set-resources"]["train_and_evaluate"], "gpu": 4})

    def is_group(self):
        return False


def _sbatch(job) -> str:
    settings = type("Settings", (), {"requeue": PROFILE.get("slurm-requeue", False), "no_requeue": False,
                                     "qos": None, "reservation": None})()
    params = {"run_uuid": "u", "slurm_logfile": "log", "comment_str": "c", "account": "",
              "partition": "", "workdir": "."}
    return get_submit_command(job, params, settings=settings) + set_gres_string(job)


def test_gpu_training_is_one_node_with_its_gpus():
    # --gpus=4 without --nodes=1 may be split over nodes, and torchrun --standalone fails
    call = _sbatch(TrainingJob())
    assert "--nodes=1" in call.split() and re.search(r"--gpus=4\b", call), call
    assert "--cpus-per-task=32" in call and "--mem 128000" in call, call


def test_jobs_ask_to_be_requeued():
    # without --requeue, a job preempted on a cluster with JobRequeue=0 ends PREEMPTED, which
    # snakemake-executor-plugin-slurm keeps waiting on
    assert "--requeue" in _sbatch(TrainingJob()).split()


def test_every_template_field_of_the_cluster_config_is_filled():
    template = (ROOT / "workflow/slurm/slurm.conf.in").read_text()
    script = (ROOT / "workflow/slurm/local_cluster.sh").read_text()
    fields = set(re.findall(r"@([A-Z_]+)@", template))
    filled = set(re.findall(r"s#@([A-Z_]+)@#", script))
    assert fields and fields <= filled, f"not filled by local_cluster.sh: {fields - filled}"
    assert subprocess.run(["bash", "-n", str(ROOT / "workflow/slurm/local_cluster.sh")]).returncode == 0
