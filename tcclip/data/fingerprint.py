"""Content fingerprints: sha256 digests ("sha256:<hex>") of what a run is made from.

* a list: its entries as parsed (path, label; not the file's spacing or line ends) and the
  class names of its label file (and of its rephrased-names file, where it has one);
* the videos of a list: the bytes of every listed file, in list order;
* a weights file: its bytes (a 600 MB ViT-B/16 file hashes in a few seconds, next to hours
  of training: no cache);
* the synthetic benchmark: the digest ``tcclip synth`` writes into its manifest.json;
* the code: the bytes of every file of the tcclip package.

Two fingerprints are equal exactly when what they digest is equal; a prefix of 12 hex
digits names one in messages.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from tcclip.data.errors import DataError

PREFIX = "sha256:"
_CHUNK = 1 << 20
PACKAGE = Path(__file__).resolve().parents[1]  # the tcclip package: every file of it


def _tagged(hasher) -> str:
    return PREFIX + hasher.hexdigest()


def short(fingerprint: str | None) -> str:
    """A fingerprint for messages: sha256:<12 hex digits>, or 'none'."""
    return "none" if fingerprint is None else fingerprint[: len(PREFIX) + 12]


def file_fingerprint(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (cannot fingerprint it)")
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            hasher.update(chunk)
    return _tagged(hasher)


def list_fingerprint(annotation_list: str | Path, label_file: str | Path,
                     rephrased_file: str | Path | None = None) -> str:
    """Entries of an annotation list (as parsed) + its class names; raises on a malformed list."""
    from tcclip.data.annotations import load_class_names, read_annotation_list

    hasher = hashlib.sha256(b"tcclip annotation list 1\n")
    for entry in read_annotation_list(annotation_list):
        hasher.update(f"{entry.path}\t{entry.label}\n".encode())
    for title, names_file in (("labels", label_file), ("rephrased", rephrased_file)):
        if names_file is None:
            continue
        hasher.update(f"{title}\n".encode())
        for name in load_class_names(names_file):
            hasher.update(f"{name}\n".encode())
    return _tagged(hasher)


def videos_fingerprint(annotation_list: str | Path, video_root: str | Path) -> str:
    """The bytes of every video a list names, in list order (each path with its file's digest)."""
    from tcclip.data.annotations import read_annotation_list

    hasher = hashlib.sha256(b"tcclip videos 1\n")
    for entry in read_annotation_list(annotation_list):
        hasher.update(f"{entry.path}\t{file_fingerprint(Path(video_root) / entry.path)}\n".encode())
    return _tagged(hasher)


def split_fingerprint(spec) -> str:
    """A resolved split (tcclip.data.catalog.SplitSpec): its list, labels and rephrased names."""
    return list_fingerprint(spec.annotation_list, spec.label_file, spec.rephrased_file)


def benchmark_fingerprint(video_root: str | Path | None) -> str | None:
    """The digest a synthetic benchmark's manifest.json holds ("fingerprint"), found in the video
    root or the two folders above it (OUT/videos/<dataset>); a manifest without one (an older
    ``tcclip synth``) stands for itself: its own bytes (seed, size, counts). None for data
    without a manifest (real datasets)."""
    if video_root is None:
        return None
    root = Path(video_root).resolve()
    for folder in (root, *list(root.parents)[:2]):
        manifest = folder / "manifest.json"
        if manifest.is_file():
            try:
                recorded = json.loads(manifest.read_text()).get("fingerprint")
            except (OSError, json.JSONDecodeError, AttributeError):
                raise DataError(f"{manifest}: unreadable manifest (expected a JSON object)") from None
            return recorded or file_fingerprint(manifest)
    return None


@lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """Every file of the tcclip package (code, shipped configs, label and split files)."""
    hasher = hashlib.sha256(b"tcclip sources 1\n")
    for path in sorted(PACKAGE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            hasher.update(f"{path.relative_to(PACKAGE).as_posix()}\t{file_fingerprint(path)}\n".encode())
    return _tagged(hasher)


def digest_of(mapping: dict) -> str:
    """One fingerprint of a mapping of fingerprints (e.g. every eval set of a table)."""
    return _tagged(hashlib.sha256(json.dumps(mapping, sort_keys=True).encode()))


def changes(recorded: dict, current: dict, prefix: str = "") -> list[str]:
    """'what: old -> new' for every leaf of two nested fingerprint mappings that differs."""
    out = []
    for key in sorted(set(recorded) | set(current), key=str):
        old, new = recorded.get(key), current.get(key)
        name = f"{prefix}{key}"
        if isinstance(old, dict) or isinstance(new, dict):
            out += changes(old or {}, new or {}, f"{name} ")
        elif old != new:
            out.append(f"{name} {short(old)} -> {short(new)}")
    return out


def state_fingerprint(state: dict) -> str:
    """The tensors of a state dict (names, dtypes, shapes, bytes): the weights a run starts from,
    whatever else its checkpoint file holds."""
    import torch

    hasher = hashlib.sha256(b"tcclip state dict 1\n")
    for name in sorted(state):
        tensor = state[name]
        if not isinstance(tensor, torch.Tensor):
            continue
        hasher.update(f"{name}\t{tensor.dtype}\t{tuple(tensor.shape)}\n".encode())
        hasher.update(tensor.detach().cpu().contiguous().flatten().view(torch.uint8).numpy().tobytes())
    return _tagged(hasher)


def training_inputs(task, weights: str | None, init_state: dict | None = None, selection: dict | None = None,
                    trained: bool = True) -> dict:
    """What a run's weights are made from: its training list(s) and labels, the set that picks
    its best epoch, the synthetic benchmark they belong to, the CLIP weights file and the
    weights of ``train.init_from``. ``selection``: {key: SplitSpec} of that set (zero-shot: a
    catalog split the task does not evaluate). An untrained run (vanilla CLIP) is made of the
    weights only."""
    inputs: dict = {"weights": None if weights is None else file_fingerprint(weights)}
    if not trained:
        return inputs
    inputs["train"] = {task.train.key: split_fingerprint(task.train)}
    if selection:
        inputs["selection"] = {key: split_fingerprint(spec) for key, spec in selection.items()}
    benchmark = benchmark_fingerprint(task.train.video_root)
    if benchmark is not None:
        inputs["benchmark"] = benchmark
    if init_state is not None:
        inputs["init_from"] = state_fingerprint(init_state)
    return inputs


def evaluation_data(specs: dict) -> dict:
    """Eval key -> fingerprint of its list and labels, plus the synthetic benchmark's digest
    under "benchmark" where the videos come from one."""
    data: dict = {key: split_fingerprint(spec) for key, spec in specs.items()}
    benchmarks = {benchmark_fingerprint(spec.video_root) for spec in specs.values()} - {None}
    if benchmarks:
        data["benchmark"] = benchmarks.pop() if len(benchmarks) == 1 else sorted(benchmarks)
    return data
