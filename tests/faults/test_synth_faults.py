"""`tcclip synth` when the folder, the user or the machine misbehaves: a user's files are never
deleted or overwritten, one writer per folder, Ctrl-C and a dead worker leave the previous
benchmark as it was, each with one line on stderr. Real renders into real folders."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from data_fixtures import TINY_SEED, synth_tiny  # noqa: F401
from tcclip.cli import main
from tcclip.synth.generator import SynthBenchmark
from tcclip.synth.files import LOCK_NAME, STAGING_NAME, verify


def synth(out: Path, seed: int = TINY_SEED, *extra: str) -> int:
    return main(["synth", "--out", str(out), "--size", "tiny", "--seed", str(seed), "--no-images", "--workers", "1",
                 "--quiet", *extra])


def copy_of(benchmark: Path, tmp_path: Path) -> Path:
    """A private copy of the session's tiny benchmark (seed TINY_SEED, with images)."""
    return Path(shutil.copytree(benchmark, tmp_path / "bench"))


def listed(out: Path) -> dict[str, str]:
    return json.loads((out / "manifest.json").read_text())["files"]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file's bytes, but the lock file (it holds the last writer's PID)."""
    files = (p for p in sorted(folder.rglob("*")) if p.is_file() and p.name != LOCK_NAME)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in files}


def start_synth(out: Path, *args: str) -> subprocess.Popen:
    """A real `tcclip synth` in its own process group, as a terminal would start it."""
    command = [sys.executable, "-m", "tcclip", "synth", "--out", str(out), "--quiet", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for(condition, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def rendering_started(out: Path) -> bool:
    return any((out / STAGING_NAME).rglob("*.mp4"))


def test_regeneration_replaces_its_own_files_and_keeps_the_users(synth_tiny, tmp_path):  # noqa: F811
    out = copy_of(synth_tiny, tmp_path)
    old = listed(out)
    mine = {"notes.txt": b"my notes\n", "videos/mine.mp4": b"not generated", "splits/my_list.txt": b"a.mp4 0\n"}
    for rel, data in mine.items():
        (out / rel).write_bytes(data)
    assert synth(out, TINY_SEED + 1) == 0
    new = listed(out)
    assert set(old) - set(new), "another seed should name other videos"
    after = snapshot(out)
    assert all(after[rel] == data for rel, data in mine.items())
    assert set(after) == set(new) | set(mine) | {"manifest.json"}  # the old benchmark's other files are gone
    assert verify(out)[0]


def test_a_folder_without_a_manifest_is_not_a_benchmark(tmp_path, capsys):
    out = tmp_path / "mine"
    (out / "videos").mkdir(parents=True)
    (out / "videos" / "holiday.mp4").write_bytes(b"precious")
    (out / "labels.csv").write_text("id,name\n")
    before = snapshot(out)
    assert synth(out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds no manifest.json" in err[0] and str(out) in err[0]
    assert snapshot(out) == before and not (out / LOCK_NAME).exists()


def test_a_users_file_where_the_benchmark_goes_is_named_and_kept(synth_tiny, tmp_path, capsys):  # noqa: F811
    out = copy_of(synth_tiny, tmp_path)
    before_fingerprint = json.loads((out / "manifest.json").read_text())["fingerprint"]
    old = listed(out)
    bench = SynthBenchmark(out, TINY_SEED + 1, "tiny")
    bench.plan_videos()
    rel = next(r for r in (Path(j.path).relative_to(out).as_posix() for j in bench.video_jobs) if r not in old)
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    (out / rel).write_bytes(b"the user's own clip")
    start = time.perf_counter()
    assert synth(out, TINY_SEED + 1) == 2
    assert time.perf_counter() - start < 5  # refused before rendering
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and rel in err[0] and "not written by tcclip synth" in err[0]
    assert (out / rel).read_bytes() == b"the user's own clip"
    assert verify(out) == (True, verify(out)[1]) and before_fingerprint in verify(out)[1]


def test_a_manifest_that_lists_no_files_is_refused(tmp_path, capsys):
    out = tmp_path / "old"
    (out / "videos").mkdir(parents=True)
    (out / "videos" / "a.mp4").write_bytes(b"from version 1, or the user's")
    (out / "manifest.json").write_text(json.dumps({"generator": "tcclip-synth", "version": 1}))
    before = snapshot(out)
    assert synth(out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lists no files" in err[0]
    assert snapshot(out) == before


def test_verify_names_changed_and_missing_files(synth_tiny, tmp_path, capsys):  # noqa: F811
    out = copy_of(synth_tiny, tmp_path)
    assert main(["synth", "--verify", str(out)]) == 0
    video = next(rel for rel in listed(out) if rel.endswith(".mp4"))
    data = bytearray((out / video).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (out / video).write_bytes(bytes(data))
    (out / "labels" / "k400_labels.csv").unlink()
    capsys.readouterr()
    assert main(["synth", "--verify", str(out)]) == 1
    line = capsys.readouterr().out.strip()
    assert "1 changed" in line and video in line and "1 missing" in line and "labels/k400_labels.csv" in line


@pytest.mark.slow
def test_a_second_synth_into_the_same_folder_names_the_first_ones_pid(tmp_path):
    out = tmp_path / "bench"
    first = start_synth(out, "--size", "small", "--no-images", "--workers", "1")
    try:
        wait_for(lambda: (out / LOCK_NAME).exists() and (out / LOCK_NAME).read_text().strip() == str(first.pid),
                 "the first synth to take the lock")
        second = subprocess.run([sys.executable, "-m", "tcclip", "synth", "--out", str(out), "--size", "tiny", "--quiet"],
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and f"PID {first.pid}" in lines[0], second.stderr
        assert first.poll() is None  # the first one was not disturbed
    finally:
        os.killpg(first.pid, signal.SIGINT)
        first.communicate(timeout=120)
    assert first.returncode == 130


def rendering_over(benchmark, tmp_path):
    """A copy of ``benchmark``, its snapshot, and a 2-worker render of another benchmark over it
    that has started rendering (for a test to interrupt)."""
    out = copy_of(benchmark, tmp_path)
    before = snapshot(out)
    run = start_synth(out, "--size", "small", "--seed", "1", "--no-images", "--workers", "2")
    wait_for(lambda: rendering_started(out), "rendering to start")
    return out, before, run


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_and_leaves_the_previous_benchmark(synth_tiny, tmp_path):  # noqa: F811
    out, before, run = rendering_over(synth_tiny, tmp_path)
    workers = psutil.Process(run.pid).children(recursive=True)
    os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "interrupted" in lines[0], err
    _, alive = psutil.wait_procs(workers, timeout=10)  # the resource tracker may take a moment after its parent
    assert not alive, [p.cmdline() for p in alive]
    assert snapshot(out) == before  # no staging folder, no temporary file, the old benchmark intact
    assert verify(out)[0]


@pytest.mark.slow
def test_a_worker_that_dies_is_one_line_and_changes_nothing(synth_tiny, tmp_path):  # noqa: F811
    out, before, run = rendering_over(synth_tiny, tmp_path)
    workers = [p for p in psutil.Process(run.pid).children() if "spawn_main" in " ".join(p.cmdline())]
    assert workers
    workers[0].kill()  # what the kernel's OOM killer does
    _, err = run.communicate(timeout=120)
    assert run.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "worker process of tcclip synth died" in lines[0], err
    assert snapshot(out) == before
