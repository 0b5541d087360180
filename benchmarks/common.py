"""Shared helpers of the benchmark scripts: threads, timing, isolated runs, memory, tables.

Every script is run as ``python benchmarks/<name>.py [--quick]`` from the repository
root; it prints its figures last and exits 1 when a stated target is missed.

Conventions
- Threads: ``torch.set_num_threads`` from env ``TCCLIP_THREADS`` (default: all cores).
- Timings: wall clock (``time.perf_counter``), median of repeats; alternatives that are
  compared are run in the same process, one after another or round-robin, so that a
  ratio is measured under the same load.
- Memory (CPU): the peak resident set size of a *fresh* process (forked before any
  compute) during one step, above its resident size just before that step. The
  high-water mark is reset through ``/proc/self/clear_refs`` (Linux); where that is not
  possible, ``getrusage`` max RSS of the fresh process is used. It measures what the
  step adds to the process: activations kept for backward, gradients, optimiser state
  created by the first step, allocator slack; not the model weights.
- GFLOPs: ``torch.utils.flop_counter.FlopCounterMode`` counts 2 FLOPs per
  multiply-accumulate. Papers' "GFLOPs" (fvcore) count one per multiply-accumulate:
  tables print both, named GMACs and GFLOPs.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import resource
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from tabulate import tabulate  # noqa: E402

VIT_B16 = "ViT-B-16-quickgelu"
TINY = "tiny-clip-p8"

# Model variants compared across the benchmarks: (preset, overrides).
VARIANTS: dict[str, tuple[str, dict]] = {
    # ViFi-CLIP: frame-wise CLIP, mean over frames, hand-crafted prompt.
    "frame": ("vifi_clip", {}),
    # TC-CLIP's vision side only: TC attention, hand-crafted prompt (isolates the vision overhead).
    "tc_attn": ("tc_clip", {"text": {"prompt": "handcrafted"}}),
    # TC-CLIP: TC attention + video-conditional prompting over the context tokens.
    "tc": ("tc_clip", {}),
    # Joint space-time attention (TimeSformer-style, no extra bias), hand-crafted prompt.
    "joint": ("vifi_clip", {"vision": {"temporal": "joint"}}),
}
LABELS = {"frame": "frame-wise (ViFi-CLIP)", "tc_attn": "TC (vision only)", "tc": "TC-CLIP (TC + VP)",
          "joint": "joint space-time"}


# ------------------------------------------------------------------ threads and machine
def init_threads() -> int:
    """torch threads from env TCCLIP_THREADS (default: all cores); returns the count."""
    raw = os.environ.get("TCCLIP_THREADS", "").strip()
    n = int(raw) if raw else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, n))
    return torch.get_num_threads()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line: date, CPU, cores, threads, torch, GPU (if any), load average."""
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    try:
        load = "load avg %.1f %.1f %.1f" % os.getloadavg()
    except OSError:
        load = ""
    return (
        f"{date} · {cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads · "
        f"torch {torch.__version__} · {gpu} · {load}"
    )


def banner(title: str, argv: list[str] | None = None) -> None:
    """Title, the exact command (arguments after the script, or sys.argv itself) and the machine line."""
    env = f"TCCLIP_THREADS={os.environ['TCCLIP_THREADS']} " if os.environ.get("TCCLIP_THREADS") else ""
    if argv is None or (argv and argv[0] == sys.argv[0]):  # banner(title) or banner(title, sys.argv)
        argv = sys.argv[1:]
    cmd = env + " ".join(["python", os.path.relpath(sys.argv[0], ROOT)] + list(argv))
    print(f"== {title}")
    print(f"   command: {cmd}")
    print(f"   machine: {machine()}", flush=True)
    try:
        busy = os.getloadavg()[0] >= (os.cpu_count() or 1)
    except OSError:
        busy = False
    if busy and torch.get_num_threads() > 1:
        print("   warning: the machine is busy and torch uses several threads; on a shared machine "
              "TCCLIP_THREADS=1 avoids thread-oversubscription slow-downs (23x seen on the 2-core dev machine)", flush=True)


# ------------------------------------------------------------------ timing
def sync(device: str | torch.device = "cpu") -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: str = "cpu") -> tuple[float, Any]:
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def repeat(fn: Callable[[], Any], repeats: int, warmup: int = 1, device: str = "cpu") -> list[float]:
    for _ in range(warmup):
        fn()
    return [timed(fn, device)[0] for _ in range(repeats)]


