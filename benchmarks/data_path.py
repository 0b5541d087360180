"""Data path: decoded clips per second from the loader vs clips per second the training step consumes.

Both at the embedded scale (72-px mp4 from the synthetic benchmark, 8 frames, 64-px crops,
``data.resize: official``) in one run: decord and PyAV, with 0 and 2 DataLoader workers,
for the train augmentation (the default: colour jitter p=0.8 and greyscale p=0.2, float32
transport); the step is a forward + backward of tiny TC-CLIP at the embedded batch size.
Target: the best loader set-up is faster than the step (data loading is never the bottleneck).
Exits 1 if it is not.

Transport (issue #18): the bytes per clip a batch carries and the loader's clips/s with uint8
transport (where the transform is integral: the 2-view zero-shot test views, and training
clips without jitter or greyscale) against today's float32 path forced on the same data
(``--no-transport`` skips these rows). The step takes its batch as uint8 and normalises it
(``transforms.model_input``), as the engine does.

Evaluation (issue #18 item 5): one eval set (HMDB-like val1, the embedded eval views) scored
by the engine's ``predict_lists`` with two models, as a run scores its fine-tuned model and
its WiSE-FT copy on the same decoded batches, and the same loader alone: the loader's clips/s
against what the pair of models consumes once loading is taken out (reported, no target).

    python benchmarks/data_path.py [--quick] [--data DIR] [--no-transport]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from common import banner, init_threads, median, random_weights_config, table  # noqa: E402  (sets sys.path)

from tcclip.data.catalog import Catalog
from tcclip.data.dataset import DataConfig, VideoDataset, build_loader
from tcclip.data.transforms import model_input
from tcclip.model.backbone import BackboneConfig, build_clip
from tcclip.model.video_clip import VideoCLIP
from tcclip.engine.run_config import resolve_run_config


class FloatTransport(VideoDataset):
    """Today's path before uint8 transport: every item normalised float32 in the worker."""

    @property
    def pixels(self) -> bool:
        return False


def loader_rate(spec, backend: str, workers: int, batch: int, batches: int, float_transport: bool = False,
                **changes) -> tuple[float, float]:
    """(clips/s, bytes per clip of the batches) of a loader, train mode unless ``changes`` (DataConfig) say."""
    config = DataConfig.embedded().replace(**{"mode": "train", "backend": backend, **changes})
    dataset = (FloatTransport if float_transport else VideoDataset).from_split(spec, config)
    loader = build_loader(dataset, batch_size=batch, shuffle=True, num_workers=workers, seed=0)
    clips, started, nbytes = 0, None, 0
    for i, item in enumerate(loader):
        if i == 0:  # the first batch pays for worker start-up: not counted
            started = time.perf_counter()
            nbytes = item["video"].nbytes / max(1, item["video"].shape[0])
            continue
        clips += item["video"].shape[0]
        if i >= batches:
            break
    return clips / (time.perf_counter() - started), nbytes


def step_rate(batch: int, steps: int, classes: list[str]) -> float:
    # the embedded run config's model (tiny TC-CLIP), random weights
    cfg = random_weights_config("embedded").model
    model = VideoCLIP(build_clip(cfg.backbone), cfg)
    model.set_class_names(classes)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
    video = torch.randint(0, 256, (batch, 8, 3, 64, 64), dtype=torch.uint8)  # as the loader sends it
    labels = torch.randint(0, len(classes), (batch,))
    times = []
    for _ in range(steps + 1):
        started = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(model_input(video)), labels)  # normalised here, as the engine
        optim.zero_grad()
        loss.backward()
        optim.step()
        times.append(time.perf_counter() - started)
    return batch / median(times[1:])


