"""The on-disk index: a FAISS index, the chunk store, the cleaned documents and a manifest.

Layout of the index folder::

    CURRENT              name of the live version folder (replaced atomically)
    v-<stamp>/manifest.json, vectors.faiss, chunks.jsonl, documents.json

A build writes a whole new version folder and then swaps CURRENT, so an interrupted
build leaves the previous index usable.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.types import Block, Chunk, Document

FORMAT_VERSION = 1
HNSW_THRESHOLD = 50_000  # below this, exact search is fast enough and exact


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
                  tokens: list[list[str]], documents: list[Document]) -> Path:
    """Write a complete new version, then point CURRENT at it; old versions are removed."""
    import faiss

    index_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=index_dir))
    try:
        faiss.write_index(make_faiss_index(vectors), str(tmp / "vectors.faiss"))
        with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as f:
            for chunk, toks in zip(chunks, tokens):
                f.write(json.dumps({**chunk.to_dict(), "tokens": toks}, ensure_ascii=False) + "\n")
        (tmp / "documents.json").write_text(
            json.dumps([_document_to_dict(d) for d in documents], ensure_ascii=False), encoding="utf-8"
        )
        # the manifest goes last: a version folder without one is never loaded
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        final = index_dir / f"v-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{tmp.name[-6:]}"
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    pointer = index_dir / ".CURRENT.tmp"
    pointer.write_text(final.name, encoding="utf-8")
    os.replace(pointer, index_dir / "CURRENT")
    _remove_old_versions(index_dir, keep=final.name)
    return final


def _remove_old_versions(index_dir: Path, keep: str) -> None:
    for entry in index_dir.iterdir():
        if entry.is_dir() and (entry.name.startswith("v-") or entry.name.startswith(".building-")) and entry.name != keep:
            shutil.rmtree(entry, ignore_errors=True)


def current_version(index_dir: Path) -> Path | None:
    pointer = index_dir / "CURRENT"
    if not pointer.is_file():
        return None
    path = index_dir / pointer.read_text(encoding="utf-8").strip()
    return path if (path / "manifest.json").is_file() else None


def read_manifest(index_dir: Path) -> dict | None:
    version = current_version(index_dir)
    if version is None:
        return None
    try:
        return json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_store(index_dir: Path) -> IndexStore:
    """Load the live version; raise IndexMissing or IndexCorrupt with what to run."""
    import faiss

    version = current_version(index_dir)
    if version is None:
        raise IndexMissing(f"no index in {index_dir}; run `rag index` to build it")
    fix = "run `rag index --rebuild` to rebuild it"
    try:
        manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
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
    except IndexStale:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexCorrupt(f"the index in {version} is corrupt or truncated ({type(exc).__name__}: {str(exc)[:120]}); {fix}") from exc
    if faiss_index.ntotal != len(chunks) or faiss_index.d != manifest["embedding"]["dim"]:
        raise IndexCorrupt(f"the index in {version} is inconsistent ({faiss_index.ntotal} vectors, {len(chunks)} chunks); {fix}")
    return IndexStore(version, manifest, faiss_index, chunks, tokens, documents)


def read_vectors(store: IndexStore) -> np.ndarray:
    """All stored vectors (exact indexes only), for incremental rebuilds."""
    n = store.faiss_index.ntotal
    if n == 0:
        return np.zeros((0, store.faiss_index.d), np.float32)
    return store.faiss_index.reconstruct_n(0, n)
