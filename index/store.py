"""The on-disk index, opened: chunks, documents, vectors, BM25 and sentence vectors read by row.

Layout of the index folder::

    CURRENT        name of the live version folder (replaced atomically)
    .lock          held by the one process building (``index_lock``)
    g-<stamp>/     a generation: append-only data that versions share
        store.sqlite                    chunks, documents and BM25 vocabulary by row id (index.chunkstore)
        vec-<lo>-<hi>-*.faiss           flat vectors of rows lo..hi-1, memory-mapped (index.segments)
        ann-<lo>-<hi>-*.faiss           IVF index of a big segment
        terms.bin/.end                  each row's BM25 term bag (index.lexical_store)
        spans.bin/.end, sentvec.bin     each row's answer-scorer sentences (index.sentence_store)
    v-<stamp>/     a version: manifest.json (with "store": generation, row counts, segments),
                   docs.json (each live document's row range), gazetteer.json (names per document,
                   read by updates) and places.json (merged, read at open), bm25/ (bm25s files)

Opening a version reads its small files, opens SQLite and memory-maps the rest: nothing is
parsed per chunk, so a million chunks open in about a second. Rows of a document are
contiguous; rows outside every live document's range (a changed or removed document's old rows)
are dead: never returned, skipped by search, dropped when the index is compacted.
Readers take no lock and retry when a writer replaced the version they were reading.
"""
from __future__ import annotations

import json
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.types import Chunk, Document

from .chunkstore import ChunkStore
from .lexical_store import LexicalIndex
from .segments import Segments
from .sentence_store import SentenceFiles, StoredSentences
from .versions import (BUILDING_PREFIX, FORMAT_VERSION, LOCK_NAME, REBUILD, EmbeddingMismatch, IndexCorrupt, IndexError_,
                       IndexMissing, IndexStale, clean_stale_builds, current_version, index_lock, pointer_name,
                       read_manifest, read_manifest_file, with_live_version)

__all__ = [  # the versions' plumbing is imported from here too
    "BUILDING_PREFIX", "FORMAT_VERSION", "LOCK_NAME", "REBUILD", "DocInfo", "EmbeddingMismatch", "IndexCorrupt",
    "IndexError_", "IndexMissing", "IndexStale", "IndexStore", "clean_stale_builds", "current_version",
    "index_lock", "load_store", "pointer_name", "read_manifest", "read_vectors",
]

MERGED_NAMES = "places.json"  # the gazetteer.json names of all documents merged (rag.gazetteer.Gazetteer)
_ROW_CACHE = 200_000  # chunk id -> row entries remembered for the sentence lookups of answers


@dataclass(frozen=True)
class DocInfo:
    """A live document without its text: where its rows and its stored copy are."""

    doc_id: str
    row: int  # in the documents table
    lo: int  # its chunks are rows lo..hi-1
    hi: int
    title: str
    sha256: str
    publisher: str | None = None
    date: str | None = None
    source_path: str | None = None

    @property
    def chunks(self) -> int:
        return self.hi - self.lo


class DocumentTable(Mapping):
    """doc_id -> Document, read from SQLite on first use (a few recent ones are kept)."""

    def __init__(self, catalog: dict[str, DocInfo], db: ChunkStore, keep: int = 64):
        self._catalog, self._db, self._keep = catalog, db, keep
        self._cache: OrderedDict[str, Document] = OrderedDict()
        self._lock = threading.Lock()

    def __getitem__(self, doc_id: str) -> Document:
        with self._lock:
            doc = self._cache.get(doc_id)
            if doc is not None:
                self._cache.move_to_end(doc_id)
                return doc
        doc = self._db.document(self._catalog[doc_id].row)
        with self._lock:
            self._cache[doc_id] = doc
            if len(self._cache) > self._keep:
                self._cache.popitem(last=False)
        return doc

    def __contains__(self, doc_id) -> bool:
        return doc_id in self._catalog

    def __iter__(self):
        return iter(self._catalog)

    def __len__(self) -> int:
        return len(self._catalog)