def evaluation_rates(spec, batch: int) -> tuple[float, float, int]:
    """A full embedded evaluation of one eval set through the engine (``predict_lists``: every
    batch decoded once, encoded by the fine-tuned model and its WiSE-FT copy, as a run
    evaluates), and its loader alone on the same views. Returns (loader clips/s, clips/s the
    pair of models consumes once loading is taken out, clips)."""
    from tcclip.engine.evaluate import predict_lists
    from tcclip.engine.runtime import setup_distributed
    from tcclip.data.dataset import VideoLoader

    cfg = random_weights_config("embedded")
    dataset = VideoDataset.from_split(spec, cfg.data.replace(mode="test"))
    models = [VideoCLIP(build_clip(cfg.model.backbone), cfg.model) for _ in range(2)]
    loader = VideoLoader(dataset, batch_size=batch, shuffle=False, num_workers=0, collate_fn=dataset.collate)
    started = time.perf_counter()
    clips = sum(item["video"].shape[0] for item in loader)
    loading = time.perf_counter() - started
    out = predict_lists(models, dataset, [spec.class_names], batch, setup_distributed("cpu"))
    return clips / loading, clips / max(out[0][0]["seconds"] - loading, 1e-9), clips


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny data, few batches")
    parser.add_argument("--data", help="an existing synthetic benchmark (default: render one in a temp dir)")
    parser.add_argument("--no-transport", action="store_true", help="skip the uint8 vs float32 transport rows")
    args = parser.parse_args()
    threads = init_threads()  # before the banner, which reports the thread count
    banner("data path: loader vs training step", sys.argv)
    batch = 8 if args.quick else 32
    batches = 2 if args.quick else 6
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.data) if args.data else Path(tmp) / "synth"
        if not args.data:
            from tcclip.synth.generator import generate

            generate(root, seed=0, size="tiny" if args.quick else "small", workers=1, images=False)
        catalog = Catalog.load(root / "catalog.yaml")
        spec = catalog.split("k400", "train")
        rows, rates = [], {}
        for backend in ("decord", "pyav"):
            for workers in (0, 2):
                rate, nbytes = loader_rate(spec, backend, workers, batch, batches)
                rates[(backend, workers)] = rate
                rows.append([f"loader {backend}, {workers} workers, train (default augmentation; float32)",
                             f"{rate:.1f}", f"{nbytes / 1024:.0f}"])
        if not args.no_transport:
            plain = dict(color_jitter_p=0.0, grayscale_p=0.0)
            views = dict(mode="test", num_clips=2, num_crops=1)  # the zero-shot evaluation views
            for what, changes in (("train, no jitter/greyscale", plain), ("test, 2 views/video", views)):
                for workers in (0, 2):
                    for float_transport in (True, False):
                        rate, nbytes = loader_rate(spec, "decord", workers, batch, batches, float_transport, **changes)
                        kind = "float32 (before)" if float_transport else "uint8"
                        rows.append([f"loader decord, {workers} workers, {what}; {kind}", f"{rate:.1f}",
                                     f"{nbytes / 1024:.0f}"])
        step = step_rate(batch, 2 if args.quick else 4, catalog.split("k400", "train").class_names)
        arch = resolve_run_config(["embedded"]).model.backbone.arch
        rows.append([f"training step ({arch} TC-CLIP, batch {batch}, fwd+bwd, {threads} threads)", f"{step:.1f}", ""])
        loading, consuming, clips = evaluation_rates(catalog.split("hmdb51", "val1"), batch)
        rows.append([f"loader decord, 0 workers, hmdb51/val1 test views (embedded eval: 1 view; uint8), {clips} clips",
                     f"{loading:.1f}", ""])
        rows.append([f"evaluation by the engine, fine-tuned + WiSE-FT pair, loading taken out ({threads} threads)",
                     f"{consuming:.1f}", ""])
    best = max(rates, key=rates.get)
    print(table(rows, ["what", "clips/s", "KiB/clip"]))
    print(f"\nevaluation: loader / what the pair of models consumes = {loading / consuming:.2f}x (issue #18 asks >= 3x; "
          "reported, not a target here)")
    ratio = rates[best] / step
    print(f"\nbest loader ({best[0]}, {best[1]} workers) / training step = {ratio:.2f}x  (target > 1)")
    print("note: on 2 cores, loader workers and the step compete for the same cores; the engine decodes in the "
          "training process by default at the embedded scale (train.workers=0)")
    return 0 if ratio > 1 else 1


if __name__ == "__main__":
    sys.exit(main())