def round_robin(fns: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Time several alternatives in turns, so that a load change hits all of them."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed(fn)[0])
    return times


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def spread(xs: list[float]) -> str:
    """'min–max' of repeats, to show the noise."""
    if len(xs) < 2:
        return "1 run"
    return f"{min(xs):.3g}–{max(xs):.3g}"


# ------------------------------------------------------------------ memory
def _status_kb(key: str) -> int | None:
    try:
        match = re.search(rf"^{key}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def rss_mb() -> float:
    kb = _status_kb("VmRSS")
    return float("nan") if kb is None else kb / 1024


def reset_peak_rss() -> bool:
    """Reset the resident-set high-water mark (Linux >= 4.0); False where impossible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    kb = _status_kb("VmHWM")
    if kb is None:  # getrusage: KiB on Linux, bytes on macOS
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
    return kb / 1024


class PeakRSS:
    """``with PeakRSS() as m: step()`` -> m.added_mb: peak RSS during the block above RSS before it."""

    def __enter__(self) -> "PeakRSS":
        self.exact = reset_peak_rss()
        self.before_mb = rss_mb()
        return self

    def __exit__(self, *exc) -> None:
        self.peak_mb = peak_rss_mb()
        self.added_mb = max(0.0, self.peak_mb - self.before_mb)


def isolated(fn: Callable[..., Any], *args, **kwargs) -> Any:
    """Run ``fn(*args, **kwargs)`` in a forked child (fresh heap, own peak RSS); return its JSON-able result.

    The parent must not have run torch compute before (it only imports), so the child
    starts with no allocator slack and no initialised thread pool.
    """
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        code = 0
        try:
            init_threads()
            payload = {"ok": fn(*args, **kwargs)}
        except BaseException:  # noqa: BLE001 - everything goes back to the parent
            payload = {"error": traceback.format_exc()}
            code = 1
        with os.fdopen(write_fd, "w") as pipe:
            json.dump(payload, pipe)
        sys.stdout.flush()
        os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        raw = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not raw:
        raise RuntimeError(f"benchmark child died without a result (wait status {status}; out of memory?)")
    payload = json.loads(raw)
    if "error" in payload:
        raise RuntimeError("benchmark child failed:\n" + payload["error"])
    return payload["ok"]


# ------------------------------------------------------------------ models
def image_size(arch: str) -> int:
    from tcclip.model.backbone import architecture_config

    size = architecture_config(arch)["vision_cfg"]["image_size"]
    return size if isinstance(size, int) else size[0]


def random_clip(arch: str, device: str | torch.device = "cpu", seed: int = 0):
    """open_clip CLIP of the real geometry with random weights (no download), float32."""
    from tcclip.model.backbone import create_clip

    torch.manual_seed(seed)
    with torch.device(device):
        return create_clip(arch)


def variant_model(clip, name: str, arch: str, vision: dict | None = None, text: dict | None = None):
    """A VideoCLIP of one of VARIANTS over ``clip`` (models over the same clip share its weights)."""
    from tcclip.config import merge
    from tcclip.model.video_clip import VideoCLIP, model_config

    preset, overrides = VARIANTS[name]
    extra = {"backbone": {"arch": arch, "weights": None, "fp16_round": False}}
    if vision:
        extra["vision"] = vision
    if text:
        extra["text"] = text
    cfg = model_config(preset, merge(overrides, extra))
    device = clip.logit_scale.device
    with torch.device(device):
        return VideoCLIP(clip, cfg).to(device)


def random_weights_config(name: str, overrides: list[str] = ()):
    """The packaged run config ``name`` (``embedded``, ``paper``) with random backbone weights
    (nothing to load, no fp16 rounding), then ``overrides``."""
    from tcclip.engine.run_config import resolve_run_config

    return resolve_run_config([name], ["model.backbone.weights=null", "model.backbone.fp16_round=false", *overrides])


def class_names(n: int) -> list[str]:
    """Kinetics-400 class names when the reference lists are at hand, else made-up ones.

    Text cost depends only on the context length (30 tokens), not on the words.
    """
    candidates = [
        os.environ.get("TCCLIP_REFERENCE", ""),
        ROOT / "reference",
        ROOT.parent / "shared" / "reference",
        ROOT / "shared" / "reference",
    ]
    for base in candidates:
        if not base:
            continue
        path = Path(base) / "labels" / "kinetics_400_labels.csv"
        if path.is_file():
            rows = [line.split(",", 1)[1].strip().strip('"') for line in path.read_text().splitlines()[1:] if "," in line]
            if len(rows) >= n:
                return rows[:n]
    return [f"made up action number {i}" for i in range(n)]


# ------------------------------------------------------------------ output
def num(x: Any, fmt: str = ".3g") -> str:
    """A number as text (for table columns that mix numbers and notes); '' for None."""
    if x is None or x == "":
        return ""
    return format(x, fmt) if isinstance(x, (int, float)) else str(x)


def table(rows: list[list[Any]], headers: list[str], floatfmt: str = ".3g") -> str:
    return tabulate(rows, headers=headers, tablefmt="github", floatfmt=floatfmt, disable_numparse=False)


class Targets:
    """Stated targets: each checked, printed at the end; ``exit()`` returns 1 if any is missed."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bool | None, str]] = []

    def check(self, name: str, ok: bool | None, detail: str) -> None:
        """ok=None: not checked in this mode (printed as such)."""
        self.items.append((name, ok, detail))

    def report(self) -> int:
        print("\nTargets:")
        if not self.items:
            print("  (none stated for this benchmark)")
        for name, ok, detail in self.items:
            mark = "not checked" if ok is None else ("PASS" if ok else "MISSED")
            print(f"  [{mark}] {name}: {detail}")
        missed = [name for name, ok, _ in self.items if ok is False]
        print(("RESULT: target missed: " + ", ".join(missed)) if missed else "RESULT: ok", flush=True)
        return 1 if missed else 0
