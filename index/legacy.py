"""Index format 1 (before the row store): read once, to convert it without re-embedding.

A format-1 version folder holds ``chunks.jsonl`` (every chunk with its BM25 tokens),
``vectors.faiss``, ``documents.json``, ``gazetteer.json`` and ``sentences.npz``. The next update
(``rag index``, or opening the service) reads it whole, as the old code did at every start, and
writes it in the current format; its vectors and sentence vectors are reused as they are.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.types import Block, Chunk, Document

from .versions import REBUILD, IndexCorrupt, read_manifest_file, with_live_version

LEGACY_FORMAT = 1


@dataclass
class LegacyStore:
    path: Path
    manifest: dict
    chunks: list[Chunk]
    tokens: list[list[str]]
    vectors: np.ndarray
    documents: dict[str, Document]
    names: dict | None
    sentences: dict[str, np.ndarray] | None

    def export(self, doc_ids) -> tuple:
        """(chunks, vectors, tokens, sentence arrays or None, documents) of these documents."""
        keep = set(doc_ids)
        rows = [i for i, c in enumerate(self.chunks) if c.doc_id in keep]
        sentences = None
        if self.sentences is not None:
            from rag.answer.sentences import SentenceVectors

            kept = [self.chunks[i] for i in rows]
            sentences = SentenceVectors.from_arrays(self.chunks, self.sentences).to_arrays(kept)
        return ([self.chunks[i] for i in rows], self.vectors[rows], [self.tokens[i] for i in rows], sentences,
                [self.documents[d] for d in sorted(keep)])


def is_legacy(manifest: dict | None) -> bool:
    return bool(manifest) and manifest.get("format_version") == LEGACY_FORMAT


def load_legacy(index_dir: Path) -> LegacyStore:
    return with_live_version(index_dir, _load)


def _load(version: Path) -> LegacyStore:
    import faiss

    manifest = read_manifest_file(version)
    try:
        index = faiss.read_index(str(version / "vectors.faiss"))
        chunks, tokens = [], []
        with open(version / "chunks.jsonl", encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                tokens.append(row.pop("tokens"))
                chunks.append(Chunk.from_dict(row))
        documents = {d["doc_id"]: _document(d) for d in json.loads((version / "documents.json").read_text(encoding="utf-8"))}
        sentences = _sentences(version) if "sentences" in manifest else None
        names = _names(version)
        vectors = index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d), np.float32)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, zipfile.BadZipFile) as exc:
        raise IndexCorrupt(f"the index in {version} is corrupt or truncated ({type(exc).__name__}: "
                           f"{str(exc)[:120]}); {REBUILD}") from exc
    if len(vectors) != len(chunks):
        raise IndexCorrupt(f"the index in {version} is inconsistent ({len(vectors)} vectors, {len(chunks)} chunks); {REBUILD}")
    return LegacyStore(version, manifest, chunks, tokens, vectors, documents, names, sentences)


def _document(d: dict) -> Document:
    blocks = [Block(s, e, tuple(sec), h) for s, e, sec, h in d["blocks"]]
    return Document(d["doc_id"], d["title"], d["text"], blocks, d["sha256"], d.get("publisher"), d.get("date"),
                    d.get("source_path"))


def _sentences(version: Path) -> dict[str, np.ndarray]:
    with np.load(version / "sentences.npz", allow_pickle=False) as data:
        return {name: data[name] for name in ("counts", "spans", "vectors")}


def _names(version: Path) -> dict | None:
    from rag.gazetteer import DocNames

    path = version / "gazetteer.json"
    if not path.is_file():
        return None
    return {doc: DocNames.from_dict(d) for doc, d in json.loads(path.read_text(encoding="utf-8")).items()}
