"""What the machine, not the input, does wrong: Ctrl-C, a scheduler's SIGTERM, a second writer
of a run, a full or read-only disk, another user's folder, a data-loader worker that dies.
Each is one `tcclip:` line on stderr (exit 2, 130 for Ctrl-C, 143 for SIGTERM), nothing
half-written under a final name, and a rerun of the same command resumes.

Real subprocesses and real signals; the disk cases mount a real tmpfs (root only) and the
other-user case drops root's permission-override capabilities (setpriv), so file modes apply.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_fixtures import fast_run_args, only_run, synth_tiny  # noqa: F401
from tcclip.engine.checkpoint import LAST, load_checkpoint
from tcclip.cli import main

pytestmark = pytest.mark.slow
ENV = {**os.environ, "TCCLIP_THREADS": "1"}


def tcclip_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("tcclip:")]


def start_train(args: list[str], prefix: list[str] = ()) -> subprocess.Popen:
    return subprocess.Popen([*prefix, sys.executable, "-m", "tcclip.cli", "train", *args], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(proc: subprocess.Popen, output: Path, timeout: float = 240) -> Path:
    """The run's checkpoints/last.pt once epoch 1 is saved (the process still running)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        found = list(output.glob("*/checkpoints/last.pt"))
        if found:
            return found[0]
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"no checkpoint before the run ended: {proc.communicate()[1][-2000:]}")


def no_partial_files(run: Path) -> bool:
    return not list(run.rglob(".*.tmp"))


@pytest.mark.parametrize("sig,code,line", [
    (signal.SIGINT, 130, "tcclip: interrupted; rerun the same command to resume"),  # Ctrl-C
    (signal.SIGTERM, 143, "tcclip: terminated (SIGTERM); rerun the same command to resume"),  # time limit
])
def test_an_interrupted_training_says_so_in_one_line_and_resumes(synth_tiny, tmp_path, sig, code, line):
    args = fast_run_args(synth_tiny / "catalog.yaml", tmp_path, "train.epochs=4")
    proc = start_train(args)
    last = wait_for_checkpoint(proc, tmp_path)
    time.sleep(0.3)  # into the next epoch
    proc.send_signal(sig)
    try:  # a scheduler sends SIGKILL after its grace time (SLURM's KillWait: 30 s): it must exit before
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code, stderr[-2000:]
    assert tcclip_lines(stderr) == [line] and "Traceback" not in stderr
    run = last.parent.parent
    assert not (run / "train.json").exists(), "the run finished before the signal"
    assert no_partial_files(run)
    done = load_checkpoint(last)["epoch"]
    assert 1 <= done < 4
    assert main(["train", *args]) == 0  # the same command resumes
    assert f"resumed from {last}: {done} of 4 epochs done" in (run / "train.log").read_text()
    assert load_checkpoint(last)["epoch"] == 4


def test_a_second_writer_of_a_run_is_stopped_naming_the_pid_and_the_lock_dies_with_its_process(
        synth_tiny, tmp_path, capsys):
    """The orphan of a killed Snakemake still trains; `snakemake --unlock` and a rerun start a
    second training of the same run: it stops with one line naming the orphan's PID."""
    args = fast_run_args(synth_tiny / "catalog.yaml", tmp_path, "train.epochs=4")
    orphan = start_train(args)
    try:
        last = wait_for_checkpoint(orphan, tmp_path)
        run = last.parent.parent
        capsys.readouterr()
        assert main(["train", *args]) == 2
        err = capsys.readouterr().err
        assert len(tcclip_lines(err)) == 1 and "Traceback" not in err
        assert f"{run}: another process is writing this run: PID {orphan.pid} (training: tcclip train" in err
        assert main(["evaluate", str(run), "eval.batch_size=12"]) == 2  # an evaluation is a writer too
        assert f"PID {orphan.pid}" in capsys.readouterr().err
        assert f"pid={orphan.pid} " in (run / ".tcclip.lock").read_text()  # what README tells to check
        assert orphan.poll() is None, "the orphan was disturbed by the refused writers"
    finally:
        orphan.kill()  # kill -9: the kernel drops its lock
        orphan.wait()
    assert main(["train", *args]) == 0  # now the rerun resumes
    assert load_checkpoint(last)["epoch"] == 4


def test_a_dead_data_loader_worker_is_one_line_naming_the_list(synth_tiny, tmp_path):
    args = fast_run_args(synth_tiny / "catalog.yaml", tmp_path, "train.workers=1", "train.epochs=4")
    proc = start_train(args)
    killed = None
    deadline = time.time() + 240
    while killed is None and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        for pid in " ".join(p.read_text() for p in Path(f"/proc/{proc.pid}/task").glob("*/children")).split():
            try:
                os.kill(int(pid), signal.SIGKILL)  # as the out-of-memory killer would
                killed = pid
                break
            except ProcessLookupError:  # an epoch's worker that just finished
                continue
    assert killed, "no worker process appeared"
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2, stderr[-2000:]
    (line,) = tcclip_lines(stderr)
    assert "Traceback" not in stderr
    assert f"a data-loader worker process died while loading {synth_tiny}" in line
    # torch notices it by SIGCHLD ('is killed by signal: Killed') or by a timed-out queue ('exited unexpectedly')
    assert f"(pid {killed} is killed by signal: Killed)" in line or f"(pid {killed} exited unexpectedly)" in line, line
    assert "lower train.workers" in line


