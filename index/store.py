"""The on-disk index: a FAISS index, the chunk store, the cleaned documents and a manifest.

Layout of the index folder::

    CURRENT              name of the live version folder (replaced atomically)
    .lock                held by the one process building (``index_lock``)
    v-<stamp>/manifest.json, vectors.faiss, chunks.jsonl, documents.json, gazetteer.json,
              sentences.npz (the answer scorer's sentence vectors, per chunk; see rag/answer/sentences.py)

A build writes a whole new version folder and then swaps CURRENT, so an interrupted
build leaves the previous index usable. Writers take the lock; readers take none and
retry when a writer replaced the version they were reading.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import zipfile
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from rag.types import Block, Chunk, Document

FORMAT_VERSION = 1
HNSW_THRESHOLD = 50_000  # below this, exact search is fast enough and exact
SENTENCES = "sentences.npz"
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


@dataclass
class IndexStore:
    """A loaded index version: vectors, chunks (with their BM25 tokens) and documents."""

    path: Path
    manifest: dict
    faiss_index: object
    chunks: list[Chunk]
    tokens: list[list[str]]
    documents: dict[str, Document]
    names: dict | None = None  # doc_id -> rag.gazetteer.DocNames: places and organisations each names
    sentences: dict[str, np.ndarray] | None = None  # sentences.npz; None in indexes built before it existed

    def gazetteer(self):
        """The corpus's places and organisations (mined at open for an index that lacks them)."""
        from rag.gazetteer import Gazetteer, mine_corpus

        if self.names is None:
            self.names = mine_corpus(self.documents.values())
        return Gazetteer(self.names)

    @property
    def created_at(self) -> float:
        return float(self.manifest.get("created_at", 0))

    def search(self, query_vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, positions) by inner product."""
        k = min(k, len(self.chunks))
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        scores, ids = self.faiss_index.search(np.ascontiguousarray(query_vector[None, :], dtype=np.float32), k)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]


def make_faiss_index(vectors: np.ndarray):
    import faiss

    dim = vectors.shape[1]
    if len(vectors) >= HNSW_THRESHOLD:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 128
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def _document_to_dict(doc: Document) -> dict:
    return {
        "doc_id": doc.doc_id, "title": doc.title, "text": doc.text, "sha256": doc.sha256,
        "publisher": doc.publisher, "date": doc.date, "source_path": doc.source_path,
        "blocks": [[b.start, b.end, list(b.section), b.is_heading] for b in doc.blocks],
    }


def _document_from_dict(d: dict) -> Document:
    blocks = [Block(s, e, tuple(sec), h) for s, e, sec, h in d["blocks"]]
    return Document(d["doc_id"], d["title"], d["text"], blocks, d["sha256"], d.get("publisher"), d.get("date"), d.get("source_path"))


def write_version(index_dir: Path, manifest: dict, vectors: np.ndarray, chunks: list[Chunk],
                  tokens: list[list[str]], documents: list[Document], names: dict | None = None,
                  sentences: dict[str, np.ndarray] | None = None) -> Path:
    """Write a complete new version, then point CURRENT at it; old versions are removed.

    The caller holds ``index_lock``: CURRENT only ever changes under it, and only this
    call's own temporary folder is removed on failure.
    """
    import faiss

    index_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{BUILDING_PREFIX}{os.getpid()}-", dir=index_dir))
    try:
        faiss.write_index(make_faiss_index(vectors), str(tmp / "vectors.faiss"))
        with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as f:
            for chunk, toks in zip(chunks, tokens):
                f.write(json.dumps({**chunk.to_dict(), "tokens": toks}, ensure_ascii=False) + "\n")
        (tmp / "documents.json").write_text(
            json.dumps([_document_to_dict(d) for d in documents], ensure_ascii=False), encoding="utf-8"
        )
        if names is not None:
            (tmp / "gazetteer.json").write_text(
                json.dumps({doc: n.to_dict() for doc, n in names.items()}, ensure_ascii=False), encoding="utf-8")
        if sentences is not None:
            np.savez(tmp / SENTENCES, **sentences)
            manifest = {**manifest, "sentences": int(len(sentences["vectors"]))}
        # the manifest goes last: a version folder without one is never loaded
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        final = index_dir / f"v-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{tmp.name[-6:]}"
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _write_pointer(index_dir, final.name)
    _remove_old_versions(index_dir, keep=final.name)
    return final


def _write_pointer(index_dir: Path, name: str) -> None:
    """Replace CURRENT atomically, its content on disk before the rename (no empty pointer after a crash)."""
    pointer = index_dir / f".CURRENT.{os.getpid()}.tmp"
    with open(pointer, "w", encoding="utf-8") as f:
        f.write(name)
        f.flush()
        os.fsync(f.fileno())
    os.replace(pointer, index_dir / "CURRENT")


def _remove_old_versions(index_dir: Path, keep: str) -> None:
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
    return _with_live_version(index_dir, _read_manifest_file)


def _read_manifest_file(version: Path) -> dict:
    try:
        manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"the index manifest {version / 'manifest.json'} is unreadable "
                           f"({type(exc).__name__}: {str(exc)[:80]}); {REBUILD}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("embedding"), dict):
        raise IndexCorrupt(f"the index manifest {version / 'manifest.json'} is corrupt; {REBUILD}")
    return manifest


def _with_live_version(index_dir: Path, read):
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


def load_store(index_dir: Path) -> IndexStore:
    """Load the live version; raise IndexMissing or IndexCorrupt with what to run."""
    store = _with_live_version(index_dir, _load_version)
    if store is None:
        raise IndexMissing(f"no index in {index_dir}; run `rag index` to build it")
    return store


def _load_version(version: Path) -> IndexStore:
    import faiss

    fix = REBUILD
    manifest = _read_manifest_file(version)
    try:
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexStale(f"index format {manifest.get('format_version')} is not {FORMAT_VERSION}; {fix}")
        faiss_index = faiss.read_index(str(version / "vectors.faiss"))
        chunks, tokens = [], []
        with open(version / "chunks.jsonl", encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                tokens.append(row.pop("tokens"))
                chunks.append(Chunk.from_dict(row))
        documents = {d["doc_id"]: _document_from_dict(d) for d in json.loads((version / "documents.json").read_text(encoding="utf-8"))}
        names = _read_names(version)
        sentences = _read_sentences(version) if "sentences" in manifest else None
    except IndexStale:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, zipfile.BadZipFile) as exc:
        raise IndexCorrupt(f"the index in {version} is corrupt or truncated ({type(exc).__name__}: {str(exc)[:120]}); {fix}") from exc
    if faiss_index.ntotal != len(chunks) or faiss_index.d != manifest["embedding"]["dim"]:
        raise IndexCorrupt(f"the index in {version} is inconsistent ({faiss_index.ntotal} vectors, {len(chunks)} chunks); {fix}")
    if sentences is not None and not _sentences_fit(sentences, len(chunks)):
        raise IndexCorrupt(f"the sentence vectors in {version} do not match its {len(chunks)} chunks; {fix}")
    return IndexStore(version, manifest, faiss_index, chunks, tokens, documents, names, sentences)


def _sentences_fit(sentences: dict[str, np.ndarray], n_chunks: int) -> bool:
    counts, spans, vectors = sentences["counts"], sentences["spans"], sentences["vectors"]
    return len(counts) == n_chunks and int(counts.sum()) == len(spans) == len(vectors)


def _read_sentences(version: Path) -> dict[str, np.ndarray]:
    with np.load(version / SENTENCES, allow_pickle=False) as data:
        return {name: data[name] for name in ("counts", "spans", "vectors")}


def _read_names(version: Path) -> dict | None:
    from rag.gazetteer import DocNames

    path = version / "gazetteer.json"
    if not path.is_file():
        return None  # built before gazetteers: mined when first needed
    return {doc: DocNames.from_dict(d) for doc, d in json.loads(path.read_text(encoding="utf-8")).items()}


def read_vectors(store: IndexStore) -> np.ndarray:
    """All stored vectors (exact indexes only), for incremental rebuilds."""
    n = store.faiss_index.ntotal
    if n == 0:
        return np.zeros((0, store.faiss_index.d), np.float32)
    return store.faiss_index.reconstruct_n(0, n)
