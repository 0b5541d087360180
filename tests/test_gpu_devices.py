"""`tcclip gpus N -- COMMAND` (issue #16 item 4): concurrent local GPU jobs get distinct devices.
Snakemake's --resources gpu=N only counted GPUs; every job saw all of them and ran on GPU 0.
Checked without CUDA: the pool is TCCLIP_GPUS, the command prints CUDA_VISIBLE_DEVICES."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tcclip.engine.gpus import claim, release, try_claim
from tcclip.errors import TcclipError


def test_claims_are_disjoint_and_released(tmp_path):
    pool = ["0", "1", "2"]
    first = try_claim(pool, 2, tmp_path)
    second = try_claim(pool, 1, tmp_path)
    assert [d for d, _ in first] == ["0", "1"] and [d for d, _ in second] == ["2"]
    assert try_claim(pool, 1, tmp_path) is None  # all held: nothing is taken twice
    release(first)
    again = try_claim(pool, 2, tmp_path)
    assert [d for d, _ in again] == ["0", "1"]
    assert try_claim(pool, 1, tmp_path) is None
    release(again + second)
    with pytest.raises(TcclipError, match="3 GPUs asked, this machine shares out 2"):
        claim(["0", "1"], 3, tmp_path)


SHOW = "import os, time; print(os.environ.get('CUDA_VISIBLE_DEVICES'), flush=True); time.sleep({})"


def gpus_job(count: int, seconds: float, tmp_path, **env) -> subprocess.Popen:
    environment = {**os.environ, "TCCLIP_GPUS": "0,1", "TCCLIP_GPU_LOCKS": str(tmp_path / "locks"), **env}
    command = [sys.executable, "-m", "tcclip", "gpus", str(count), "--", sys.executable, "-c", SHOW.format(seconds)]
    return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_concurrent_jobs_get_their_own_devices_and_wait_for_free_ones(tmp_path):
    first = gpus_job(1, 30, tmp_path)
    assert first.stdout.readline().strip() == "0"  # it holds GPU 0 from now until it ends
    second = gpus_job(1, 0, tmp_path)
    assert second.communicate(timeout=120)[0].strip() == "1"
    both = gpus_job(2, 0, tmp_path)  # GPU 0 is still held: it waits
    time.sleep(8)
    assert both.poll() is None
    first.kill()  # a killed job frees its device (the kernel drops the lock)
    first.wait()
    out, err = both.communicate(timeout=120)
    assert out.strip() == "0,1" and "waiting for 2 of GPUs 0,1" in err
    slurm = gpus_job(2, 0, tmp_path, CUDA_VISIBLE_DEVICES="3")  # set by Slurm: left as it is
    assert slurm.communicate(timeout=120)[0].strip() == "3"
    none = gpus_job(0, 0, tmp_path)
    assert none.communicate(timeout=120)[0].strip() == "None"


def test_a_machine_without_gpus_runs_the_command_on_cpus(tmp_path):
    """The paper-scale rehearsal asks for 2 GPUs (2 gloo processes) on a machine with none."""
    import torch

    if torch.cuda.device_count() > 0:
        pytest.skip("this machine has CUDA devices: its pool is not empty")
    environment = {k: v for k, v in os.environ.items() if k not in ("TCCLIP_GPUS", "CUDA_VISIBLE_DEVICES")}
    environment["TCCLIP_GPU_LOCKS"] = str(tmp_path / "locks")
    command = [sys.executable, "-m", "tcclip", "gpus", "2", "--", sys.executable, "-c", SHOW.format(0)]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "None"
    assert "no GPU on this machine; 2 asked, the command runs on CPUs" in done.stderr
