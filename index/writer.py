"""Writing index versions: a full write into a new generation, or an update appended to the live one.

An update that adds documents appends their rows (SQLite rows, a new vector segment, term bags,
sentence vectors) after the existing ones and publishes a version that counts them; a changed
or removed document's old rows are left in place, dead (outside every live range). What each
version rewrites is small: docs.json, gazetteer.json and the BM25 arrays, which are recomputed
from the stored term bags because idf and the average length change with every chunk added.
A full write (first build, --rebuild, new chunking or model, compaction) starts a generation.
Either way CURRENT is swapped last, under the caller's ``index_lock``; a killed writer leaves
rows past the live version's counts, which the next writer truncates before appending.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from rag.types import Chunk, Document

from .chunkstore import ChunkStore
from .lexical_store import bags, build_bm25, save_bm25, term_rows
from .segments import FlatWriter, close_segment, describe, merge_tail, new_name
from .sentence_store import SentenceFiles
from .store import MERGED_NAMES
from .versions import BUILDING_PREFIX, FORMAT_VERSION, new_version_name, remove_old_versions, write_pointer

_COUNTS = ("rows", "documents", "vocab", "term_items", "sentence_items")


class StoreWriter:
    """Appends whole documents' rows to a generation, then publishes a version of them."""

    def __init__(self, index_dir: Path, dim: int, previous=None):
        self.index_dir, self.dim, self.previous = Path(index_dir), dim, previous
        index_dir.mkdir(parents=True, exist_ok=True)
        if previous is None:
            self.generation = index_dir / f"g-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
            self.generation.mkdir()
            self.counts, self.segments, self.docs = dict.fromkeys(_COUNTS, 0), [], {}
        else:
            meta = previous.manifest["store"]
            self.generation = previous.generation
            self.counts = {k: int(meta[k]) for k in _COUNTS}
            self.segments = list(meta["segments"])
            self.docs = {d: asdict(info) for d, info in previous.catalog.items()}
        self.db = ChunkStore(self.generation, writable=True)
        self.terms, self.sentences = term_rows(self.generation), SentenceFiles(self.generation, dim)
        c = self.counts
        self.db.truncate(c["rows"], c["documents"], c["vocab"])  # what a killed build appended
        self.terms.truncate(c["rows"], c["term_items"])
        self.sentences.truncate(c["rows"], c["sentence_items"])
        self.vocab = self.db.vocabulary() if previous is not None else {}
        self.changed = False
        self._flat: FlatWriter | None = None
        self._segment_lo = c["rows"]

    def drop(self, doc_ids) -> None:
        """These documents' rows become dead (a changed document is appended again afterwards)."""
        for doc_id in doc_ids:
            self.changed |= self.docs.pop(doc_id, None) is not None

    def append(self, chunks: list[Chunk], vectors: np.ndarray, tokens: list[list[str]],
               sentences: dict[str, np.ndarray], documents: list[Document]) -> None:
        """Rows of whole documents: each document's chunks contiguous, every chunk's document given."""
        c = self.counts
        ranges = _doc_ranges(chunks, c["rows"])
        missing = set(ranges) - {d.doc_id for d in documents}
        if missing or len(vectors) != len(chunks) or len(tokens) != len(chunks):
            raise ValueError(f"rows and documents do not match (documents missing: {sorted(missing)[:3]})")
        per_row, pairs, new_tokens = bags(tokens, self.vocab)
        self.db.append(c["rows"], chunks, c["documents"], documents, c["vocab"], new_tokens)
        c["term_items"] = self.terms.append(c["term_items"], per_row, pairs)
        c["sentence_items"] = self.sentences.append(c["sentence_items"], sentences)
        if self._flat is None:
            self._flat = FlatWriter(self.generation / new_name("vec", c["rows"]), self.dim)
        self._flat.add(vectors)
        end = c["rows"] + len(chunks)
        for i, doc in enumerate(documents):
            lo, hi = ranges.get(doc.doc_id, (end, end))
            self.docs[doc.doc_id] = {"doc_id": doc.doc_id, "row": c["documents"] + i, "lo": lo, "hi": hi,
                                     "title": doc.title, "sha256": doc.sha256, "publisher": doc.publisher,
                                     "date": doc.date, "source_path": doc.source_path}
        c["rows"], c["documents"], c["vocab"] = end, c["documents"] + len(documents), len(self.vocab)
        self.changed = True

    def publish(self, manifest: dict, names: dict | None, with_sentences: bool = True) -> Path:
        """Write the version folder and point CURRENT at it; old versions and unused files go."""
        tmp = Path(tempfile.mkdtemp(prefix=f"{BUILDING_PREFIX}{os.getpid()}-", dir=self.index_dir))
        try:
            manifest = self._finish(tmp, manifest, names, with_sentences)
            # the manifest goes last: a version folder without one is never loaded
            (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
            final = self.index_dir / new_version_name(tmp)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if self._flat is not None and not self._flat._file.closed:
                self._flat.abort()
            raise
        finally:
            self.db.close()
        write_pointer(self.index_dir, final.name)
        remove_old_versions(self.index_dir, keep=final.name)
        _remove_unused(self.index_dir, self.generation, self.segments)
        return final

    def _finish(self, tmp: Path, manifest: dict, names: dict | None, with_sentences: bool) -> dict:
        c = self.counts
        if self._flat is not None:
            self.segments.append(close_segment(self.generation, self._flat, self._segment_lo, c["rows"]))
            self.segments = merge_tail(self.generation, self.segments, self.dim)
        self.terms.sync()
        self.sentences.sync()
        live = np.zeros(c["rows"], bool)
        for d in self.docs.values():
            live[d["lo"] : d["hi"]] = True
        self._write_bm25(tmp / "bm25", live)
        docs = [self.docs[d] for d in sorted(self.docs)]
        (tmp / "docs.json").write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
        if names is not None:
            from rag.gazetteer import Gazetteer

            (tmp / "gazetteer.json").write_text(
                json.dumps({doc: n.to_dict() for doc, n in names.items()}, ensure_ascii=False), encoding="utf-8")
            (tmp / MERGED_NAMES).write_text(json.dumps(Gazetteer(names).to_dict(), ensure_ascii=False), encoding="utf-8")
        manifest = {**manifest, "format_version": FORMAT_VERSION, "n_chunks": int(live.sum()),
                    "faiss": describe(self.segments),
                    "store": {"generation": self.generation.name, **c, "segments": self.segments}}
        if with_sentences:
            counts = np.diff(np.asarray(self.sentences.spans.ends.view(c["rows"])), prepend=0)
            manifest["sentences"] = int(counts[live].sum())
        else:
            manifest.pop("sentences", None)
        return manifest

    def _write_bm25(self, folder: Path, live: np.ndarray) -> None:
        """The version's BM25; the previous version's files are linked when no row changed."""
        old = self.previous.path / "bm25" if self.previous is not None else None
        if not self.changed and old is not None and old.is_dir():
            folder.mkdir()
            for f in old.iterdir():
                os.link(f, folder / f.name)
            return
        view = self.terms.open(self.counts["rows"], self.counts["term_items"])
        save_bm25(folder, build_bm25(view, live, len(self.vocab)), self.vocab)


def _doc_ranges(chunks: list[Chunk], first_row: int) -> dict[str, tuple[int, int]]:
    """doc_id -> (lo, hi) rows; a document's chunks must be contiguous."""
    ranges: dict[str, list[int]] = {}
    last = None
    for i, chunk in enumerate(chunks, first_row):
        if chunk.doc_id != last:
            if chunk.doc_id in ranges:
                raise ValueError(f"the chunks of {chunk.doc_id} are not contiguous")
            ranges[chunk.doc_id] = [i, i]
            last = chunk.doc_id
        ranges[chunk.doc_id][1] = i + 1
    return {d: (lo, hi) for d, (lo, hi) in ranges.items()}


def _remove_unused(index_dir: Path, generation: Path, segments: list[dict]) -> None:
    """Other generations, and segment files no version uses (merged, or left by a killed build).
    Called after CURRENT moved, under the lock: a process still reading an old version keeps the
    files it opened (they were opened or mapped when it loaded)."""
    for entry in index_dir.glob("g-*"):
        if entry.is_dir() and entry != generation:
            shutil.rmtree(entry, ignore_errors=True)
    used = {s["name"] for s in segments} | {s["ann"] for s in segments if s.get("ann")}
    for entry in generation.glob("*.faiss"):
        if entry.name not in used:
            entry.unlink(missing_ok=True)


def write_version(index_dir: Path, manifest: dict, vectors: np.ndarray, chunks: list[Chunk],
                  tokens: list[list[str]], documents: list[Document], names: dict | None = None,
                  sentences: dict[str, np.ndarray] | None = None) -> Path:
    """Write a complete new version in a new generation, then point CURRENT at it.

    The caller holds ``index_lock``. Without ``sentences`` the version has none (an update adds them)."""
    dim = int(manifest["embedding"]["dim"])
    writer = StoreWriter(index_dir, dim)
    writer.append(chunks, vectors, tokens, sentences if sentences is not None else no_sentences(len(chunks), dim),
                  documents)
    return writer.publish(manifest, names, with_sentences=sentences is not None)


def append_version(index_dir: Path, previous, manifest: dict, vectors: np.ndarray, chunks: list[Chunk],
                   tokens: list[list[str]], documents: list[Document], names: dict | None,
                   sentences: dict[str, np.ndarray], dropped) -> Path:
    """The previous version with ``dropped`` documents' rows dead and these rows appended."""
    writer = StoreWriter(index_dir, int(manifest["embedding"]["dim"]), previous)
    writer.drop(dropped)
    if chunks or documents:
        writer.append(chunks, vectors, tokens, sentences, documents)
    return writer.publish(manifest, names)


def no_sentences(n: int, dim: int) -> dict[str, np.ndarray]:
    return {"counts": np.zeros(n, np.int32), "spans": np.zeros((0, 2), np.int32), "vectors": np.zeros((0, dim), np.float32)}
