"""Index versions on disk: the CURRENT pointer, the writer lock, manifests and their errors.

A build writes a new version folder and then swaps CURRENT, so an interrupted build leaves the
previous index usable. Writers take the lock; readers take none and retry when a writer replaced
the version they were reading. The data a version points at (``index.chunkstore`` and friends)
lives in a generation folder that later versions append to; see ``index.store``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

FORMAT_VERSION = 2  # 1: chunks.jsonl and one FAISS file per version (index.legacy converts it)
LOCK_NAME = ".lock"  # held by the one process writing a new version
BUILDING_PREFIX = ".building-"
REBUILD = "run `rag index --rebuild` to rebuild it"
_VERSION_NAME = re.compile(r"v-[A-Za-z0-9_.-]+")


class IndexError_(RuntimeError):
    """Base class for index problems; the message says what to run."""


class IndexMissing(IndexError_):
    pass


class IndexStale(IndexError_):
    pass


class EmbeddingMismatch(IndexError_):
    pass


class IndexCorrupt(IndexError_):
    pass


def new_version_name(tmp: Path) -> str:
    return f"v-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{tmp.name[-6:]}"


def write_pointer(index_dir: Path, name: str) -> None:
    """Replace CURRENT atomically, its content on disk before the rename (no empty pointer after a crash)."""
    pointer = index_dir / f".CURRENT.{os.getpid()}.tmp"
    with open(pointer, "w", encoding="utf-8") as f:
        f.write(name)
        f.flush()
        os.fsync(f.fileno())
    os.replace(pointer, index_dir / "CURRENT")


def remove_old_versions(index_dir: Path, keep: str) -> None:
    """Old version folders only; temporary folders belong to builds (see ``clean_stale_builds``)."""
    for entry in index_dir.iterdir():
        if entry.is_dir() and entry.name.startswith("v-") and entry.name != keep:
            shutil.rmtree(entry, ignore_errors=True)


def clean_stale_builds(index_dir: Path) -> None:
    """Remove temporary folders left by killed builds. Call only while holding ``index_lock``:
    then no other process is building, so every temporary folder is stale."""
    for entry in index_dir.glob(f"{BUILDING_PREFIX}*"):
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
    for entry in index_dir.glob(".CURRENT.*.tmp"):
        entry.unlink(missing_ok=True)


@contextmanager
def index_lock(index_dir: Path, log=None) -> Iterator[bool]:
    """Hold the index folder's writer lock; yields True when another writer had it first.

    An OS-level lock (``filelock``), so a killed writer releases it automatically.
    """
    from filelock import FileLock, Timeout

    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index_dir / LOCK_NAME))
    waited = False
    try:
        lock.acquire(timeout=0)
    except Timeout:
        waited = True
        if log:
            log(f"Another process is updating the index in {index_dir}; waiting for it to finish …")
        lock.acquire()
    try:
        yield waited
    finally:
        lock.release()


def pointer_name(index_dir: Path) -> str | None:
    """The version CURRENT names, or None when there is no CURRENT; IndexCorrupt when unreadable."""
    pointer = index_dir / "CURRENT"
    try:
        raw = pointer.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IndexCorrupt(f"cannot read {pointer} ({exc.strerror or exc}); {REBUILD}") from None
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        name = ""
    if not _VERSION_NAME.fullmatch(name):
        raise IndexCorrupt(f"{pointer} is corrupt (it does not name an index version); {REBUILD}")
    return name


def current_version(index_dir: Path) -> Path | None:
    """The live version folder, or None when there is no index yet.

    A writer may swap CURRENT and delete the old version between our reads: a missing version
    is only corrupt when CURRENT still names it on a second look.
    """
    name = pointer_name(index_dir)
    for _ in range(10):
        if name is None:
            return None
        if (index_dir / name / "manifest.json").is_file():
            return index_dir / name
        time.sleep(0.05)
        again = pointer_name(index_dir)
        if again == name:
            break
        name = again
    raise IndexCorrupt(f"{index_dir / 'CURRENT'} names {name}, which is missing or incomplete; {REBUILD}")


def read_manifest(index_dir: Path) -> dict | None:
    """The live version's manifest; None when there is no index, IndexCorrupt when it cannot be read."""
    return with_live_version(index_dir, read_manifest_file)


def read_manifest_file(version: Path) -> dict:
    try:
        manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"the index manifest {version / 'manifest.json'} is unreadable "
                           f"({type(exc).__name__}: {str(exc)[:80]}); {REBUILD}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("embedding"), dict):
        raise IndexCorrupt(f"the index manifest {version / 'manifest.json'} is corrupt; {REBUILD}")
    return manifest


def with_live_version(index_dir: Path, read):
    """``read(version)`` of the live version, or None when there is no index.

    A concurrent writer may replace and delete the version while we read it: then read the new one.
    """
    error = None
    for _ in range(5):
        version = current_version(index_dir)
        if version is None:
            return None
        try:
            return read(version)
        except IndexCorrupt as exc:
            if pointer_name(index_dir) == version.name:
                raise
            error = exc
    raise error
