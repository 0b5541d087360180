"""Killed trainings (mid-epoch, and inside a checkpoint write) resume to the same result;
runs that diverge stop, and are never scored as accuracy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from data_fixtures import fast_run_args, only_run, synth_tiny  # noqa: F401
from tcclip.engine.checkpoint import BEST, LAST, atomic_torch_save, load_checkpoint
from tcclip.cli import main
from tcclip.errors import TcclipError

pytestmark = pytest.mark.slow

# Runs `tcclip train` with torch.save replaced: the save of epoch 2's last.pt writes half of
# its bytes to the temporary file, then the process SIGKILLs itself (no cleanup runs).
DIE_WHILE_SAVING = textwrap.dedent("""
    import io, os, signal, sys
    import torch
    real_save = torch.save
    def dying_save(obj, handle, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("epoch") == 2 and "optimizer" in obj:  # last.pt's training state
            buffer = io.BytesIO()
            real_save(obj, buffer, *args, **kwargs)
            data = buffer.getvalue()
            handle.write(data[: len(data) // 2])
            handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return real_save(obj, handle, *args, **kwargs)
    torch.save = dying_save
    from tcclip.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def results(run: Path) -> list:
    return [(r["key"], r["top1"], r["top5"]) for r in json.loads((run / "metrics.json").read_text())["results"]]


def test_sigkill_mid_epoch_then_resume_gives_the_same_result(synth_tiny, tmp_path, monkeypatch):
    # Bitwise equality needs the same thread count in the killed (subprocess) and the in-process
    # runs; threads are set once per process, so ask this process what it will use.
    from tcclip.engine.runtime import configure_threads

    monkeypatch.setenv("TCCLIP_THREADS", "1")
    threads = configure_threads()
    catalog = synth_tiny / "catalog.yaml"
    args = fast_run_args(catalog, tmp_path / "killed", "train.epochs=4")
    env = {**os.environ, "TCCLIP_THREADS": str(threads)}
    proc = subprocess.Popen([sys.executable, "-m", "tcclip.cli", "train", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        last = None
        while time.time() < deadline and proc.poll() is None:
            found = list((tmp_path / "killed").glob("*/checkpoints/last.pt"))
            if found:
                last = found[0]
                break
            time.sleep(0.05)
        assert last is not None, "no checkpoint appeared before the run ended"
        time.sleep(0.3)  # into the next epoch
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    run = last.parent.parent
    assert not (run / "train.json").exists(), "the run finished before it was killed"
    epochs_done = load_checkpoint(last)["epoch"]
    assert 1 <= epochs_done < 4
    assert main(["train", *args]) == 0  # --resume auto is the default
    assert main(["evaluate", str(run)]) == 0

    straight = tmp_path / "straight"
    assert main(["train", *fast_run_args(catalog, straight, "train.epochs=4")]) == 0
    assert main(["evaluate", str(only_run(straight))]) == 0
    resumed_state = load_checkpoint(run / "checkpoints/last.pt")
    straight_state = load_checkpoint(only_run(straight) / "checkpoints/last.pt")
    assert all(torch.equal(resumed_state["model"][k], straight_state["model"][k]) for k in straight_state["model"])
    assert results(run) == results(only_run(straight))
    assert [h["loss"] for h in resumed_state["history"]] == [h["loss"] for h in straight_state["history"]]


def test_kill_while_writing_a_checkpoint_keeps_the_previous_one_and_resumes_exactly(synth_tiny, tmp_path, monkeypatch, capsys):
    from tcclip.engine.runtime import configure_threads

    monkeypatch.setenv("TCCLIP_THREADS", "1")
    threads = configure_threads()  # bitwise equality needs the same thread count in both processes
    args = fast_run_args(synth_tiny / "catalog.yaml", tmp_path / "killed")
    env = {**os.environ, "TCCLIP_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, "-c", DIE_WHILE_SAVING, "train", *args], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == -9, proc.stderr[-2000:]
    run = only_run(tmp_path / "killed")
    checkpoints = run / "checkpoints"
    (partial,) = list(checkpoints.glob(".last.pt.*.tmp"))
    assert partial.stat().st_size > 0
    # what was kept: epoch 1's checkpoint, whole; the half-written file is never taken for it
    assert load_checkpoint(checkpoints / LAST)["epoch"] == 1
    with pytest.raises(TcclipError, match="cannot be read"):
        load_checkpoint(partial)
    assert not (run / "train.json").exists() and not (run / "metrics.json").exists()
    # an unfinished run is not evaluated
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 2
    assert "training has not finished (no train.json)" in capsys.readouterr().err

    assert main(["train", *args]) == 0  # restarted (as Snakemake would): resumes from epoch 1
    assert not list(checkpoints.glob(".*.tmp")), "the interrupted write is cleaned up on resume"
    assert main(["evaluate", str(run)]) == 0
    straight = tmp_path / "straight"
    assert main(["train", *fast_run_args(synth_tiny / "catalog.yaml", straight)]) == 0
    assert main(["evaluate", str(only_run(straight))]) == 0
    a, b = load_checkpoint(checkpoints / LAST), load_checkpoint(only_run(straight) / "checkpoints" / LAST)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in b["model"])
    assert results(run) == results(only_run(straight))


def test_nan_loss_stops_the_run_naming_the_step_and_nothing_is_scored(synth_tiny, tmp_path, capsys):
    args = fast_run_args(synth_tiny / "catalog.yaml", tmp_path, "train.lr=1e12", "train.warmup_epochs=0")
    assert main(["train", *args]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("tcclip: error:")]
    assert len(err) == 1, err  # one line, no traceback
    assert "loss is nan" in err[0] or "loss is inf" in err[0]
    assert "at epoch" in err[0] and "step" in err[0] and "lower train.lr" in err[0]
    run = only_run(tmp_path)
    assert not (run / "train.json").exists()
    assert main(["evaluate", str(run)]) == 2  # no accuracy for a run that stopped
    assert not (run / "metrics.json").exists()


@pytest.mark.parametrize("scored, overrides", [(BEST, []), (LAST, ["eval.checkpoint=last", "eval.select_on=null"])])
def test_checkpoint_with_non_finite_weights_is_not_scored(synth_tiny, tmp_path, capsys, scored, overrides):
    """Whichever checkpoint the run scores: the best epoch's (the protocol's) or the last (by name)."""
    args = fast_run_args(synth_tiny / "catalog.yaml", tmp_path, "train.epochs=1", *overrides)
    assert main(["train", *args]) == 0
    run = only_run(tmp_path)
    state = load_checkpoint(run / "checkpoints" / scored)
    key = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][key] = torch.full_like(state["model"][key], float("nan"))
    atomic_torch_save(state, run / "checkpoints" / scored)  # as if the update before it had diverged
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err
    assert "hold NaN/inf" in err and key in err and "diverged" in err
    assert not (run / "metrics.json").exists()
