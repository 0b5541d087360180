"""How `tcclip synth` lands on disk: one writer per folder, nothing of the user's deleted,
nothing half-written under a final name, and one fingerprint over every file it wrote.

* A folder lock (``.tcclip-synth.lock``, ``fcntl.flock``: the kernel drops it when its
  process dies) holds the writer's PID while it writes, so a second synth names the first;
  it is emptied when the writer is done, so two finished renders are the same bytes, this
  file included.
* Everything is rendered into ``.tcclip-synth-staging/`` inside the folder and moved into
  place at the end; an interruption or a failure removes the staging folder and leaves the
  previous benchmark as it was.
* The previous benchmark is what its ``manifest.json`` lists under ``files``: exactly those
  files are replaced or deleted. A folder with other content and no manifest is not a
  benchmark and is refused; a user's file in the way of a new one is named, never overwritten.
* ``fingerprint``: sha256 over the lines ``"<sha256 of the file>  <relative path>\\n"`` of
  every listed file, sorted by path (``sha256sum``'s format; manifest.json itself excluded).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path

from tcclip.data.errors import DataError

MANIFEST = "manifest.json"
LOCK_NAME = ".tcclip-synth.lock"
STAGING_NAME = ".tcclip-synth-staging"
FINGERPRINT_RULE = ("sha256 of the lines '<sha256 of the file>  <path>\\n' of every file under 'files', "
                    "sorted by path (manifest.json not included)")
_OURS = (LOCK_NAME, STAGING_NAME)


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def digest_tree(root: Path) -> dict[str, str]:
    """{relative posix path: sha256} of every file under root, manifest.json excluded."""
    files = (p for p in root.rglob("*") if p.is_file() and p.relative_to(root).as_posix() != MANIFEST)
    return {p.relative_to(root).as_posix(): file_sha256(p) for p in sorted(files)}


def fingerprint(digests: dict[str, str]) -> str:
    lines = "".join(f"{digests[path]}  {path}\n" for path in sorted(digests))
    return "sha256:" + hashlib.sha256(lines.encode("utf-8")).hexdigest()


def _short_list(paths: list[str], limit: int = 5) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def read_manifest(out: Path) -> dict:
    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except FileNotFoundError:
        raise DataError(f"{out}: no {MANIFEST} here (not a benchmark written by tcclip synth)") from None
    except (OSError, ValueError) as err:
        raise DataError(f"{out / MANIFEST}: unreadable ({err})") from None
    if not isinstance(manifest, dict):
        raise DataError(f"{out / MANIFEST}: expected a JSON object")
    return manifest


def listed_files(out: Path, manifest: dict) -> dict[str, str]:
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise DataError(f"{out / MANIFEST}: lists no files (written by tcclip synth version "
                        f"{manifest.get('version', '?')}, before manifests listed them), so what is ours cannot be "
                        f"told from yours; delete the folder yourself or choose another --out")
    return files


class BenchmarkFolder:
    """``with BenchmarkFolder(out) as folder:`` write into ``folder.staging``, then ``folder.commit()``."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.staging = self.out / STAGING_NAME
        self.previous: dict[str, str] = {}
        self._lock_fd: int | None = None

    def __enter__(self) -> BenchmarkFolder:
        self._refuse_foreign_folder()
        self._lock()
        try:
            if (self.out / MANIFEST).exists():
                self.previous = listed_files(self.out, read_manifest(self.out))
            shutil.rmtree(self.staging, ignore_errors=True)  # left by a killed run; the lock says none is running
            self.staging.mkdir()
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        self._unlock()

    def _refuse_foreign_folder(self) -> None:
        if self.out.exists() and not self.out.is_dir():
            raise DataError(f"{self.out}: exists and is not a folder; choose another --out")
        if not self.out.is_dir() or (self.out / MANIFEST).is_file():
            return
        foreign = sorted(p.name for p in self.out.iterdir() if p.name not in _OURS)
        if foreign:
            raise DataError(f"{self.out}: not empty ({_short_list(foreign)}) and holds no {MANIFEST}, so it is no "
                            f"benchmark of tcclip synth; nothing was deleted; choose an empty or new --out")

    def _lock(self) -> None:
        # fcntl, not filelock: filelock truncates the lock file on open, which would erase the
        # holder's PID before a second writer could read it.
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise DataError(f"{self.out}: cannot write there ({err.strerror}); choose another --out") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataError(f"{self.out}: another tcclip synth (PID {holder}) is writing this folder; "
                            f"wait for it to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            # The PID is only news while the lock is held: left in the file, it made every render's
            # folder differ from every other (the project check compares every file).
            os.ftruncate(self._lock_fd, 0)
            os.close(self._lock_fd)  # releases the flock; the file stays (no race on unlink)
            self._lock_fd = None

    def refuse_clashes(self, relpaths) -> None:
        """Refuse if a file that is not the previous benchmark's is where a new one goes."""
        clashes = []
        for rel in sorted(set(relpaths) - set(self.previous) - {MANIFEST}):
            target = self.out / rel
            if target.exists() or target.is_symlink() or any(p.exists() and not p.is_dir() for p in target.parents):
                clashes.append(rel)
        if clashes:
            raise DataError(f"{self.out}: {len(clashes)} file(s) not written by tcclip synth are where the benchmark "
                            f"goes ({_short_list(clashes)}); move them away and rerun; nothing was changed")

    def commit(self, new: dict[str, str]) -> None:
        """Replace the previous benchmark by the staged one (``new``: relative path -> sha256).

        A manifest listing old and new files goes first, so a crash half-way through leaves a
        folder whose next regeneration still knows every file that is ours.
        """
        self.refuse_clashes(new)
        union = {**self.previous, **new}
        self._write_manifest({"generator": "tcclip-synth", "incomplete": True, "files": dict(sorted(union.items()))})
        for rel in sorted(set(self.previous) - set(new)):
            (self.out / rel).unlink(missing_ok=True)
        for rel in sorted(new):
            (self.out / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.staging / rel, self.out / rel)
        self._remove_empty_folders(set(self.previous) - set(new))
        os.replace(self.staging / MANIFEST, self.out / MANIFEST)

    def _write_manifest(self, manifest: dict) -> None:
        tmp = self.out / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, indent=1) + "\n")
        os.replace(tmp, self.out / MANIFEST)

    def _remove_empty_folders(self, removed: set[str]) -> None:
        folders = {parent for rel in removed for parent in (self.out / rel).parents if self.out in parent.parents}
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()


