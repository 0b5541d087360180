"""DDP under torchrun, as the paper-scale DAG launches it (`torchrun -m tcclip run`), on CPU
processes with the gloo backend: the same total batch gives the same number of updates, and
a sharded evaluation scores every listed video exactly once, with the result a single
process gets from the same checkpoint."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from data_fixtures import fast_run_args, only_run, synth_tiny  # noqa: F401
from tcclip.cli import main

pytestmark = pytest.mark.slow


def torchrun(*args: str, processes: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "TCCLIP_THREADS": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               "-m", "tcclip", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def results(run: Path) -> dict[str, tuple[float, float, int]]:
    metrics = json.loads((run / "metrics.json").read_text())
    return {r["key"]: (r["top1"], r["top5"], r["videos"]) for r in metrics["results"]}


def test_two_process_training_and_sharded_evaluation(synth_tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("TCCLIP_THREADS", "1")
    catalog = synth_tiny / "catalog.yaml"
    args = fast_run_args(catalog, tmp_path / "ddp", "train.epochs=2", "train.device=cpu")
    done = torchrun("run", *args)
    assert done.returncode == 0, done.stderr[-2000:]
    run = only_run(tmp_path / "ddp")
    train = json.loads((run / "train.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["host"]["world_size"] == 2

    assert main(["train", *fast_run_args(catalog, tmp_path / "single", "train.epochs=2")]) == 0
    single_train = json.loads((only_run(tmp_path / "single") / "train.json").read_text())
    assert train["updates"] == single_train["updates"]  # same total batch: 2 x 4 per update, not 2 x 8

    sharded = results(run)
    listed = len((synth_tiny / "splits" / "k400_splits" / "val.txt").read_text().splitlines())
    assert sharded["k400/val"][2] == listed  # every video once: no padding duplicates
    assert main(["evaluate", str(run)]) == 0  # the same checkpoint, one process
    assert results(run) == sharded


# ---------------------------------------------------------------- the Trainer in 2 gloo processes
# In-process ranks (torch.multiprocessing, a file rendezvous, gloo) running the Trainer itself on
# the micro TC-CLIP model (TC attention + VP prompting): the paths the torchrun test above leaves
# out, each in seconds. Every collective has a timeout and so does the parent's wait, so a hang
# fails the test instead of stalling the suite.
DDP_TIMEOUT_S = 400  # 2 shared cores under load: the three scenarios take 1-3 min


class FixedVideos(torch.utils.data.Dataset):
    """``n`` clips of the micro model's shape (4 frames, 32 px), fixed per index (no augmentation,
    so that a single process sees the same data), 3 classes. Indices in ``unreadable`` come back
    as skipped videos, as the real dataset returns them under data.on_error=skip."""

    sample_shape = (4, 3, 32, 32)

    def __init__(self, n: int = 8, unreadable: frozenset = frozenset()):
        self.n, self.unreadable = n, unreadable

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i in self.unreadable:
            return {"video": None, "skipped": f"video {i}", "label": 0, "index": i}
        g = torch.Generator().manual_seed(1000 + i)
        video = torch.randn(self.sample_shape, generator=g) + (i % 3)
        return {"video": video, "label": i % 3, "index": i}

    def collate(self, samples):
        from tcclip.data.dataset import collate_videos

        return collate_videos(samples, self.sample_shape)


def ddp_config(**changes):
    from tcclip.engine.mixup import MixConfig
    from tcclip.engine.run_config import TrainConfig

    values = dict(epochs=2, warmup_epochs=0, lr=1e-4, total_batch=8, batch_size=2, amp=False, log_every=0,
                  workers=1, mix=MixConfig(0.0, 0.0, 0.5, 0.0))  # no mixing: its draws differ per rank
    values.update(changes)
    return TrainConfig(**values)


def _fit(rank: int, world: int, folder: str, scenarios: list[tuple[str, dict, frozenset]]) -> None:
    """One rank: for each scenario (name, TrainConfig changes, unreadable indices), fit the micro
    TC-CLIP model and write its final weights and history to <folder>/<name>/rank<r>.pt. The
    scenarios share the processes (importing torch and tcclip costs more than the training)."""
    import datetime

    import torch.distributed as dist

    from test_model import micro_model
    from tcclip.engine.runtime import Dist
    from tcclip.engine.train import Trainer

    torch.set_num_threads(1)
    if world > 1:
        dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=DDP_TIMEOUT_S // 2))
    for name, changes, unreadable in scenarios:
        out = Path(folder) / name
        model = micro_model()  # seeded: every rank and the single process start from the same weights
        trainer = Trainer(model, FixedVideos(unreadable=unreadable), 3, ddp_config(**changes), seed=3,
                          checkpoint_dir=out / "checkpoints", rt=Dist(rank=rank, world_size=world))
        result = trainer.fit("never")
        torch.save({"model": model.state_dict(), "history": result.history, "updates": result.updates},
                   out / f"rank{rank}.pt")
    if world > 1:
        dist.destroy_process_group()


def skipped_on_rank1() -> frozenset:
    """The indices of rank 1's second micro-batch of epoch 0 (micro-batch 2, accumulation 2): the
    micro-batch whose backward all-reduces."""
    from torch.utils.data import DistributedSampler

    sampler = DistributedSampler(FixedVideos(), num_replicas=2, rank=1, shuffle=True, seed=3, drop_last=True)
    sampler.set_epoch(0)
    return frozenset(list(sampler)[2:4])


# eps=1: AdamW's first steps are ~lr*sign(g) with the default eps, so a gradient that is zero up to
# rounding (summed in another order by the ranks) moves its weight by +-lr; with eps=1 a step is
# ~lr*g and the runs compare to float32 rounding. cosine_after_warmup: the official schedule's
# clock counts one process's loader batches, so its second update's rate depends on the world
# size (tcclip.engine.optim.TimmCosine); the per-update schedule does not.
EQUAL = {"eps": 1.0, "lr": 0.1, "schedule": "cosine_after_warmup"}
SCENARIOS = [
    ("fp32", EQUAL, frozenset()),
    ("bf16", {**EQUAL, "amp": True, "amp_dtype": "bfloat16"}, frozenset()),
    ("skip", {"epochs": 1}, "rank1"),  # last: should it hang, the others have their results
]


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory) -> Path:
    """The scenarios in one 2-process gloo job; fails (does not hang) if a rank stops in a collective."""
    import time

    import torch.multiprocessing as mp

    folder = tmp_path_factory.mktemp("ddp_trainer")
    scenarios = [(n, c, skipped_on_rank1() if u == "rank1" else u) for n, c, u in SCENARIOS]
    for name, _, _ in scenarios:
        (folder / name).mkdir()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_fit, args=(r, 2, str(folder), scenarios)) for r in range(2)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + DDP_TIMEOUT_S
    for p in procs:
        p.join(max(deadline - time.monotonic(), 0))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()
    return folder


def ranks(folder: Path, name: str) -> list[dict]:
    files = [folder / name / f"rank{r}.pt" for r in range(2)]
    missing = [f.name for f in files if not f.is_file()]
    assert not missing, f"{name}: no result from {missing}: a rank failed or hung (timeout {DDP_TIMEOUT_S} s)"
    return [torch.load(f, weights_only=False) for f in files]


def max_difference(a: dict, b: dict) -> float:
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def test_ddp_accumulation_workers_and_tc_vp_model_equal_one_process(ddp_runs, tmp_path):
    """2 ranks x 2 micro-batches of 2 (no_sync on the first), a DataLoader worker each, TC + VP:
    the ranks end bitwise equal, and equal one process's 4 micro-batches of 2 over the same
    global batch (the whole 8-video set per update) within 1e-5 in float32: the gradients are
    summed in another order (measured: 2.4e-6 after 2 updates that move weights by ~1e-1)."""
    from test_model import micro_model

    two = ranks(ddp_runs, "fp32")
    assert two[0]["updates"] == 2 and two[0]["history"][-1]["skipped_videos"] == 0
    assert max_difference(two[0]["model"], two[1]["model"]) == 0
    _fit(0, 1, str(tmp_path), [("single", dict(SCENARIOS[0][1]), frozenset())])
    single = torch.load(tmp_path / "single" / "rank0.pt", weights_only=False)
    assert single["updates"] == 2
    assert max_difference(single["model"], micro_model().state_dict()) > 1e-3  # not two untrained models
    assert max_difference(two[0]["model"], single["model"]) < 1e-5


def test_ddp_bf16_autocast_keeps_ranks_identical(ddp_runs):
    """train.amp_dtype=bfloat16 autocasts on CPU too: the ranks, under accumulation and workers,
    still end bitwise equal, with a finite loss; they differ from the float32 run (it ran in bf16)
    by less than that run moved from its initial weights."""
    two = ranks(ddp_runs, "bf16")
    assert max_difference(two[0]["model"], two[1]["model"]) == 0
    assert all(math.isfinite(h["loss"]) for h in two[0]["history"])
    from test_model import micro_model

    fp32 = ranks(ddp_runs, "fp32")[0]["model"]
    differs = max_difference(two[0]["model"], fp32)
    assert 0 < differs < max_difference(fp32, micro_model().state_dict()), differs


def test_ddp_rank_with_only_unreadable_videos_does_not_hang(ddp_runs):
    """data.on_error=skip: rank 1's second micro-batch of the first update (the one whose backward
    syncs) is all unreadable. Rank 1 still joins the all-reduce (before: it skipped its backward,
    rank 0 waited in the all-reduce and the run hung), the ranks stay equal and the skip is
    reported in the epoch record, summed over the ranks."""
    two = ranks(ddp_runs, "skip")
    assert two[0]["history"][0]["skipped_videos"] == 2
    assert two[0]["updates"] == 1
    assert max_difference(two[0]["model"], two[1]["model"]) == 0
