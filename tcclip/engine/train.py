"""Fine-tuning loop: AdamW + the official warm-up/cosine schedule per update, gradient
accumulation to the total batch, mixup/cutmix/label smoothing, torch.amp on GPU, DDP under
torchrun, a checkpoint per epoch and exact resumption.

Reproducibility: every epoch reseeds all generators from (run seed, epoch[, rank]), so
an epoch's random stream does not depend on what ran before it; resuming from the
checkpoint of epoch e replays epochs e+1.. exactly as an uninterrupted run (bitwise on
CPU). Data loader workers are not persistent for the same reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler

import yaml

from tcclip.engine.checkpoint import (BEST, LAST, atomic_torch_save, atomic_write_json, atomic_write_text, check_free_space,
                               load_checkpoint, state_bytes)
from tcclip.config import to_dict
from tcclip.errors import TcclipError
from tcclip.data.fingerprint import changes, training_inputs
from tcclip.data.transforms import model_input
from tcclip.engine.mixup import mix_batch, soft_cross_entropy
from tcclip.model.video_clip import VideoCLIP
from tcclip.engine.optim import TimmCosine, WarmupCosine, build_optimizer
from tcclip.engine.run_config import (EVALUATION_SETTINGS, RunConfig, TrainConfig, resolve_task, run_dir, run_id,
                               select_key, selection_data, selection_spec)
from tcclip.engine.run_files import CONFIG, INPUTS, TRAINED
from tcclip.engine.runtime import (Dist, autocast_dtype, configure_threads, derived_seed, seed_everything, seed_worker,
                            setup_distributed, setup_logging)

log = logging.getLogger("tcclip.engine.train")


class TrainingDiverged(TcclipError):
    """The loss became NaN or infinite."""


@dataclass
class FitResult:
    epochs: int
    updates: int
    history: list[dict] = field(default_factory=list)
    best: dict | None = None
    resumed_from: int = 0


Validator = Callable[[nn.Module, int], "float | None"]
"""(model, epochs done) -> top-1 on the selection set, or None to skip this epoch; runs on every rank."""


def batch_plan(cfg: TrainConfig, dataset_size: int, world_size: int) -> tuple[int, int]:
    """(accumulation steps, optimiser updates per epoch) for the total batch."""
    per_step = cfg.micro_batch(world_size) * world_size
    if cfg.total_batch % per_step:
        raise TcclipError(
            f"train.total_batch={cfg.total_batch} is not a multiple of train.batch_size x processes "
            f"= {cfg.micro_batch(world_size)} x {world_size}; choose values so that the accumulation is whole"
        )
    accumulation = cfg.total_batch // per_step
    updates = dataset_size // cfg.total_batch
    if updates < 1:
        raise TcclipError(
            f"the training set has {dataset_size} videos, fewer than one total batch ({cfg.total_batch}); "
            "lower train.total_batch"
        )
    return accumulation, updates


def loader_batches(cfg: TrainConfig, dataset_size: int, world_size: int) -> int:
    """Micro-batches one process's loader yields per epoch (drop_last), the tail that fills no
    update included: the official schedule's clock counts them (tcclip.engine.optim.TimmCosine)."""
    return dataset_size // world_size // cfg.micro_batch(world_size)


def build_schedule(cfg: TrainConfig, updates_per_epoch: int, accumulation: int, iterations_per_epoch: int):
    """train.schedule: the official timm cosine, or ours before issue #15 (cosine_after_warmup)."""
    if cfg.schedule == "cosine_after_warmup":
        ratio = cfg.min_lr_ratio if cfg.min_lr is None else cfg.min_lr / cfg.lr
        return WarmupCosine(cfg.lr, cfg.epochs * updates_per_epoch, round(cfg.warmup_epochs * updates_per_epoch), ratio)
    return TimmCosine(cfg.lr, cfg.epochs, cfg.warmup_epochs, cfg.floor_lr(), updates_per_epoch, accumulation,
                      iterations_per_epoch)


