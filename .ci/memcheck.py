#!/usr/bin/env python3
"""Render clips and images of the synthetic benchmark under valgrind's memcheck and fail on any
read of uninitialised memory outside CPython itself.

Why: a library that reads memory it never wrote (x264's macroblock tree did, see
tcclip/data/video.py) makes a file's bytes depend on what the process ran before, so the same
benchmark rendered with another worker count or on another CPU can differ. Such a read only
shows on some machines; memcheck sees it on every machine.

    python .ci/memcheck.py            # the renderer as shipped: no report may come from x264,
                                      # libav*, numpy, Pillow, zlib or decord
    python .ci/memcheck.py --control  # x264 with macroblock tree on: the reads must be found
                                      # (shows that the check can fail)

Installs valgrind with apt where it is missing (needs root); where it cannot, prints one line
"memcheck skipped: ..." and exits 0. CPython's own reports (PYTHONMALLOC=malloc leaves a few,
in the interpreter and the dynamic loader) are counted, not judged.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# libraries whose reads decide the benchmark's bytes (matched against each stack frame's object)
JUDGED = ("libx264", "libavcodec", "libavformat", "libavutil", "libswscale", "numpy", "PIL", "pillow",
          "libz", "decord")
ERROR_KINDS = ("UninitCondition", "UninitValue", "SyscallParam", "InvalidRead")

RENDER = """
import os, sys
from tcclip.data import video
from tcclip.synth.generator import SynthBenchmark, _render_image, _render_video
if {control}:
    video._X264_PARAMS = video._X264_PARAMS.replace("mbtree=0", "mbtree=1")
bench = SynthBenchmark(sys.argv[1], seed=3, size="tiny")
bench.plan_videos()
image_jobs, _ = bench._plan_images()
for job in bench.video_jobs[:{videos}]:
    _render_video(job)
for job in image_jobs[:{images}]:
    os.makedirs(os.path.dirname(job.path), exist_ok=True)
    _render_image(job)
"""


def skip(why: str) -> None:
    print(f"memcheck skipped: {why}", file=sys.stderr)
    sys.exit(0)


def ensure_valgrind() -> str:
    found = shutil.which("valgrind")
    if found:
        return found
    if not shutil.which("apt-get") or os.geteuid() != 0:
        skip("valgrind is not installed and apt-get as root is not available to install it")
    print("installing valgrind with apt", file=sys.stderr)
    log = Path(tempfile.gettempdir()) / "memcheck-apt.log"
    with log.open("w") as out:
        ok = (subprocess.run(["apt-get", "update", "-qq"], stdout=out, stderr=out).returncode == 0
              and subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "valgrind"],
                                 stdout=out, stderr=out, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
                                 ).returncode == 0)
    if not ok or not shutil.which("valgrind"):
        skip(f"apt-get install valgrind failed (log: {log})")
    return shutil.which("valgrind")


def run_under_memcheck(valgrind: str, xml: Path, out: Path, args: argparse.Namespace) -> None:
    code = RENDER.format(control=args.control, videos=args.videos, images=args.images)
    env = {**os.environ, "PYTHONMALLOC": "malloc", "OMP_NUM_THREADS": "1"}
    command = [valgrind, "--tool=memcheck", "--error-limit=no", "--num-callers=40", "--xml=yes",
               f"--xml-file={xml}", sys.executable, "-c", code, str(out)]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"memcheck: the render under valgrind exited {done.returncode}:\n{done.stderr[-2000:]}")


def judged_library(error: ET.Element) -> str | None:
    """The first judged library on the error's stack, or None for CPython's own reports."""
    for frame in error.iter("frame"):
        obj = frame.findtext("obj") or ""
        for name in JUDGED:
            if name in Path(obj).name or f"/{name}" in obj:
                return name
    return None


def count_reports(xml: Path) -> tuple[collections.Counter, int]:
    judged, cpython = collections.Counter(), 0
    for error in ET.parse(xml).getroot().iter("error"):
        if (error.findtext("kind") or "") not in ERROR_KINDS:
            continue
        library = judged_library(error)
        if library is None:
            cpython += 1
        else:
            judged[library] += 1  # one per distinct stack (valgrind folds repeats)
    return judged, cpython


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=4, help="clips of the tiny benchmark (seed 3) to render")
    parser.add_argument("--images", type=int, default=4, help="pretraining images to render")
    parser.add_argument("--control", action="store_true", help="x264 with macroblock tree on: reads must be found")
    args = parser.parse_args()
    valgrind = ensure_valgrind()
    with tempfile.TemporaryDirectory(prefix="memcheck-") as tmp:
        xml = Path(tmp) / "memcheck.xml"
        run_under_memcheck(valgrind, xml, Path(tmp) / "bench", args)
        judged, cpython = count_reports(xml)
    what = f"{args.videos} clips and {args.images} images" + (" with x264's macroblock tree on" if args.control else "")
    found = ", ".join(f"{lib}: {n}" for lib, n in judged.most_common()) or "none"
    print(f"memcheck, {what}: uninitialised or invalid reads in judged libraries: {found} "
          f"(CPython's and the dynamic loader's own, not judged: {cpython})")
    if args.control and not judged["libx264"]:
        sys.exit("memcheck control failed: x264 with macroblock tree on showed no uninitialised read, "
                 "so this check could not have caught it")
    if not args.control and judged:
        sys.exit("memcheck failed: a library read memory it never wrote while rendering the benchmark; "
                 "its output can differ between processes and CPUs")


if __name__ == "__main__":
    main()
