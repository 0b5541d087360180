"""torch.compile (``train.compile``) against eager at the embedded scale: what does it cost and save?

The tiny embedded model (tiny-clip-p16, 64 px, 16 patches per frame), 8 frames, batch 8,
10 class names, random weights, float32, CPU. For each preset (vifi_clip, tc_clip; tc_clip
with the embedded run's 8 context tokens) two models with the same weights: eager, and one
whose encoders ``VideoCLIP.compile_encoders`` compiled with inductor.

- compile time: the first call of the compiled model (evaluation forward, then training
  step: each compiles its own graphs) minus the median eager call of the same kind;
- forward: evaluation forward (no grad) of one batch;
- training step: forward + cross-entropy + backward (no optimiser step: the same for both);
- max |logit difference| compiled vs eager (evaluation, the same batch).
Eager and compiled calls alternate (round-robin) so that a load change hits both.

No target: it reports. ``--presets`` and ``--repeats`` shorten it.
"""

from __future__ import annotations

import argparse
import time

import common
import torch
import torch.nn.functional as F

FRAMES, BATCH, CLASSES = 8, 8, 10


def build(preset: str, compiled: bool):
    """A tiny VideoCLIP of ``preset`` with weights from seed 0, compiled or eager."""
    from tcclip.model.video_clip import VideoCLIP, model_config

    overrides = {"backbone": {"arch": "tiny-clip-p16", "weights": None, "fp16_round": False}}
    if preset == "tc_clip":
        overrides["vision"] = {"num_context": 8}  # as tcclip/resources/runs/embedded.yaml
    torch.manual_seed(0)
    model = VideoCLIP.build(model_config(preset, overrides))
    model.set_class_names([f"class {i}" for i in range(CLASSES)])
    return model.compile_encoders() if compiled else model


def eval_forward(model, video):
    model.eval()
    with torch.no_grad():
        return model(video)


def train_step(model, video, labels):
    model.train()
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(video), labels)
    loss.backward()
    return loss


def measure(preset: str, repeats: int) -> list:
    """One table row: compile times, medians of forward and training step, logit difference."""
    torch.manual_seed(1)
    video = torch.randn(BATCH, FRAMES, 3, 64, 64)
    labels = torch.randint(0, CLASSES, (BATCH,))
    eager, compiled = build(preset, False), build(preset, True)
    eager_first, ref = common.timed(lambda: eval_forward(eager, video))
    compile_eval, out = common.timed(lambda: eval_forward(compiled, video))
    diff = (out - ref).abs().max().item()
    eager_train_first, _ = common.timed(lambda: train_step(eager, video, labels))
    compile_train, loss = common.timed(lambda: train_step(compiled, video, labels))
    fwd = common.round_robin({"eager": lambda: eval_forward(eager, video),
                              "compiled": lambda: eval_forward(compiled, video)}, repeats)
    step = common.round_robin({"eager": lambda: train_step(eager, video, labels),
                               "compiled": lambda: train_step(compiled, video, labels)}, repeats)
    med = {k: common.median(v) for k, v in {**{f"f_{k}": v for k, v in fwd.items()},
                                             **{f"s_{k}": v for k, v in step.items()}}.items()}
    return [preset, compile_eval - med["f_eager"], compile_train - med["s_eager"],
            med["f_eager"], med["f_compiled"], med["f_eager"] / med["f_compiled"],
            med["s_eager"], med["s_compiled"], med["s_eager"] / med["s_compiled"],
            f"{diff:.1e}", f"{loss.item():.3f}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["vifi_clip", "tc_clip"], choices=["vifi_clip", "tc_clip"])
    parser.add_argument("--repeats", type=int, default=5, help="timed calls of each kind and model (median)")
    args = parser.parse_args()
    common.init_threads()
    common.banner("torch.compile vs eager, tiny-clip-p16, 8 frames, 64 px, batch 8")
    started = time.perf_counter()
    rows = []
    for preset in args.presets:
        rows.append(measure(preset, args.repeats))
        print(f"   {preset} done after {time.perf_counter() - started:.0f} s", flush=True)
    print(common.table(rows, ["preset", "compile s (eval)", "compile s (train)", "fwd eager s", "fwd compiled s",
                              "fwd x", "step eager s", "step compiled s", "step x", "max |Δlogit|",
                              "loss (compiled)"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