def _loader(dataset: Dataset, cfg: TrainConfig, rt: Dist, seed: int, epoch: int) -> DataLoader:
    """A fresh loader per epoch, shuffled by a generator seeded from (seed, epoch); under DDP the
    generator only seeds the workers, from (seed, epoch, rank)."""
    generator = torch.Generator().manual_seed(derived_seed(seed, epoch, 1))
    if rt.enabled:
        # The workers' base seed is drawn from this generator: seeded from (seed, epoch) alone,
        # worker w of every rank drew the same crops, flips, jitter and frame offsets. The rank
        # is part of the seed under DDP only, so a single process keeps its stream (and results).
        generator = torch.Generator().manual_seed(derived_seed(seed, epoch, 1, rt.rank))
        sampler = DistributedSampler(dataset, num_replicas=rt.world_size, rank=rt.rank, shuffle=True,
                                     seed=seed, drop_last=True)
        sampler.set_epoch(epoch)
    else:
        sampler = RandomSampler(dataset, generator=generator)
    from tcclip.data.dataset import VideoLoader  # bad videos in workers: the same one-line error

    return VideoLoader(
        dataset,
        batch_size=cfg.micro_batch(rt.world_size),
        sampler=sampler,
        num_workers=cfg.workers,
        collate_fn=getattr(dataset, "collate", None),
        drop_last=True,
        generator=generator,
        worker_init_fn=seed_worker,
        persistent_workers=False,
        pin_memory=rt.device.type == "cuda",
    )


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"), TextColumn("lr {task.fields[lr]}"),
        TextColumn("{task.fields[speed]} vid/s"), TimeElapsedColumn(), TimeRemainingColumn(),
        disable=not enabled, transient=False,
    )


def load_scaler_state(scaler: torch.amp.GradScaler, state: dict | None) -> None:
    """Restore a GradScaler from a checkpoint, whichever device the checkpoint came from.

    A disabled scaler (CPU, bfloat16, amp off) saves ``{}``, which an enabled one refuses
    ("the source state dict is empty"): resuming on a GPU with float16 a run started on CPU
    failed there. Such a run has no loss scale to continue, so the enabled scaler starts from
    its initial scale; a saved state is ignored by a disabled scaler (it scales nothing).
    """
    if not scaler.is_enabled():
        return
    if not state:
        log.info("the checkpoint has no loss-scaler state (saved without float16 AMP): starting from the initial scale")
        return
    scaler.load_state_dict(state)


