"""Which files make up the knowledge base: the base corpus plus the user's folder of added documents.

The base corpus (``RAG_CORPUS_DIR``, the bundled documents by default) is only ever read: it may
sit inside the installed package. Documents added with ``rag add`` or the UI are copied into the
user's folder (``RAG_USER_CORPUS_DIR``), which is the only place the product writes documents to
and removes them from. Both share one namespace of document ids (the base corpus' relative paths,
the user folder's file names), so citations, ``--doc`` and the API name a document the same way
wherever it lives; a user file named like a base document is reported and left out, never mixed up.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .documents import SUPPORTED_SUFFIXES, CorpusProblem, DocumentError, load_catalog

CATALOG = "catalog.json"  # titles, publishers and dates: [{"file": …, "title": …, "publisher": …, "date": …}]


@dataclass(frozen=True)
class Sources:
    base: Path
    user: Path

    @classmethod
    def from_settings(cls, settings) -> "Sources":
        return cls(Path(settings.corpus_dir), Path(settings.resolved_user_corpus_dir()))

    def files(self) -> tuple[dict[str, Path], list[CorpusProblem]]:
        """doc_id -> path of every document, and the user files left out because a base document has their name."""
        found = {p.relative_to(self.base).as_posix(): p for p in documents_in(self.base, required=True)}
        problems = []
        for path in documents_in(self.user, required=False):
            doc_id = path.relative_to(self.user).as_posix()
            if doc_id in found:
                problems.append(CorpusProblem(doc_id, f"{path} has the name of a document of the base corpus "
                                                      f"({self.base}); rename it"))
                continue
            found[doc_id] = path
        if not found:
            raise DocumentError(f"no documents: corpus folder {self.base} holds no {', '.join(SUPPORTED_SUFFIXES)} "
                                f"files and nothing was added (`rag add FILE`)")
        return found, problems

    def catalog(self) -> dict[str, dict]:
        """Catalog entries of both folders; each folder's entries describe its own files only."""
        base = load_catalog(self.base)
        user = load_catalog(self.user) if self.user.is_dir() else {}
        return {**{k: v for k, v in user.items() if (self.user / k).is_file()}, **base}

    def is_user(self, path: Path | str | None) -> bool:
        """Whether a document's file lives in the user folder (so it may be removed)."""
        if not path:
            return False
        try:
            Path(path).resolve().relative_to(self.user.resolve())
        except ValueError:
            return False
        return True


def documents_in(folder: Path, required: bool) -> list[Path]:
    """Document files under a folder; hidden files and folders (.lock, an upload being staged) are not documents."""
    if not folder.exists():
        if required:
            raise DocumentError(f"corpus folder {folder} does not exist")
        return []
    if not folder.is_dir():
        raise DocumentError(f"corpus path {folder} is not a folder")
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def entry_hash(entry: dict | None) -> str | None:
    """A short fingerprint of a document's catalog entry: a changed title re-indexes that document only."""
    if not entry:
        return None
    fields = {k: entry.get(k) for k in ("title", "publisher", "date")}
    return hashlib.sha1(json.dumps(fields, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()[:12]


def write_catalog(folder: Path, entries: dict[str, dict]) -> None:
    """Replace the user folder's catalog atomically (a crash leaves the old one or the new one)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"file": name, **{k: v for k, v in meta.items() if k != "file"}} for name, meta in sorted(entries.items())]
    fd, tmp = tempfile.mkstemp(prefix=".catalog-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(rows, f, ensure_ascii=False, indent=1)
        os.replace(tmp, folder / CATALOG)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
