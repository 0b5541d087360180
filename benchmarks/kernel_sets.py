"""What a run's numbers depend on: one embedded zero-shot run (TC-CLIP, seed 1) trained and
evaluated under several ATen CPU kernel sets (``ATEN_CPU_CAPABILITY``), one thread each, on
the same rendered data and backbone.

    python benchmarks/kernel_sets.py [--scale smoke|embedded] [--capabilities native native avx2 default]

--scale smoke (default, ~2 min): the settings of workflow/config/smoke.yaml (tiny benchmark,
20 pretraining steps, one epoch of 8 updates; 12 videos per eval set, so one video is 8.3
points). --scale embedded (~10 min on 2 free cores): the zero-shot table's own run (default
benchmark, full pretraining, the protocol's embedded settings).

"native" leaves the variable unset (the best set the CPU supports: AVX512 on recent x86).
Repeating "native" checks the bitwise claim (same thread count, same kernel set); the others
measure how far another kernel set moves the metrics. Prints one row per run and the largest
difference from the first run; writes results/benchmarks/kernel_sets.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tabulate import tabulate

from common import ROOT, banner  # noqa: E402

# (synthetic size, pretraining overrides, run overrides) of workflow/config/{smoke,synthetic}.yaml
SCALES = {
    "smoke": ("tiny", ["steps=20", "batch_size=32", "warmup_steps=2", "log_every=5"],
              ["train.epochs=1", "train.warmup_epochs=0", "train.total_batch=8", "train.batch_size=8"]),
    "embedded": ("default", [], []),
}


def tcclip(args: list[str], env: dict | None = None) -> None:
    subprocess.run([sys.executable, "-m", "tcclip", *args], check=True, cwd=ROOT,
                   env={**os.environ, "TCCLIP_THREADS": "1", **(env or {})}, stdout=subprocess.DEVNULL)


def capability_env(name: str) -> dict:
    env = dict(os.environ)
    env.pop("ATEN_CPU_CAPABILITY", None)
    if name != "native":
        env["ATEN_CPU_CAPABILITY"] = name
    return env


def kernel_set(env: dict) -> str:
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()


def prepare(work: Path, scale: str) -> tuple[Path, Path]:
    """The benchmark and the pretrained tiny CLIP, made once (native kernels)."""
    size, pretrain, _ = SCALES[scale]
    data, weights = work / "data", work / "backbone" / "tiny-clip-p16.pt"
    if not (data / "catalog.yaml").is_file():
        tcclip(["synth", "--out", str(data), "--size", size, "--seed", "0", "--quiet"])
    if not weights.is_file():
        tcclip(["pretrain-clip", "--data", str(data), "--out", str(weights), "arch=tiny-clip-p16", *pretrain])
    return data, weights


def one_run(work: Path, data: Path, weights: Path, index: int, capability: str, overrides: list[str]) -> dict:
    import torch

    env = capability_env(capability)
    out = work / f"runs_{index}_{capability}"
    args = ["run", "--config", "embedded", f"protocol.catalog={data / 'catalog.yaml'}",
            f"model.backbone.weights={weights}", f"output={out}", "seed=1", *overrides, "--wiseft", "0.7"]
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tcclip", *args], check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   env={**env, "TCCLIP_THREADS": "1"})
    seconds = time.perf_counter() - started
    (run,) = [p for p in out.iterdir() if (p / "metrics.json").is_file()]
    metrics = json.loads((run / "metrics.json").read_text())
    wiseft = json.loads((run / "metrics_wiseft0.7.json").read_text())
    state = torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)["model"]
    return {"capability": capability, "kernel_set": kernel_set(env), "seconds": round(seconds, 1),
            "final_loss": metrics["train"]["final_loss"],
            "top1": {r["key"]: r["top1"] for r in metrics["results"]},
            "top5": {r["key"]: r["top5"] for r in metrics["results"]},
            "wiseft_top1": {r["key"]: r["top1"] for r in wiseft["results"]},
            "all": metrics["summary"]["all"]["top1"], "wiseft_all": wiseft["summary"]["all"]["top1"],
            "weights": state}


def difference(a: dict, b: dict) -> dict:
    """Largest absolute differences of b from a: weights, loss, per-set top-1/top-5 (points)."""
    weights = max(float((a["weights"][k].double() - b["weights"][k].double()).abs().max()) for k in a["weights"]
                  if a["weights"][k].is_floating_point())
    return {
        "max_weight_diff": weights,
        "loss_diff": abs(a["final_loss"] - b["final_loss"]),
        "max_top1_diff": max(abs(a["top1"][k] - b["top1"][k]) for k in a["top1"]),
        "max_top5_diff": max(abs(a["top5"][k] - b["top5"][k]) for k in a["top5"]),
        "max_wiseft_top1_diff": max(abs(a["wiseft_top1"][k] - b["wiseft_top1"][k]) for k in a["wiseft_top1"]),
        "sets_differing": sum(a["top1"][k] != b["top1"][k] for k in a["top1"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--capabilities", nargs="+", default=["native", "native", "avx2", "default"])
    parser.add_argument("--scale", choices=sorted(SCALES), default="smoke")
    parser.add_argument("--work", help="folder for data, backbone and runs (default: results/benchmarks/kernel_sets_SCALE)")
    args = parser.parse_args()
    banner(f"kernel sets: one embedded zero-shot run ({args.scale} settings) per ATen CPU capability")
    work = Path(args.work or ROOT / "results" / "benchmarks" / f"kernel_sets_{args.scale}")
    data, weights = prepare(work, args.scale)
    runs = [one_run(work, data, weights, i, cap, SCALES[args.scale][2]) for i, cap in enumerate(args.capabilities)]
    rows = []
    for run in runs:
        diff = difference(runs[0], run)
        rows.append([run["capability"], run["kernel_set"], f"{run['seconds']:.0f}", f"{run['final_loss']:.7f}",
                     f"{diff['loss_diff']:.1e}", f"{run['all']:.2f}", f"{run['wiseft_all']:.2f}",
                     f"{diff['max_weight_diff']:.1e}", f"{diff['max_top1_diff']:.2f}", f"{diff['max_top5_diff']:.2f}",
                     f"{diff['max_wiseft_top1_diff']:.2f}", f"{diff['sets_differing']}/{len(run['top1'])}"])
        run["vs_first"] = diff
    print(tabulate(rows, headers=["ATEN_CPU_CAPABILITY", "kernels", "s", "final loss", "|Δloss|", "all top-1",
                                  "WiSE-FT all", "max |Δw|", "max Δtop-1", "max Δtop-5", "max ΔWiSE top-1",
                                  "sets differing"], tablefmt="github", disable_numparse=True))
    print("Δ: difference from the first run (same data, same backbone); top-1/top-5 in points over the 9 eval sets")
    out = ROOT / "results" / "benchmarks" / f"kernel_sets_{args.scale}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([{k: v for k, v in r.items() if k != "weights"} for r in runs], indent=1) + "\n")
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