def verify(out: str | Path) -> tuple[bool, str]:
    """Recompute every listed file's sha256 and the fingerprint: (ok, one-line summary)."""
    out = Path(out)
    manifest = read_manifest(out)
    listed = listed_files(out, manifest)
    if manifest.get("incomplete"):
        return False, f"{out}: an interrupted regeneration left it incomplete; rerun tcclip synth"
    actual = {rel: file_sha256(out / rel) for rel in listed if (out / rel).is_file()}
    missing = sorted(set(listed) - set(actual))
    changed = sorted(rel for rel in actual if actual[rel] != listed[rel])
    now = fingerprint(actual) if not missing else None
    if missing or changed:
        problems = [f"{len(missing)} missing ({_short_list(missing)})"] if missing else []
        problems += [f"{len(changed)} changed ({_short_list(changed)})"] if changed else []
        return False, f"{out}: {'; '.join(problems)} of {len(listed)} files listed in {MANIFEST}"
    if now != manifest.get("fingerprint"):
        return False, f"{out}: fingerprint {now} does not match {MANIFEST}'s {manifest.get('fingerprint')}"
    return True, (f"{out}: {len(listed)} files match {MANIFEST}; fingerprint {now} "
                  f"(seed {manifest.get('seed')}, size {manifest.get('size')})")
