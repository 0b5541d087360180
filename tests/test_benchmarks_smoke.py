"""The benchmark scripts' --quick modes run and exit 0 (figures are not checked here).

Each runs as its own process, as a user would run it, on one thread. The full runs
(minutes each) and their figures are in benchmarks/README.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.parametrize("script", ["text_vp.py", "strategies.py", "flops.py", "gpu_throughput.py", "cpu_amp.py"])
def test_quick_mode_exits_zero(script):
    env = {**os.environ, "TCCLIP_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"{script} --quick exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "RESULT: ok" in proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize("mode, variants", [([], ["frame", "cross_frame", "window", "joint", "tc"]),
                                            (["--finetune", "2", "--batch", "8", "--variants", "joint"], ["joint"])],
                         ids=["linear", "finetune"])
def test_relational_probe_reports_every_variant(tmp_path, mode, variants):
    """benchmarks/relational_probe.py on a randomly initialised tiny CLIP, a few clips: one line per variant."""
    import torch

    from tcclip.model.backbone import BackboneConfig, build_clip

    weights = tmp_path / "clip.pt"
    torch.save(build_clip(BackboneConfig(arch="tiny-clip-p16", fp16_round=False)).state_dict(), weights)
    env = {**os.environ, "TCCLIP_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "relational_probe.py"), "--clip", str(weights),
         "--train", "32", "--test", "16", "--steps", "5", *mode],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    lines = proc.stdout.splitlines()
    assert "chance 11.11%" in lines[0]  # 9 relational classes
    assert all("colour relation" in line and "backdrop relation" in line for line in lines[1:])
    assert [line.split()[0] for line in lines[1:]] == variants