class ChunkList(Sequence):
    """The live chunks in row order, read on demand: ``len``, indexing and iteration, as a list."""

    def __init__(self, store: "IndexStore"):
        self._store = store
        self._runs = _runs(sorted((d.lo, d.hi) for d in store.catalog.values() if d.hi > d.lo))
        self._starts = np.cumsum([0] + [hi - lo for lo, hi in self._runs])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def row(self, i: int) -> int:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        run = int(np.searchsorted(self._starts, i, side="right")) - 1
        return self._runs[run][0] + i - int(self._starts[run])

    def rows(self) -> np.ndarray:
        return np.concatenate([np.arange(lo, hi) for lo, hi in self._runs] or [np.zeros(0, np.int64)])

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self._store.chunks_at([self.row(j) for j in range(*i.indices(len(self)))])
        return self._store.chunks_at([self.row(i)])[0]

    def __iter__(self):
        for lo, hi in self._runs:
            for _, chunk in self._store.db.chunk_range(lo, hi):
                yield chunk


def _runs(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Adjacent ranges joined (a fresh build is one run)."""
    out: list[list[int]] = []
    for lo, hi in ranges:
        if out and out[-1][1] == lo:
            out[-1][1] = hi
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]


class IndexStore:
    """A loaded index version (see the module docstring for what is read when)."""

    def __init__(self, path: Path, manifest: dict, generation: Path, catalog: dict[str, DocInfo]):
        self.path, self.manifest, self.generation, self.catalog = path, manifest, generation, catalog
        self._names: dict | None = None
        meta = manifest["store"]
        self.rows_total = int(meta["rows"])
        self.dim = int(manifest["embedding"]["dim"])
        self.live = np.zeros(self.rows_total, bool)
        for d in catalog.values():
            self.live[d.lo : d.hi] = True
        self._rows: dict[str, int] = {}  # chunk id -> row, of the chunks read
        self._chunk_cache: dict[int, Chunk] = {}
        self.db = ChunkStore(generation)
        self.documents = DocumentTable(catalog, self.db)
        self.chunks = ChunkList(self)
        self.segments = Segments(generation, meta["segments"], self.live, self.dim)
        self.lexical = LexicalIndex(path / "bm25", len(self.chunks))
        self._sentences = SentenceFiles(generation, self.dim).open(self.rows_total, int(meta["sentence_items"]))
        self._sentences.row_of = self.row_of

    @property
    def created_at(self) -> float:
        return float(self.manifest.get("created_at", 0))

    @property
    def names(self) -> dict | None:
        """doc_id -> DocNames as mined at index time (read on first use: updates need them, questions
        do not), or None for an index built before gazetteers."""
        if self._names is None and (self.path / "gazetteer.json").is_file():
            self._names = self._read(lambda: _read_names(self.path))
        return self._names

    @names.setter
    def names(self, value: dict | None) -> None:
        self._names = value

    def gazetteer(self):
        """The corpus's places and organisations: stored merged; mined at open for an index that lacks them."""
        from rag.gazetteer import Gazetteer, mine_corpus

        merged = self.path / MERGED_NAMES
        if merged.is_file() and (self.path / "gazetteer.json").is_file():
            return Gazetteer.from_dict(self._read(lambda: json.loads(merged.read_text(encoding="utf-8"))))
        if self.names is None:
            self.names = mine_corpus(self.documents.values())
        return Gazetteer(self.names)

    def _read(self, read):
        """A file of this version read after opening: damage is reported as at opening."""
        try:
            return read()
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise IndexCorrupt(f"the index in {self.path} is corrupt or truncated ({type(exc).__name__}: "
                               f"{str(exc)[:120]}); {REBUILD}") from exc

    # ------------------------------------------------------------------ rows
    def chunks_at(self, rows) -> list[Chunk]:
        """The chunks of these rows, in order; the most recently read are kept (a question's
        retrievers and re-rankers ask for the same rows, and questions for popular ones)."""
        rows = [int(r) for r in rows]
        cache = self._chunk_cache  # shared by threads: read with get, cleared when full
        got = {r: c for r in rows if (c := cache.get(r)) is not None}
        missing = [r for r in rows if r not in got]
        if missing:
            found = self.db.chunks(missing)
            got.update(zip(missing, found))
            if len(cache) > _ROW_CACHE // 10:
                cache.clear()
            cache.update(zip(missing, found))
            if len(self._rows) > _ROW_CACHE:
                self._rows.clear()
            self._rows.update((c.chunk_id, r) for c, r in zip(found, missing))
        return [got[r] for r in rows]

    def row_of(self, chunk: Chunk) -> int | None:
        """The live row holding ``chunk``, or None when this version does not hold it."""
        row = self._rows.get(chunk.chunk_id)
        if row is None:
            live = [r for r in self.db.rows_of(chunk.chunk_id) if r < self.rows_total and self.live[r]]
            row = live[-1] if live else None
        return row

    def ranges(self, docs) -> list[tuple[int, int]]:
        """Row ranges of these documents (their chunks are contiguous)."""
        return [(self.catalog[d].lo, self.catalog[d].hi) for d in sorted(docs) if self.catalog[d].hi > self.catalog[d].lo]

    def search(self, query_vector: np.ndarray, k: int, docs=None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, rows) by inner product; only the chunks of ``docs`` when given (an
        IDSelectorRange per document, never a scan of the others)."""
        k = min(k, len(self.chunks))
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        return self.segments.search(query_vector, k, self.ranges(docs) if docs else None)

    def sentence_vectors(self) -> StoredSentences:
        """The answer scorer's sentence vectors, memory-mapped, looked up by row."""
        return self._sentences

    def export(self, doc_ids) -> tuple:
        """(chunks, vectors, tokens, sentence arrays or None, documents) of these documents, read
        whole: for rewriting them into a new generation (compaction), never for answering."""
        from .lexical_store import PLACEHOLDER, term_rows

        rows = np.concatenate([np.arange(lo, hi) for lo, hi in self.ranges(doc_ids)] or [np.zeros(0, np.int64)])
        meta = self.manifest["store"]
        bags = term_rows(self.generation).open(self.rows_total, int(meta["term_items"]))
        names = {i: t for t, i in self.db.vocabulary().items()}
        tokens = [[names[int(t)] for t, n in np.asarray(bags.row(int(r))).tolist() for _ in range(n)
                   if names[int(t)] != PLACEHOLDER] for r in rows]
        sentences = self._sentences.arrays(rows) if "sentences" in self.manifest else None
        return (self.chunks_at(rows.tolist()), self.segments.vectors_of(rows), tokens, sentences,
                [self.documents[d] for d in sorted(doc_ids)])

    @property
    def sentences(self) -> dict[str, np.ndarray]:
        """Every live chunk's sentence arrays (``SentenceVectors.to_arrays`` form). Copies them
        all: for tests and conversions, never for opening an index."""
        return self._sentences.arrays(self.chunks.rows())


def load_store(index_dir: Path) -> IndexStore:
    """Load the live version; raise IndexMissing, IndexStale or IndexCorrupt with what to run."""
    store = with_live_version(index_dir, _load_version)
    if store is None:
        raise IndexMissing(f"no index in {index_dir}; run `rag index` to build it")
    return store


def _load_version(version: Path) -> IndexStore:
    manifest = read_manifest_file(version)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexStale(f"the index in {version.parent} has format {manifest.get('format_version')} of an earlier "
                         f"version, not {FORMAT_VERSION}; run `rag index` to convert it")
    try:
        generation = version.parent / manifest["store"]["generation"]
        catalog = {d["doc_id"]: DocInfo(**d) for d in json.loads((version / "docs.json").read_text(encoding="utf-8"))}
        store = IndexStore(version, manifest, generation, catalog)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, IndexError, zipfile.BadZipFile) as exc:
        raise IndexCorrupt(f"the index in {version} is corrupt or truncated ({type(exc).__name__}: "
                           f"{str(exc)[:120]}); {REBUILD}") from exc
    if store.segments.ntotal != store.rows_total or store.lexical.num_docs != store.rows_total:
        raise IndexCorrupt(f"the index in {version} is inconsistent ({store.segments.ntotal} vectors, "
                           f"{store.rows_total} rows); {REBUILD}")
    return store


def _read_names(version: Path) -> dict | None:
    from rag.gazetteer import DocNames

    path = version / "gazetteer.json"
    if not path.is_file():
        return None  # built before gazetteers: mined when first needed
    return {doc: DocNames.from_dict(d) for doc, d in json.loads(path.read_text(encoding="utf-8")).items()}


def read_vectors(store: IndexStore) -> np.ndarray:
    """The vectors of the live chunks, in ``store.chunks`` order (for exports and the LangChain view)."""
    return store.segments.vectors_of(store.chunks.rows())
