"""The knowledge base as users change it: add documents, remove them, list what is indexed.

One implementation behind `rag add` / `rag remove`, the UI's Documents tab and its API. Added
files are checked first (``rag.uploads``: all of a batch or none), copied into the user folder
(``RAG_USER_CORPUS_DIR``; the base corpus is never written to), and the index is updated
incrementally: only the new documents are embedded. With a loaded service (the UI), the new
index version is swapped in when ready, and questions meanwhile use the version before it.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from index.builder import BuildReport, ProgressFn, build_index
from index.store import read_manifest

from .documents import load_catalog
from .sources import Sources, documents_in, write_catalog
from .uploads import Checked, UploadError, check_file, check_metadata

STAGING_PREFIX = ".incoming-"  # dot folders are never read as documents


@dataclass
class Staged:
    """Checked files copied next to the user folder, waiting to be moved in (the indexing job does it)."""

    folder: Path
    names: list[str]
    meta: dict = field(default_factory=dict)
    replace: bool = False


class KnowledgeBase:
    def __init__(self, settings, service=None, log=None):
        self.settings = settings
        self.service = service  # a loaded RagService to keep current (UI), or None (CLI)
        self.sources = Sources.from_settings(settings)
        self.log = log or (lambda msg: None)

    @property
    def user_dir(self) -> Path:
        return self.sources.user

    def _check_folder(self) -> None:
        """The user folder must be a folder of its own: not inside the installed package, not the base corpus."""
        user, base, package = self.user_dir.resolve(), self.sources.base.resolve(), Path(__file__).resolve().parent
        for other, what in ((package, "the installed package"), (base, "the base corpus")):
            if user == other or other in user.parents or user in other.parents:
                raise UploadError(f"RAG_USER_CORPUS_DIR ({user}) overlaps {what} ({other}); documents are only added "
                                  "to a folder of their own: set RAG_USER_CORPUS_DIR to another folder")

    def _lock(self) -> FileLock:
        """Changes to the user folder (files and catalog), one process at a time."""
        self.user_dir.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.user_dir / ".lock"))

    # ------------------------------------------------------------------ adding
    def stage(self, files: list[tuple[Path, str]], title: str | None = None, publisher: str | None = None,
              date: str | None = None, replace: bool = False) -> Staged:
        """Check a batch of (path, file name) and copy it aside; UploadError lists every problem, nothing is kept."""
        self._check_folder()
        if not files:
            raise UploadError("no file given")
        if len(files) > self.settings.max_upload_files:
            raise UploadError(f"{len(files)} files at once; at most {self.settings.max_upload_files} "
                              "(RAG_MAX_UPLOAD_FILES)")
        meta = check_metadata(title, publisher, date, len(files))
        checked, problems = [], []
        for path, name in files:
            ok, why = check_file(Path(path), name, int(self.settings.max_upload_mb * 1e6))
            checked += [ok] if ok else []
            problems += [why] if why else []
        problems += self._conflicts(checked, replace)
        if problems:
            raise UploadError("\n".join(problems))
        self.user_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale_staging(self.user_dir)
        folder = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.user_dir))
        for c in checked:
            shutil.copyfile(c.source, folder / c.name)
        return Staged(folder, [c.name for c in checked], meta, replace)

    def _conflicts(self, checked: list[Checked], replace: bool) -> list[str]:
        """Names or contents that would clash with a document already there (or within the batch)."""
        problems, seen = [], set()
        base = {p.relative_to(self.sources.base).as_posix() for p in _files(self.sources.base)}
        user = {p.name for p in _files(self.user_dir)}
        known = self._known_hashes()
        for c in checked:
            digest = _sha256(c.source)
            if c.name in seen:
                problems.append(f"{c.name}: two files of this batch have this name")
            elif c.name in base:
                problems.append(f"{c.name}: a document of the base corpus has this name; rename the file")
            elif c.name in user and not replace:
                problems.append(f"{c.name}: already added; remove it first, or add it again with replace")
            elif digest in known and known[digest] != c.name:
                problems.append(f"{c.name}: the same file is already in the knowledge base as {known[digest]}")
            seen.add(c.name)
        return problems

    def _known_hashes(self) -> dict[str, str]:
        manifest = read_manifest(self.settings.resolved_index_dir()) or {}
        entries = {**manifest.get("skipped", {}), **manifest.get("documents", {})}
        return {info["sha256"]: doc for doc, info in entries.items() if info.get("sha256")}

    def commit(self, staged: Staged) -> list[str]:
        """Move staged files into the user folder and record their metadata; returns their names."""
        with self._lock():
            catalog = load_catalog(self.user_dir)
            for name in staged.names:
                target = self.user_dir / name
                if target.exists() and not staged.replace:
                    raise UploadError(f"{name}: was added by someone else meanwhile; nothing was changed for it")
                os.replace(staged.folder / name, target)
                catalog.pop(name, None)
                if staged.meta:
                    catalog[name] = dict(staged.meta)
            write_catalog(self.user_dir, catalog)
        shutil.rmtree(staged.folder, ignore_errors=True)
        return list(staged.names)

    def discard(self, staged: Staged) -> None:
        shutil.rmtree(staged.folder, ignore_errors=True)

    # ------------------------------------------------------------------ removing
    def check_removal(self, doc_ids: list[str]) -> list[str]:
        """The documents that may be removed, or UploadError saying why not (base corpus, unknown)."""
        self._check_folder()
        doc_ids = [d for d in dict.fromkeys(str(d).strip() for d in doc_ids or []) if d]
        if not doc_ids:
            raise UploadError("no document given")
        problems = []
        for doc in doc_ids:
            if (self.user_dir / doc).is_file() and Path(doc).name == doc:
                continue
            if (self.sources.base / doc).is_file():
                problems.append(f"{doc}: part of the base corpus ({self.sources.base}), which is read-only here; "
                                "to drop it, use a corpus folder without it (RAG_CORPUS_DIR)")
            else:
                problems.append(f"{doc}: no such added document (see `rag info` for the document names)")
        if problems:
            raise UploadError("\n".join(problems))
        return doc_ids

    def remove(self, doc_ids: list[str]) -> list[str]:
        """Delete added documents (files and catalog entries); the next index update drops their chunks."""
        doc_ids = self.check_removal(doc_ids)
        with self._lock():
            catalog = load_catalog(self.user_dir)
            for doc in doc_ids:
                (self.user_dir / doc).unlink(missing_ok=True)
                catalog.pop(doc, None)
            write_catalog(self.user_dir, catalog)
        return doc_ids

    # ------------------------------------------------------------------ index
    def update_index(self, on_progress: ProgressFn | None = None) -> BuildReport:
        """Incremental update; a loaded service swaps the new version in when it is ready."""
        if self.service is not None:
            return self.service.update_index(on_progress)
        from .embeddings import load_embedder

        return build_index(self.settings, load_embedder(self.settings), progress=None, on_progress=on_progress)

    def listing(self) -> dict:
        """What the Documents tab and /kb_documents show: documents, skipped files, folders."""
        if self.service is not None:
            self.service.follow_index()  # another process (rag add) may have written a new version
            store = self.service.store
        else:
            from index.store import load_store

            store = load_store(self.settings.resolved_index_dir())
        manifest = store.manifest
        times = manifest.get("indexed_at", {})
        rows = [{"doc": d.doc_id, "title": d.title, "publisher": d.publisher, "date": d.date,
                 "chunks": d.chunks, "indexed_at": times.get(d.doc_id, manifest.get("created_at")),
                 "added": self.sources.is_user(d.source_path)}
                for d in sorted(store.catalog.values(), key=lambda d: d.doc_id)]
        skipped = [{"doc": doc, "reason": info.get("reason", ""), "added": (self.user_dir / doc).is_file()}
                   for doc, info in sorted(manifest.get("skipped", {}).items())]
        skipped += [{"doc": doc, "reason": why, "added": True} for doc, why in sorted(manifest.get("conflicts", {}).items())]
        return {"documents": rows, "skipped": skipped, "chunks": len(store.chunks), "version": store.path.name,
                "created_at": manifest.get("created_at"), "corpus_dir": str(self.sources.base),
                "user_corpus_dir": str(self.user_dir)}


def _remove_stale_staging(folder: Path, max_age_s: float = 86_400) -> None:
    """Staged uploads a killed process never moved in (a day old: no live job waits that long)."""
    import time

    for entry in folder.glob(f"{STAGING_PREFIX}*"):
        try:
            if entry.is_dir() and time.time() - entry.stat().st_mtime > max_age_s:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue


def _files(folder: Path) -> list[Path]:
    return documents_in(folder, required=False)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def added_summary(names: list[str], report: BuildReport) -> list[dict]:
    """Per added file: indexed, or skipped with the reason (e.g. a scan without OCR)."""
    problems = {p.path: p.reason for p in report.problems}
    return [{"doc": n, "indexed": n not in problems, "reason": problems.get(n)} for n in names]