@pytest.fixture
def corrupt_copy(synth_tiny, tmp_path):  # noqa: F811
    copy = tmp_path / "synth"
    shutil.copytree(synth_tiny, copy)
    rel = (copy / "splits" / "hmdb51_splits" / "val1.txt").read_text().splitlines()[0].rsplit(" ", 1)[0]
    (copy / "videos" / "hmdb51" / rel).write_bytes(b"")
    return copy


def test_a_bad_video_read_by_a_worker_is_the_same_one_line_error(corrupt_copy, tmp_path, capsys):
    lines = {}
    for workers in (0, 2):
        capsys.readouterr()
        assert main(["run", "--config", "embedded", f"protocol.catalog={corrupt_copy / 'catalog.yaml'}",
                     f"output={tmp_path / 'runs'}", "model.preset=vanilla_clip", "model.backbone.weights=null",
                     "train.epochs=0", "data.num_frames=2", f"eval.workers={workers}"]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        (lines[workers],) = tcclip_lines(err)
    assert lines[2] == lines[0]
    assert "file is empty (0 bytes)" in lines[2] and "val1.txt:1)" in lines[2]


# ---------------------------------------------------------------- disks (a real tmpfs)
@pytest.fixture
def tmpfs(tmp_path):
    """mount(size) -> a fresh tmpfs folder of that many bytes; remount(path, options)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)")
    mounted = []

    def mount(size: int) -> Path:
        target = tmp_path / f"fs{len(mounted)}"
        target.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
                                capture_output=True, text=True)
        if result.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(target)
        return target

    def remount(target: Path, options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(target)], check=True)

    yield mount, remount
    for target in mounted:
        subprocess.run(["umount", "-l", str(target)], check=False)


def checkpoint_bytes(args: list[str]) -> int:
    from tcclip.engine.checkpoint import state_bytes
    from tcclip.model.video_clip import VideoCLIP
    from tcclip.engine.run_config import resolve_run_config

    config = resolve_run_config(["embedded"], [a for a in args if "=" in a])
    return state_bytes(VideoCLIP.build(config.model))


def test_a_node_without_free_disk_is_refused_before_training(synth_tiny, tmpfs, capsys):
    mount, _ = tmpfs
    disk = mount(1 << 20)  # 1 MiB: the run folder and its config fit, a checkpoint does not
    assert main(["train", *fast_run_args(synth_tiny / "catalog.yaml", disk)]) == 2
    err = capsys.readouterr().err
    (line,) = tcclip_lines(err)
    assert "MB free on its disk, its checkpoints need about" in line and str(disk) in line
    assert "epoch 1/" not in err  # refused before any compute
    assert not list(disk.rglob("*.pt"))


def test_a_disk_that_fills_up_mid_run_keeps_the_last_checkpoint_and_resumes(synth_tiny, tmpfs, capsys):
    mount, remount = tmpfs
    # last.pt's story: no best-epoch selection, whose best.pt would need room of its own
    args_for = lambda out: fast_run_args(synth_tiny / "catalog.yaml", out, "eval.checkpoint=last",  # noqa: E731
                                         "eval.select_on=null")
    size = checkpoint_bytes(args_for(Path("/x")))
    disk = mount(int(size * 1.5))  # room for epoch 1's checkpoint, not for epoch 2's beside it
    args = args_for(disk)
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err
    (line,) = tcclip_lines(err)
    assert "Traceback" not in err
    run = only_run(disk)
    assert line.startswith(f"tcclip: error: {run / 'checkpoints'}/") and "no space left on device while writing" in line
    assert "nothing half-written, its previous version is kept" in line and "df -h" in line
    assert no_partial_files(run)
    assert load_checkpoint(run / "checkpoints" / LAST)["epoch"] == 1  # whole, and still the last good one
    remount(disk, f"size={size * 4}")  # space freed
    assert main(["train", *args]) == 0
    assert load_checkpoint(run / "checkpoints" / LAST)["epoch"] == 3


def test_a_read_only_output_folder_is_one_line_before_any_compute(synth_tiny, tmp_path, tmpfs, capsys):
    mount, remount = tmpfs
    disk = mount(1 << 20)
    remount(disk, "ro")
    assert main(["train", *fast_run_args(synth_tiny / "catalog.yaml", disk)]) == 2
    err = capsys.readouterr().err
    assert tcclip_lines(err) == [f"tcclip: error: {disk}/{only_id(synth_tiny, disk)}: read-only file system; "
                                 "choose a writable folder (output=... or --out)"]
    assert "Traceback" not in err and "run " not in err  # nothing started


def only_id(synth, output) -> str:
    from tcclip.engine.run_config import resolve_run_config, run_id

    return run_id(resolve_run_config(["embedded"], [a for a in fast_run_args(synth / "catalog.yaml", output)
                                                     if "=" in a]))


def test_an_output_folder_that_cannot_be_created_is_one_line(synth_tiny, tmp_path, capsys):
    blocker = tmp_path / "results"
    blocker.write_text("a file where the output folder should be\n")
    assert main(["train", *fast_run_args(synth_tiny / "catalog.yaml", blocker / "runs")]) == 2
    err = capsys.readouterr().err
    (line,) = tcclip_lines(err)
    assert line.startswith(f"tcclip: error: {blocker}/runs") and "not a folder" in line and "Traceback" not in err


# ---------------------------------------------------------------- two users, one results folder
OTHER_USER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def test_two_users_sharing_a_results_folder(synth_tiny, tmp_path):
    """User A's finished run (files owned by A, mode 755/644); user B (here: root without the
    capabilities that override file modes) may evaluate it into B's own folder, but neither
    retrain it nor write its metrics: one line each, naming the folder."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("acting as another user needs root and setpriv")
    shared = tmp_path / "shared"
    args = fast_run_args(synth_tiny / "catalog.yaml", shared, "train.epochs=1")
    assert main(["train", *args]) == 0
    run = only_run(shared)
    subprocess.run(["chown", "-R", "4321:4321", str(shared)], check=True)  # user A's
    mine = tmp_path / "mine"
    mine.mkdir()

    def as_b(*command: str) -> subprocess.CompletedProcess:
        return subprocess.run([*OTHER_USER, sys.executable, "-m", "tcclip.cli", *command], env=ENV,
                              capture_output=True, text=True, timeout=300)

    retrain = as_b("train", *args)
    assert retrain.returncode == 2 and "Traceback" not in retrain.stderr
    assert tcclip_lines(retrain.stderr) == [
        f"tcclip: error: {run}: permission denied (a writer of this run needs to create files in it); "
        f"check its owner and mode (ls -ld {shared}) or choose a folder you can write"]
    evaluate_there = as_b("evaluate", str(run), "eval.batch_size=12")
    assert evaluate_there.returncode == 2 and "permission denied" in tcclip_lines(evaluate_there.stderr)[0]
    evaluate_here = as_b("evaluate", str(run), "eval.batch_size=12", "--out", str(mine / "metrics.json"))
    assert evaluate_here.returncode == 0, evaluate_here.stderr[-2000:]
    assert json.loads((mine / "metrics.json").read_text())["run_id"] == run.name
    assert not (run / "metrics.json").exists()


