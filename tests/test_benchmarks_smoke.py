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
@pytest.mark.parametrize("script", ["text_vp.py", "strategies.py", "flops.py"])
def test_quick_mode_exits_zero(script):
    env = {**os.environ, "TCCLIP_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"{script} --quick exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "RESULT: ok" in proc.stdout