class Trainer:
    """Fits one model; owns the optimiser, the schedule and the run's checkpoints."""

    def __init__(self, model: nn.Module, dataset: Dataset, num_classes: int, cfg: TrainConfig, seed: int,
                 checkpoint_dir: Path, rt: Dist, config_hash: str = "", validator: Validator | None = None):
        self.model, self.dataset, self.num_classes = model, dataset, num_classes
        self.cfg, self.seed, self.rt = cfg, seed, rt
        self.checkpoint_dir = Path(checkpoint_dir)
        self.config_hash = config_hash
        self.validator = validator
        self.accumulation, self.updates_per_epoch = batch_plan(cfg, len(dataset), rt.world_size)
        self.total_updates = cfg.epochs * self.updates_per_epoch
        self.schedule = build_schedule(cfg, self.updates_per_epoch, self.accumulation,
                                       loader_batches(cfg, len(dataset), rt.world_size))
        model.to(rt.device)
        self.optimizer = build_optimizer(model, cfg.lr, cfg.weight_decay, cfg.prompt_lr_mult,
                                         tuple(cfg.betas), cfg.eps, cfg.weight_decay_rule)
        self.amp_dtype = autocast_dtype(cfg.amp, cfg.amp_dtype, rt.device)
        self.use_amp = self.amp_dtype is not None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.net = model
        if rt.enabled:
            # Safe for every variant: one that leaves a parameter without gradient would otherwise
            # stop DDP; the extra graph traversal is small next to a ViT-B/16 step.
            self.net = nn.parallel.DistributedDataParallel(
                model, device_ids=[rt.device.index] if rt.device.type == "cuda" else None,
                find_unused_parameters=True, broadcast_buffers=False)
        self.epoch = 0
        self.update = 0
        self.history: list[dict] = []
        self.best: dict | None = None
        self.wall_s = 0.0  # training time summed over every (resumed) session

    # ------------------------------------------------------------------ state
    def state(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "update": self.update,
            "history": self.history,
            "best": self.best,
            "wall_s": self.wall_s,
            "config_hash": self.config_hash,
            "total_epochs": self.cfg.epochs,
        }

    def load_state(self, state: dict, source: Path) -> None:
        if self.config_hash and state.get("config_hash") not in (None, self.config_hash):
            raise TcclipError(f"{source}: checkpoint of another configuration ({state.get('config_hash')}, "
                              f"this run is {self.config_hash}); use another run directory or --resume never")
        self.model.load_state_dict(state["model"])
        self.epoch, self.update = int(state["epoch"]), int(state["update"])
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
            load_scaler_state(self.scaler, state.get("scaler"))
        elif self.epoch < self.cfg.epochs:
            raise TcclipError(f"{source}: a finished run's checkpoint (no optimizer state) at epoch {self.epoch} "
                              f"cannot continue to {self.cfg.epochs} epochs; use --resume never")
        self.history, self.best = list(state["history"]), state.get("best")
        self.wall_s = float(state.get("wall_s", 0.0))

    def resume(self, resume: str) -> int:
        """'auto': from checkpoints/last.pt if present; 'never': from scratch; else a file path."""
        self._drop_partial_writes()
        if resume == "never":
            return 0
        path = self.checkpoint_dir / LAST if resume == "auto" else Path(resume)
        if resume == "auto" and not path.is_file():
            return 0
        self.load_state(load_checkpoint(path), path)
        log.info("resumed from %s: %d of %d epochs done", path, self.epoch, self.cfg.epochs)
        return self.epoch

    def _drop_partial_writes(self) -> None:
        """Remove temporary files a killed save left behind (never read: saves are atomic)."""
        if not self.rt.is_main or not self.checkpoint_dir.is_dir():
            return
        for stale in self.checkpoint_dir.glob(".*.tmp"):
            log.warning("removing %s: a checkpoint write that was interrupted", stale)
            stale.unlink(missing_ok=True)

    def save(self, optimizer: bool = True) -> None:
        """Write last.pt. ``optimizer=False`` once the run is finished (train.json written):
        evaluation, init_from and a re-run only read the weights and the history."""
        if self.rt.is_main:
            state = self.state()
            if not optimizer:
                del state["optimizer"], state["scaler"]
            atomic_torch_save(state, self.checkpoint_dir / LAST)
        self.rt.barrier()

    # ------------------------------------------------------------------ loop
    def fit(self, resume: str = "auto") -> FitResult:
        start_epoch = self.resume(resume)
        if self.rt.is_main and start_epoch < self.cfg.epochs:  # a full disk fails now, not after an epoch
            best = state_bytes(self.model, optimizer_states=0) if self.validator else 0  # best.pt: weights only
            check_free_space(self.checkpoint_dir, state_bytes(self.model) + best)
        show = self.rt.is_main and sys.stderr.isatty()
        with _progress(show) as progress:
            for epoch in range(start_epoch, self.cfg.epochs):
                tic = time.perf_counter()
                record = self._train_epoch(epoch, progress)
                self.epoch = epoch + 1
                if self.validator is not None:
                    self._select(record)
                self.wall_s += time.perf_counter() - tic
                self.history.append(record)
                log.info("epoch %d/%d: loss %.4f, %.1f videos/s, %.1f s%s", self.epoch, self.cfg.epochs,
                         record["loss"], record["videos_per_s"], record["seconds"],
                         f", selection top-1 {record['select_top1']:.2f}" if "select_top1" in record else "")
                self.save()
        return FitResult(self.epoch, self.update, self.history, self.best, start_epoch)

    def _select(self, record: dict) -> None:
        """Best-epoch selection: score on the selection set, keep the best weights."""
        self.model.eval()
        score = self.validator(self.model, self.epoch)
        if score is None:
            return
        record["select_top1"] = score
        if self.best is None or score > self.best["top1"]:
            self.best = {"epoch": self.epoch, "top1": score}
            if self.rt.is_main:
                atomic_torch_save({"model": self.model.state_dict(), "epoch": self.epoch, "top1": score,
                                   "config_hash": self.config_hash}, self.checkpoint_dir / BEST)
        self.rt.barrier()

    def _train_epoch(self, epoch: int, progress) -> dict:
        cfg, rt = self.cfg, self.rt
        seed_everything(derived_seed(self.seed, epoch, rt.rank))
        mix_rng = np.random.default_rng(derived_seed(self.seed, epoch, rt.rank, 2))
        loader = _loader(self.dataset, cfg, rt, self.seed, epoch)
        self.net.train()
        self.optimizer.zero_grad(set_to_none=True)
        steps = self.updates_per_epoch * self.accumulation
        task = progress.add_task(f"epoch {epoch + 1}/{cfg.epochs}", total=self.updates_per_epoch,
                                 loss="-", lr="-", speed="-")
        tally = _EpochTally()
        for step, batch in enumerate(loader):
            if step >= steps:  # the tail that does not fill a whole update
                break
            last_micro = (step + 1) % self.accumulation == 0
            self._micro_step(batch, mix_rng, last_micro, tally)
            if last_micro:
                loss = tally.close_update()  # the update's one host sync
                self._check_finite(loss, epoch, step)  # before the step: the weights stay finite
                lr = self._optimizer_update()
                self._report_update(loss, lr, tally.speed(rt.world_size), epoch, progress, task)
        progress.remove_task(task)
        return self._epoch_record(epoch, tally)

    def _micro_step(self, batch: dict, mix_rng: np.random.Generator, last_micro: bool, tally: "_EpochTally") -> None:
        """Forward and backward of one micro-batch; its gradient adds to the update's (DDP syncs
        only on the update's last micro-batch). Its loss stays on the device: reading it here
        (``.item()``, ``isfinite``) would wait for the device twice per micro-batch."""
        rt = self.rt
        tally.skipped += len(batch.get("skipped", []))
        # uint8 pixels (the dataset's integral transforms) are normalised here, on the device;
        # float clips arrive normalised. Mixing acts on the normalised float clips, as before.
        video = model_input(batch["video"].to(rt.device, non_blocking=True))
        labels = batch["label"].to(rt.device, non_blocking=True)
        blank = video.shape[0] == 0
        if blank and not rt.enabled:
            return
        if blank:
            # Every video of this rank's micro-batch was unreadable (data.on_error=skip). Under DDP
            # the rank must still take part in the gradient all-reduce, or the other ranks wait in
            # it and the run hangs at the next collective: a zero-weight forward/backward of one
            # blank video joins it with a zero gradient (the update averages over world_size: the
            # lost videos' share is lost, as in a single process). No mixing: mix_rng's stream
            # stays independent of which videos were unreadable.
            video = torch.zeros((1, *video.shape[1:]), device=rt.device)
            target = torch.zeros((1, self.num_classes), device=rt.device)
        else:
            video, target = mix_batch(video, labels, self.num_classes, self.cfg.mix, mix_rng)
        sync = last_micro or not rt.enabled
        with self.net.no_sync() if not sync else contextlib.nullcontext():
            with torch.autocast(rt.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                loss = soft_cross_entropy(self.net(video), target)
            self.scaler.scale(loss * 0.0 if blank else loss / self.accumulation).backward()
        if not blank:
            tally.update_loss = tally.update_loss + loss.detach().float() / self.accumulation
            tally.videos += video.shape[0]

    def _check_finite(self, loss: float, epoch: int, step: int) -> None:
        """A NaN or infinite loss in any micro-batch of the update stops the run before its step."""
        if not math.isfinite(loss):
            first = step + 2 - self.accumulation
            steps = f"step {step + 1}" if first == step + 1 else f"steps {first}-{step + 1}"
            raise TrainingDiverged(
                f"loss is {loss} at epoch {epoch + 1}, update {self.update + 1}, {steps} "
                f"(lr {self.optimizer.param_groups[0]['lr']:.3g}); lower train.lr, check the data, "
                "or set train.amp=false")

    def _optimizer_update(self) -> float:
        """One AdamW step at the schedule's rates for this update; returns the base group's rate."""
        lr = self.schedule.apply(self.optimizer, self.update)
        if self.cfg.grad_clip:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.update += 1
        return lr

    def _report_update(self, loss: float, lr: float, speed: float, epoch: int, progress, task) -> None:
        progress.update(task, advance=1, loss=f"{loss:.4f}", lr=f"{lr:.2e}", speed=f"{speed:.1f}")
        if self.cfg.log_every and self.update % self.cfg.log_every == 0:
            log.info("epoch %d update %d/%d: loss %.4f lr %.3g %.1f videos/s", epoch + 1, self.update,
                     self.total_updates, loss, lr, speed)

    def _epoch_record(self, epoch: int, tally: "_EpochTally") -> dict:
        seconds = time.perf_counter() - tally.started
        losses = tally.losses
        return {
            "epoch": epoch + 1,
            "loss": float(np.mean(losses)) if losses else math.nan,
            "last_loss": losses[-1] if losses else math.nan,
            "lr": self.optimizer.param_groups[0]["lr"] / self.optimizer.param_groups[0].get("lr_scale", 1.0),
            "updates": self.update,
            "seconds": seconds,
            "videos_per_s": tally.videos * self.rt.world_size / max(seconds, 1e-9),
            "skipped_videos": self._all_ranks_sum(tally.skipped),
        }

    def _all_ranks_sum(self, count: int) -> int:
        """A count summed over the ranks (every rank calls it): the record is rank 0's, and the
        videos another rank skipped would otherwise go unreported."""
        if not self.rt.enabled:
            return count
        total = torch.tensor([count], dtype=torch.long, device=self.rt.device)
        dist.all_reduce(total)
        return int(total.item())


@dataclass
class _EpochTally:
    """What an epoch counts while it runs: losses per update, videos seen, unreadable videos skipped."""

    losses: list[float] = field(default_factory=list)
    update_loss: float | torch.Tensor = 0.0  # summed on the device, read once per update
    videos: int = 0
    skipped: int = 0
    started: float = field(default_factory=time.perf_counter)

    def close_update(self) -> float:
        """The finished update's loss (averaged over its micro-batches), recorded; the next starts at 0."""
        loss, self.update_loss = float(self.update_loss), 0.0
        self.losses.append(loss)
        return loss

    def speed(self, world_size: int) -> float:
        return self.videos * world_size / max(time.perf_counter() - self.started, 1e-9)


# ---------------------------------------------------------------- a whole run
def load_initial_weights(model: nn.Module, source: str) -> dict:
    """train.init_from: a run directory (its checkpoints/last.pt) or a checkpoint file; returns the
    weights loaded."""
    path = Path(source)
    if path.is_dir():
        path = path / "checkpoints" / LAST
    weights = load_checkpoint(path)["model"]
    own = model.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    mismatched = [k for k in own if k in weights and weights[k].shape != own[k].shape]
    if missing or unexpected or mismatched:
        example = (missing or unexpected or mismatched)[0]
        raise TcclipError(f"train.init_from: {path} was trained with another model configuration ({len(missing)} "
                          f"missing, {len(unexpected)} unexpected, {len(mismatched)} mismatched parameters, e.g. {example})")
    model.load_state_dict(weights)
    return weights


def training_dataset(cfg: RunConfig, task):
    """The task's training videos, with ``data.shuffle_labels`` (negative control) applied: the
    training list only, never an evaluation set."""
    from tcclip.data.dataset import VideoDataset

    dataset = VideoDataset.from_split(task.train, cfg.data.replace(mode="train"))
    if cfg.data.shuffle_labels:
        dataset.shuffle_labels(cfg.seed)
        log.info("data.shuffle_labels: the %d training labels are permuted (seed %d)", len(dataset), cfg.seed)
    return dataset


def prepare_run(cfg: RunConfig, task=None) -> tuple[Path, object]:
    """Check everything that can be checked before training (task, data files, selection set),
    create the run directory and write its resolved config.yaml. Returns (run dir, task)."""
    task = task or resolve_task(cfg)
    path = run_dir(cfg)
    path.mkdir(parents=True, exist_ok=True)
    config = to_dict(cfg)
    if (path / CONFIG).is_file():  # the run's evaluation settings are those it was created with
        config = keep_evaluation_settings(config, yaml.safe_load((path / CONFIG).read_text()))
    atomic_write_text(yaml.safe_dump(config, sort_keys=False), path / CONFIG)
    return path, task


def keep_evaluation_settings(config: dict, recorded: dict) -> dict:
    """``config`` with the evaluation settings of ``recorded``: a later command with other views
    writes its metrics to a file of its own (tcclip.engine.evaluate.metrics_filename), so config.yaml
    keeps describing the run's metrics.json."""
    for section, key in EVALUATION_SETTINGS:
        if key in recorded.get(section, {}):
            config[section][key] = recorded[section][key]
    return config


def check_inputs(path: Path, inputs: dict, resume: str, retrain_on_change: bool, rt: Dist) -> str:
    """Compare a run's training inputs with those it recorded (inputs.json) before continuing it.
    Changed: a one-line refusal, or, with ``retrain_on_change``, its training is discarded and
    started over. Returns the resume mode to train with."""
    recorded_file = path / INPUTS
    if resume == "auto" and (path / "checkpoints" / LAST).is_file() and recorded_file.is_file():
        changed = changes(json.loads(recorded_file.read_text()), inputs)
        if changed and not retrain_on_change:
            raise TcclipError(f"{path}: the training inputs changed since this run was trained "
                              f"({'; '.join(changed)}); retrain it with --retrain-on-change "
                              f"(or --resume never), or delete {path}")
        if changed:
            log.warning("%s: training inputs changed (%s): training it again", path, "; ".join(changed))
            resume = "never"
    elif resume == "auto" and (path / "checkpoints" / LAST).is_file():
        log.warning("%s: no record of its training inputs (a run of an older tcclip): recording the current ones", path)
    rt.barrier()  # every rank has read the record before it is replaced
    if rt.is_main:
        if resume == "never":
            (path / TRAINED).unlink(missing_ok=True)  # a kill during retraining leaves no stale result
        atomic_write_json(inputs, recorded_file)
    rt.barrier()
    return resume


def train_run(cfg: RunConfig, resume: str = "auto", retrain_on_change: bool = False) -> Path:
    """Train the run of ``cfg`` (resuming where it stopped, unless its training inputs changed)
    and write train.json; returns the run dir. The run folder is locked meanwhile: a second
    training or evaluation of it stops with one line."""
    from tcclip.engine.runlock import run_lock

    with run_lock(run_dir(cfg), "training"):
        return _train_run(cfg, resume, retrain_on_change)


def _train_run(cfg: RunConfig, resume: str, retrain_on_change: bool) -> Path:
    rt = setup_distributed(cfg.train.device)
    threads = configure_threads()
    task = resolve_task(cfg)
    seed_everything(cfg.seed)  # model initialisation (prompt vectors, VP copies) is seeded too
    model = VideoCLIP.build(cfg.model)  # weights of another architecture fail here, before any output
    init_state = None
    if cfg.train.epochs and cfg.train.init_from:
        init_state = load_initial_weights(model, cfg.train.init_from)
    path, _ = prepare_run(cfg, task)
    setup_logging(path / "train.log", rt.is_main)
    selection = selection_spec(cfg, task)
    inputs = training_inputs(task, cfg.model.backbone.weights, init_state,
                             selection and {select_key(cfg, task): selection}, trained=cfg.train.epochs > 0)
    resume = check_inputs(path, inputs, resume, retrain_on_change, rt)
    log.info("run %s: task %s, seed %d, %s, %d threads, %d process(es)", path, task.name, cfg.seed, rt.device,
             threads, rt.world_size)
    if cfg.train.epochs == 0:  # vanilla rows: CLIP as it is; the run exists only to be evaluated
        if rt.is_main:
            atomic_write_json({"epochs": 0, "updates": 0, "wall_s": 0.0, "final_loss": None, "history": []},
                              path / TRAINED)
        return path
    _fit_run(cfg, task, model, path, inputs, resume, rt)
    return path


def _fit_run(cfg: RunConfig, task, model: VideoCLIP, path: Path, inputs: dict, resume: str, rt: Dist) -> None:
    """Fine-tune the run's model on its task's training list and write train.json."""
    train_names = task.train.prompt_names(cfg.class_names)
    model.set_class_names(train_names)
    dataset = training_dataset(cfg, task)
    if cfg.train.compile:  # the selection passes run the same compiled encoders
        model.compile_encoders()
    trainer = Trainer(model, dataset, len(train_names), cfg.train, cfg.seed, path / "checkpoints", rt,
                      config_hash=run_id(cfg), validator=selection_validator(cfg, task, train_names, rt))
    result = trainer.fit(resume)
    if rt.is_main:
        last = result.history[-1] if result.history else {}
        atomic_write_json({
            "epochs": result.epochs,
            "updates": result.updates,
            "wall_s": round(trainer.wall_s, 3),
            "final_loss": last.get("loss"),
            "videos_per_s": last.get("videos_per_s"),
            "best": result.best,
            **selection_record(cfg, task),
            "inputs": inputs,
            "history": result.history,
        }, path / TRAINED)
    if not cfg.train.keep_optimizer_state:  # after train.json: a kill in between leaves the full file
        trainer.save(optimizer=False)
    log.info("run %s trained: %d epochs in %.1f s", path, result.epochs, trainer.wall_s)


def selection_record(cfg: RunConfig, task) -> dict:
    """train.json's account of the best-epoch selection: the set and its views (None: the last
    epoch is evaluated, nothing was selected)."""
    key = select_key(cfg, task)
    if key is None:
        return {"selection_set": None, "selection_views": None}
    data = selection_data(cfg)
    return {"selection_set": key, "selection_views": {"clips": data.num_clips, "crops": data.num_crops}}


def selection_validator(cfg: RunConfig, task, train_names: list[str], rt: Dist) -> Validator | None:
    """Best-epoch selection: top-1 on the selection set (``selection_spec``, with the views of
    ``selection_data``) at the epochs ``EvalConfig.validates``
    names (every ``eval.eval_every_epochs`` from ``eval.eval_first_epoch``, and the last); None
    when the protocol evaluates the last epoch."""
    from tcclip.data.dataset import VideoDataset
    from tcclip.engine.evaluate import predict, score

    spec = selection_spec(cfg, task)
    if spec is None:
        return None
    val_set = VideoDataset.from_split(spec, selection_data(cfg))
    val_names = spec.prompt_names(cfg.class_names)

    def validator(m: nn.Module, epoch: int) -> float | None:
        if not cfg.eval.validates(epoch, cfg.train.epochs):
            return None
        amp = autocast_dtype(cfg.train.amp, cfg.train.amp_dtype, rt.device)
        top1 = score(predict(m, val_set, val_names, cfg.eval.batch_size, rt, cfg.eval.workers, amp))["top1"]
        m.set_class_names(train_names)
        return top1

    return validator
