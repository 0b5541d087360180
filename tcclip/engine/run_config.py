"""The run configuration: model + data + protocol task + training + evaluation + seed.

Resolution order (later wins): dataclass defaults < the protocol file's settings at the
catalog's scale (``training``/``testing``/``data``/``evaluation``, with its
``embedded:`` block at the embedded scale) < run config files < ``key=value``
overrides. ``model.preset`` (tc_clip, vifi_clip, vanilla_clip) expands to the preset's
model section before the rest of ``model`` is merged over it.

A run is named by ``run_id`` = the hash of what determines the trained weights (model,
training data, training settings, seed, best-epoch selection), so one training serves
every table and evaluation that needs it; evaluation-only and operational fields
(views, batch sizes of evaluation, workers, output folder, video roots) are left out.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tcclip import paths
from tcclip.config import config_hash, from_dict, load_yaml, merge, parse_overrides, to_dict
from tcclip.data.dataset import DataConfig
from tcclip.errors import ConfigError
from tcclip.engine.mixup import MixConfig
from tcclip.model.video_clip import ModelConfig, model_preset

RUN_CONFIG_DIR = paths.RUN_CONFIGS
ONLY_EVAL = "only"

# Fields that do not change the trained weights: left out of the run id.
OPERATIONAL = {
    "output": None,
    "protocol": {"roots", "lists"},
    "data": {"mode", "num_clips", "num_crops", "view_sampling", "view_seed", "on_error"},
    # train.compile: the compiled encoders compute the same products as eager, fused and
    # reassociated (float rounding only, like another device or thread count, which are left
    # out too): switching it on for a GPU re-run keeps the run, its checkpoints and its metrics.
    "train": {"workers", "log_every", "device", "keep_optimizer_state", "compile"},
    "eval": {"batch_size", "workers", "checkpoint", "wiseft"},
}

# Settings that change an evaluation of the same trained weights (test views, which weights are
# scored, unreadable videos): recorded in every metrics file; an evaluation that changes them
# writes a metrics file of its own.
EVALUATION_SETTINGS = (("data", "num_clips"), ("data", "num_crops"), ("data", "view_sampling"),
                       ("data", "view_seed"), ("data", "on_error"), ("eval", "checkpoint"))


@dataclass
class ProtocolConfig:
    name: str = "zero_shot"
    """Protocol name (ablations/protocols/<name>.yaml) or a protocol file path."""
    catalog: str = "real"
    """Dataset catalog: 'real' (packaged) or a catalog YAML (the synthetic one: OUT/catalog.yaml)."""
    dataset: str | None = None
    """few_shot / base2novel: the dataset of the task to run."""
    shots: int | None = None
    """few_shot: K."""
    subset: str | None = None
    """base2novel: the training subset (s1, s2, s3)."""
    kshot_source: Literal["given", "generate"] = "given"
    kshot_seed: int = 0
    roots: dict[str, str] = field(default_factory=dict)
    """Video folder of each real dataset, e.g. {hmdb51: /data/hmdb51}."""
    lists: dict[str, str] = field(default_factory=dict)
    """Annotation lists not shipped, e.g. {k400/train: k400_train.txt}."""


@dataclass
class TrainConfig:
    epochs: int = 10
    """0: no training (vanilla CLIP rows)."""
    warmup_epochs: float = 5.0
    lr: float = 8e-6
    """Base learning rate (CLIP weights, attention bias); prompt/VP parameters get prompt_lr_mult x."""
    prompt_lr_mult: float = 10.0
    min_lr: float | None = None
    """Floor of the cosine, one absolute rate for every group (the official lr_min; the protocol files
    state the official configs' values). Unset: ``min_lr_ratio`` x ``lr``."""
    min_lr_ratio: float = 0.01
    schedule: Literal["timm_cosine", "cosine_after_warmup"] = "timm_cosine"
    """timm_cosine: the official curve (timm's CosineLRScheduler as the official loop steps it: the
    cosine counts from the start of training, warm-up included, and each update runs at the rate set
    after the previous one). cosine_after_warmup: ours before issue #15, a full cosine from the base
    rate over the updates after the warm-up, every group's rate and floor scaled by its multiplier
    (tcclip.engine.optim)."""
    weight_decay: float = 0.001
    weight_decay_rule: Literal["all", "no_decay_1d"] = "all"
    """all: every trainable parameter is decayed, as in the official code; no_decay_1d: biases, norms,
    the logit scale and other 1-d parameters are not (ours before issue #15)."""
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    eps: float = 1e-8
    total_batch: int = 256
    """Videos per optimiser update; gradient accumulation reaches it."""
    batch_size: int = 4
    """Videos per forward pass per process (GPU), at most: a smaller total batch is one forward."""
    mix: MixConfig = field(default_factory=MixConfig)
    amp: bool = True
    """torch.amp autocast (train.amp_dtype) in training and evaluation, + grad scaling with float16
    on GPU; on CPU only bfloat16 autocasts (the default float16 is ignored there)."""
    amp_dtype: Literal["float16", "bfloat16"] = "float16"
    grad_clip: float | None = None
    init_from: str | None = None
    """Start from another run's weights (a run directory or a checkpoint file) instead of CLIP's:
    the paper's "(P)" rows start few-shot / base-to-novel training from the zero-shot model."""
    workers: int = 0
    """DataLoader worker processes (0 on CPU: workers compete with training for the cores)."""
    device: str = "auto"
    log_every: int = 10
    """Updates between two log lines."""
    compile: bool = False
    """torch.compile (inductor) the video and text encoders for training and evaluation
    (``VideoCLIP.compile_encoders``): fewer, fused kernels, for GPUs. The first step of each
    shape compiles (minutes on a CPU; benchmarks/README.md section 11); not in the run id."""
    keep_optimizer_state: bool = False
    """Keep the optimizer state in checkpoints/last.pt once the run has finished. Off: it is only
    needed to continue an unfinished run, and it is two thirds of the file (AdamW's two moments)."""

    def floor_lr(self) -> float:
        """The cosine's floor for the base group: ``min_lr``, or ``min_lr_ratio`` x ``lr`` when unset."""
        return self.min_lr if self.min_lr is not None else self.lr * self.min_lr_ratio

    def micro_batch(self, world_size: int) -> int:
        """Videos per forward on each process: batch_size, or the total batch's share when smaller."""
        return max(1, min(self.batch_size, self.total_batch // world_size))

    def validate(self) -> None:
        if self.epochs < 0:
            raise ConfigError(f"train.epochs: must be >= 0, got {self.epochs}")
        if self.epochs and not 0 <= self.warmup_epochs <= self.epochs:
            raise ConfigError(f"train.warmup_epochs: must be in [0, epochs={self.epochs}], got {self.warmup_epochs}")
        if self.lr <= 0 or self.prompt_lr_mult <= 0:
            raise ConfigError(f"train.lr and train.prompt_lr_mult must be > 0, got {self.lr}, {self.prompt_lr_mult}")
        if self.min_lr is not None and self.min_lr < 0:
            raise ConfigError(f"train.min_lr: must be >= 0, got {self.min_lr}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"train.min_lr_ratio: must be in [0, 1], got {self.min_lr_ratio}")
        if self.batch_size < 1 or self.total_batch < 1:
            raise ConfigError(f"train.batch_size and train.total_batch must be >= 1, got {self.batch_size}, {self.total_batch}")
        if self.total_batch % self.micro_batch(1):  # checked again with the process count when training starts
            raise ConfigError(f"train.total_batch={self.total_batch} is not a multiple of train.batch_size="
                              f"{self.batch_size}: the gradient accumulation would not be whole")
        if len(self.betas) != 2:
            raise ConfigError(f"train.betas: expected two numbers, got {self.betas}")
        if self.workers < 0:
            raise ConfigError(f"train.workers: must be >= 0, got {self.workers}")


@dataclass
class EvalConfig:
    batch_size: int = 8
    """Videos per forward pass (each with clips x crops views)."""
    workers: int = 0
    checkpoint: Literal["last", "best"] = "last"
    """Which weights to evaluate: the last epoch, or the best on ``select_on`` (protocol's choice)."""
    select_on: str | None = None
    """What picks the best epoch during training: an eval key of the task (base2novel: 'base'),
    'only' (the task's single eval set: few-shot), or a catalog split 'dataset/split' the task
    need not evaluate (zero-shot: 'k400/val', held-out videos of the training classes, scored
    with their own class names)."""
    select_clips: int | None = None
    """Clips per video of the selection pass; None: the test views' (data.num_clips). The official
    zero-shot / fully-supervised loop validates 1 clip x 1 crop whatever its test views."""
    select_crops: int | None = None
    """Crops per video of the selection pass (1 or 3); None: the test views' (data.num_crops)."""
    eval_every_epochs: int = 1
    """Validation period for best-epoch selection (the last epoch is always validated)."""
    eval_first_epoch: int | None = None
    """First validated epoch (1-based); then every ``eval_every_epochs`` after it, and the last.
    The official loop validates 0-based epochs divisible by its save_freq, its first and its last:
    few-shot 1, 11, 21, 31, 41, 50 = first 1, every 10. None: ``eval_every_epochs`` (ours before
    issue #15: epochs 5, 10, ..., 50)."""

    def validates(self, epoch: int, epochs: int) -> bool:
        """Whether best-epoch selection scores the weights after ``epoch`` (1-based) of ``epochs``."""
        first = self.eval_first_epoch or self.eval_every_epochs
        return epoch == epochs or (epoch >= first and (epoch - first) % self.eval_every_epochs == 0)
    wiseft: float | None = None
    """WiSE-FT ratio the protocol asks for (zero-shot: 0.7); `tcclip evaluate --wiseft` applies it."""


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    scale: Literal["auto", "paper", "embedded"] = "auto"
    """Which protocol settings apply; 'auto' reads it from the catalog (which must then exist)."""
    class_names: Literal["plain", "rephrased"] = "plain"
    """Prompt class names: the label files' ('plain') or the LLM-rephrased descriptions."""
    seed: int = 1
    output: str = "results/runs"
    """Folder that holds the run directories (each named by run_id)."""

    def validate(self) -> None:
        if self.eval.checkpoint == "best" and not self.eval.select_on:
            raise ConfigError("eval.checkpoint=best needs eval.select_on (the eval set that picks the epoch)")
        if self.eval.eval_every_epochs < 1:
            raise ConfigError(f"eval.eval_every_epochs: must be >= 1, got {self.eval.eval_every_epochs}")
        if self.eval.eval_first_epoch is not None and self.eval.eval_first_epoch < 1:
            raise ConfigError(f"eval.eval_first_epoch: must be >= 1 or null, got {self.eval.eval_first_epoch}")
        if self.eval.select_clips is not None and self.eval.select_clips < 1:
            raise ConfigError(f"eval.select_clips: must be >= 1 or null, got {self.eval.select_clips}")
        if self.eval.select_crops not in (None, 1, 3):
            raise ConfigError(f"eval.select_crops: must be 1, 3 or null, got {self.eval.select_crops}")


# ---------------------------------------------------------------- protocol settings -> run config
def _protocol_settings(raw: dict) -> dict:
    """The protocol's settings at the catalog's scale, as a RunConfig-shaped dict."""
    from tcclip.data.catalog import Catalog
    from tcclip.data.protocols import Protocol

    section = raw.get("protocol") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"protocol: expected a mapping, got {section!r}")
    protocol = Protocol.load(section.get("name", ProtocolConfig.name))
    scale = raw.get("scale", "auto")
    if scale == "auto":  # needs the catalog file; shipped run configs name the scale instead
        scale = Catalog.load(section.get("catalog", ProtocolConfig.catalog)).scale
    settings = protocol.settings(scale)
    where = f"{protocol.path}"
    out: dict = {"scale": scale, "train": _training_section(settings["training"], where),
                 "data": {**settings["data"], **_test_views(settings["testing"], where)}}
    out.update(_evaluation_section(settings["evaluation"], where))
    return out


TEST_VIEW_KEYS = ("num_clips", "num_crops", "view_sampling", "view_seed")


def _test_views(testing: dict, where: str) -> dict:
    """The protocol's ``testing`` section: data.* settings of the test views."""
    extra = sorted(set(testing) - set(TEST_VIEW_KEYS))
    if extra:
        raise ConfigError(f"{where}: testing.{extra[0]}: not a test-view setting ({', '.join(TEST_VIEW_KEYS)})")
    return {key: testing[key] for key in TEST_VIEW_KEYS if key in testing}


def _evaluation_section(evaluation: dict, where: str) -> dict:
    """The protocol's ``evaluation`` section as RunConfig keys: eval.* and class_names."""
    unknown = sorted(set(evaluation) - EVALUATION_KEYS)
    if unknown:  # a misspelt key would otherwise be ignored (e.g. the older wise_ft for wiseft)
        raise ConfigError(f"{where}: evaluation.{unknown[0]}: unknown key; valid: {', '.join(sorted(EVALUATION_KEYS))}")
    out: dict = {"eval": _checkpoint_choice(evaluation, where)}
    for key in ("eval_every_epochs", "eval_first_epoch"):
        if key in evaluation:
            out["eval"][key] = evaluation[key]
    if evaluation.get("wiseft") is not None:
        out["eval"]["wiseft"] = evaluation["wiseft"]
    if "class_names" in evaluation:
        out["class_names"] = evaluation["class_names"]
    return out

def _checkpoint_choice(evaluation: dict, where: str) -> dict:
    """``evaluation.checkpoint`` and the selection set's settings as eval.* keys."""
    choice = evaluation.get("checkpoint", "last")
    selection = {key: evaluation[key] for key in SELECTION_KEYS if key in evaluation}
    if choice == "last":
        if selection:  # a selection set that picks nothing would still cost a pass per epoch
            raise ConfigError(f"{where}: evaluation.{next(iter(selection))}: only with checkpoint best_epoch "
                              "or best_base_epoch (checkpoint: last selects no epoch)")
        return {}
    if choice not in ("best_epoch", "best_base_epoch"):
        raise ConfigError(f"{where}: evaluation.checkpoint: expected last, best_epoch or best_base_epoch, got {choice!r}")
    default = ONLY_EVAL if choice == "best_epoch" else "base"
    return {"checkpoint": "best", "select_on": default, **selection}


SELECTION_KEYS = ("select_on", "select_clips", "select_crops")
"""A protocol's ``evaluation:`` keys that name the best-epoch selection set and its views."""

EVALUATION_KEYS = {"metrics", "aggregate", "checkpoint", "eval_every_epochs", "eval_first_epoch", "wiseft",
                   "class_names", *SELECTION_KEYS}
"""A protocol's ``evaluation:`` keys (ablations/README.md documents each)."""

_TRAINING_KEYS = {
    "epochs": "epochs", "warmup_epochs": "warmup_epochs", "base_lr": "lr", "total_batch": "total_batch",
    "min_lr": "min_lr", "min_lr_ratio": "min_lr_ratio", "prompt_lr_mult": "prompt_lr_mult", "amp": "amp",
    "schedule": "schedule", "weight_decay_rule": "weight_decay_rule",
}
_MIX_KEYS = {"mixup": "mixup_alpha", "cutmix": "cutmix_alpha", "label_smoothing": "label_smoothing",
             "mix_switch_prob": "switch_prob", "mix_partner": "partner"}


def _training_section(training: dict, where: str) -> dict:
    out: dict = {}
    for key, value in training.items():
        if key in _TRAINING_KEYS:
            out[_TRAINING_KEYS[key]] = value
        elif key in _MIX_KEYS:
            out.setdefault("mix", {})[_MIX_KEYS[key]] = value
        elif key == "optimizer":
            optimizer = dict(value or {})
            name = str(optimizer.pop("name", "adamw")).lower()
            if name != "adamw":
                raise ConfigError(f"{where}: training.optimizer.name: only adamw is implemented, got {name!r}")
            for sub in ("betas", "eps", "weight_decay"):
                if sub in optimizer:
                    out[sub] = optimizer.pop(sub)
            if optimizer:
                raise ConfigError(f"{where}: training.optimizer.{next(iter(optimizer))}: unknown; valid: name, betas, eps, weight_decay")
        else:
            valid = ", ".join([*_TRAINING_KEYS, *_MIX_KEYS, "optimizer"])
            raise ConfigError(f"{where}: training.{key}: unknown setting; valid: {valid}")
    return out


def _expand_model_preset(model: dict) -> dict:
    model = dict(model or {})
    preset = model.pop("preset", None)
    if preset is None:
        return model
    if not isinstance(preset, str):
        raise ConfigError(f"model.preset: expected a preset name, got {preset!r}")
    return merge(model_preset(preset), model)


def run_config_path(name_or_path: str | Path) -> Path:
    """A run config file, or a bare name of one shipped in tcclip/resources/runs (embedded, paper)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    shipped = RUN_CONFIG_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    known = ", ".join(sorted(p.stem for p in RUN_CONFIG_DIR.glob("*.yaml")))
    raise ConfigError(f"run config {name_or_path!r}: not a file and not a shipped config ({known})")


def resolve_run_config(sources: list[str | Path | dict], overrides: list[str] | None = None) -> RunConfig:
    """Defaults < protocol settings < config files/dicts (in order) < key=value overrides."""
    raw: dict = {}
    for source in sources:
        raw = merge(raw, source if isinstance(source, dict) else load_yaml(run_config_path(source)))
    if overrides:
        raw = merge(raw, parse_overrides(overrides))
    raw = dict(raw)
    raw["model"] = _expand_model_preset(raw.get("model") or {})
    resolved = merge(_protocol_settings(raw), raw)
    cfg = from_dict(RunConfig, resolved)
    cfg.data = cfg.data.replace(mode="train")
    return cfg


def load_resolved(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """A run directory's config.yaml (already resolved: no protocol merge), plus overrides."""
    raw = load_yaml(path)
    if overrides:
        raw = merge(raw, parse_overrides(overrides))
    raw["model"] = _expand_model_preset(raw.get("model") or {})
    return from_dict(RunConfig, raw)


def training_identity(cfg: RunConfig) -> dict:
    """The part of the config that determines the trained weights."""
    data = to_dict(cfg)
    for section, keys in OPERATIONAL.items():
        if keys is None:
            data.pop(section, None)
            continue
        for key in keys:
            data[section].pop(key, None)
    if cfg.train.epochs == 0:  # nothing is trained: training settings cannot matter
        data["train"] = {"epochs": 0}
        for key in ("select_on", "eval_every_epochs", "eval_first_epoch"):
            data["eval"].pop(key, None)
    if not data["eval"].get("select_on"):  # no selection pass: its views cannot matter
        data["eval"].pop("select_clips", None)
        data["eval"].pop("select_crops", None)
    return _without_nones(data)


def _without_nones(node):
    """Unset options (None) leave the id alone, so adding an optional field keeps existing run ids."""
    if isinstance(node, dict):
        return {k: _without_nones(v) for k, v in node.items() if v is not None}
    return node


def run_id(cfg: RunConfig) -> str:
    return config_hash(training_identity(cfg))


def run_dir(cfg: RunConfig) -> Path:
    return Path(cfg.output) / run_id(cfg)


def evaluation_settings(cfg: RunConfig) -> dict:
    """The EVALUATION_SETTINGS of a config, as {"data.num_clips": 2, ...}."""
    data = to_dict(cfg)
    return {f"{section}.{key}": data[section][key] for section, key in EVALUATION_SETTINGS}


def to_yaml_dict(cfg: RunConfig) -> dict:
    return copy.deepcopy(to_dict(cfg))


def replace(cfg: RunConfig, **sections) -> RunConfig:
    return dataclasses.replace(cfg, **sections)


# ---------------------------------------------------------------- the concrete task
def resolve_task(cfg: RunConfig, strict: bool = True):
    """The protocol task this run trains and evaluates (tcclip.data.protocols.Task).

    Every dataset, split, list and label file is checked here, before any training:
    a missing one is a one-line error.
    """
    from tcclip.data.protocols import Protocol
    from tcclip.data.video import check_backend

    p = cfg.protocol
    catalog = _catalog(cfg)
    if cfg.scale not in ("auto", catalog.scale):
        raise ConfigError(f"scale={cfg.scale} but the catalog {catalog.path} is at the {catalog.scale} scale")
    check_backend(cfg.data.backend, catalog.scale)  # no silent PyAV at the paper scale
    tasks = Protocol.load(p.name).tasks(
        catalog, scale=catalog.scale,
        datasets=[p.dataset] if p.dataset else None,
        shots=[p.shots] if p.shots is not None else None,
        subsets=[p.subset] if p.subset else None,
        kshot_source=p.kshot_source, kshot_seed=p.kshot_seed,
        workdir=Path(cfg.output) / "_kshot", strict=strict,
    )
    if len(tasks) != 1:
        names = ", ".join(t.name for t in tasks)
        raise ConfigError(f"protocol {p.name}: {len(tasks)} tasks match ({names}); pick one with "
                          "protocol.dataset / protocol.shots / protocol.subset")
    task = tasks[0]
    selection_spec(cfg, task, strict)  # a selection set that does not exist is an error now, not after epoch 1
    return task


def _catalog(cfg: RunConfig):
    from tcclip.data.catalog import Catalog

    p = cfg.protocol
    return Catalog.load(p.catalog, roots=p.roots or None, lists=p.lists or None)


def select_key(cfg: RunConfig, task) -> str | None:
    """The set that picks the best epoch: an eval key of the task or a catalog split
    'dataset/split'; None when the last epoch is used."""
    key = cfg.eval.select_on
    if not key or cfg.train.epochs == 0:
        return None
    if key == ONLY_EVAL:
        if len(task.evals) != 1:
            raise ConfigError(f"eval.select_on=only but task {task.name} has {len(task.evals)} eval sets "
                              f"({', '.join(task.evals)}); name one")
        return next(iter(task.evals))
    if key not in task.evals and catalog_selection(key) is None:
        raise ConfigError(f"eval.select_on={key!r}: expected an eval set of task {task.name} "
                          f"({', '.join(task.evals)}), 'only', or a catalog split dataset/split (e.g. k400/val)")
    return key


def catalog_selection(select_on: str | None) -> tuple[str, str] | None:
    """(dataset, split) when ``select_on`` names a catalog split ('k400/val'), else None (an eval
    key of the task, 'only', or no selection). The workflow reads it to check that split's data."""
    if not select_on or select_on.count("/") != 1:
        return None
    dataset, split = select_on.split("/")
    return dataset, split


def selection_spec(cfg: RunConfig, task, strict: bool = True):
    """The SplitSpec of ``select_key``: the task's own eval set, or the catalog's split (checked
    here: a missing dataset, split, list or video folder is a one-line error); None without one."""
    from tcclip.data.errors import CatalogError

    key = select_key(cfg, task)
    if key is None or key in task.evals:
        return None if key is None else task.evals[key]
    dataset, split = catalog_selection(key)
    try:
        return _catalog(cfg).split(dataset, split, strict=strict)
    except CatalogError as err:
        raise ConfigError(f"eval.select_on={key!r}: {err}") from None


def selection_data(cfg: RunConfig):
    """The DataConfig of the selection pass: the test views, or eval.select_clips x eval.select_crops."""
    views = {"num_clips": cfg.eval.select_clips, "num_crops": cfg.eval.select_crops}
    return cfg.data.replace(mode="test", **{key: value for key, value in views.items() if value is not None})