FINALIZER_INTERRUPT = """
import signal, sys
from tcclip import system_errors

class Finalized:
    def __del__(self):
        system_errors._interrupt(signal.SIGINT, None)  # what the handler does when the signal lands here

try:
    with system_errors.interrupts_remembered():
        Finalized()  # collected at once: the exception of its __del__ is unraisable
        assert system_errors._RECEIVED == [signal.SIGINT]
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_an_interrupt_that_lands_in_a_finalizer_prints_no_traceback_and_still_stops():
    """Ctrl-C inside decord's VideoReader.__del__: Python swallows the KeyboardInterrupt and
    prints 'Exception ignored ... Traceback'; the CLI keeps one line and raises it again.
    In a subprocess: pytest's own unraisable hook would hide what a user sees."""
    done = subprocess.run([sys.executable, "-c", FINALIZER_INTERRUPT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 130, done.stderr
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_worker_killed_between_epochs_is_named_by_its_pid():
    """Persistent workers live on after an epoch's iteration (validation, checkpoint saving):
    torch reports their death outside the loop, where no list is being loaded."""
    from tcclip.system_errors import LOADING, WORKER_LISTS, worker_death

    assert not LOADING
    WORKER_LISTS["4242"] = "splits/k400_train.txt"
    try:
        line = worker_death(RuntimeError("DataLoader worker (pid(s) 4242) exited unexpectedly"))
    finally:
        del WORKER_LISTS["4242"]
    assert line.startswith("a data-loader worker process died while loading splits/k400_train.txt (pid 4242 ")


def test_a_loader_records_its_workers_lists(synth_tiny):  # noqa: F811
    from tcclip.data.catalog import Catalog
    from tcclip.data.dataset import DataConfig, VideoDataset, build_loader
    from tcclip.system_errors import WORKER_LISTS

    spec = Catalog.load(synth_tiny / "catalog.yaml").split("hmdb51", "val1")
    dataset = VideoDataset.from_split(spec, DataConfig(num_frames=2, input_size=32, short_side=36))
    loader = build_loader(dataset, batch_size=4, num_workers=1)
    next(iter(loader))
    pids = [str(w.pid) for w in loader._iterator._workers]
    assert pids and all(WORKER_LISTS[pid] == str(spec.annotation_list) for pid in pids)
