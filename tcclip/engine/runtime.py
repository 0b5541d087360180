"""Process set-up shared by training, evaluation and pretraining: threads, seeds,
device and the torchrun/DDP context.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

_threads_set = False


def thread_count() -> int:
    """TCCLIP_THREADS, else OMP_NUM_THREADS, else every core this process may use."""
    for var in ("TCCLIP_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def configure_threads() -> int:
    """Set torch's intra-op threads once per process (oversubscribing 2 cores is a 5x slow-down)."""
    global _threads_set
    n = thread_count()
    if not _threads_set:
        torch.set_num_threads(n)
        _threads_set = True
    return torch.get_num_threads()


def seed_everything(seed: int) -> None:
    """Python, NumPy and torch (all devices) generators from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def derived_seed(seed: int, *parts: int) -> int:
    """A distinct, reproducible seed per (run seed, epoch, ...): resuming at epoch e gives
    the same random stream as reaching epoch e without interruption."""
    value = seed
    for part in parts:
        value = (value * 1_000_003 + part) % 2**63
    return value


def autocast_dtype(amp: bool, amp_dtype: str, device: torch.device) -> torch.dtype | None:
    """The dtype a forward autocasts to (train.amp, train.amp_dtype), or None for full precision.

    Training and evaluation both read it, so an evaluation runs in the dtype its run was
    configured with (it once autocast to float16 whatever amp_dtype said). CUDA: the configured
    dtype. CPU: bfloat16 only; float16 autocast on CPU is slow and no GPU run uses it, so a CPU
    run with the default float16 stays in full precision, as it always did.
    """
    if not amp or device.type not in ("cuda", "cpu"):
        return None
    dtype = torch.bfloat16 if amp_dtype == "bfloat16" else torch.float16
    if device.type == "cpu" and dtype != torch.bfloat16:
        return None
    return dtype


def seed_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: NumPy and random follow torch's per-worker seed."""
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


@dataclass
class Dist:
    """Where this process sits in a torchrun job (world of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def setup_distributed(device: str = "auto") -> Dist:
    """Read torchrun's environment, pick the device and join the process group once."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.cuda.set_device(local_rank)
        target = torch.device("cuda", local_rank)
    else:
        target = torch.device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if target.type == "cuda" else "gloo")
    return Dist(rank=rank, world_size=world, local_rank=local_rank, device=target)


def teardown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def setup_logging(log_file: str | "os.PathLike | None" = None, main_process: bool = True) -> None:
    """tcclip.* loggers: INFO to stderr (main process only) and, if given, to a log file (appended)."""
    import logging
    import sys

    logger = logging.getLogger("tcclip")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    fmt = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    if main_process:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(console)
        if log_file is not None:
            from pathlib import Path

            Path(log_file).parent.mkdir(parents=True, exist_ok=True)
            file_handler = logging.FileHandler(log_file, encoding="utf-8")
            file_handler.setFormatter(fmt)
            logger.addHandler(file_handler)
