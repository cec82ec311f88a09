"""Writing what an update found: the new documents' rows, appended to the live generation or, when
that is not possible, every row rewritten into a new one (see ``index.writer`` for both).

Only chunks the embedding cache does not hold are embedded; kept documents' vectors and sentence
vectors come from the previous version (appended updates never even read them).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import numpy as np

from rag.chunking import ChunkSettings, chunk_document
from rag.embeddings import Embedder, EmbeddingCache
from rag.gazetteer import MINER_VERSION, mine_corpus
from rag.settings import Settings
from rag.text import search_tokens
from rag.types import Chunk, Document

from .store import IndexStore
from .writer import append_version, write_version

ProgressFn = Callable[[str, int, int], None]


def can_append(previous, kept: list[str], n_new: int) -> bool:
    """Whether the update appends to the live generation: it is in the current format, has sentence
    vectors, and its dead rows (of changed and removed documents) would not outnumber the live
    ones; otherwise everything is rewritten into a new generation (a compaction)."""
    if not isinstance(previous, IndexStore) or "sentences" not in previous.manifest:
        return False
    live = sum(previous.catalog[d].chunks for d in kept)
    return previous.rows_total - live <= live + n_new


def append_rows(settings: Settings, embedder: Embedder, previous: IndexStore, kept: list[str],
                fresh_docs: list[Document], new: tuple, manifest: dict, names: dict, report, log, on_progress) -> Path:
    """Only the new documents' rows are written (see index.writer)."""
    chunks, vectors, tokens = new
    report.reused += sum(previous.catalog[d].chunks for d in kept)
    report.chunks = sum(previous.catalog[d].chunks for d in kept) + len(chunks)
    sentences, report.sentences_embedded = _sentence_arrays(settings, embedder, chunks, None, log, on_progress)
    dropped = set(previous.catalog) - set(kept)
    return append_version(settings.resolved_index_dir(), previous, manifest, vectors, chunks, tokens,
                          sorted(fresh_docs, key=lambda d: d.doc_id), names, sentences, dropped)


def write_all(settings: Settings, embedder: Embedder, previous, kept: list[str], fresh_docs: list[Document],
              new: tuple, manifest: dict, names: dict, report, log, on_progress) -> Path:
    """Every row into a new generation: the kept documents' from the previous version (vectors and
    sentence vectors included), then the new ones, in document order."""
    from rag.answer.sentences import SentenceVectors

    if previous is not None and kept:
        chunks, vectors, tokens, old_sentences, kept_docs = previous.export(kept)
    else:
        chunks, vectors, tokens, old_sentences, kept_docs = [], np.zeros((0, embedder.dim), np.float32), [], None, []
    report.reused += len(chunks)
    report.chunks = len(chunks) + len(new[0])
    before = SentenceVectors.from_arrays(chunks, old_sentences) if old_sentences is not None else None
    chunks, tokens = chunks + new[0], tokens + new[2]
    vectors = np.vstack([vectors, new[1]]) if len(vectors) else new[1]
    order = sorted(range(len(chunks)), key=lambda i: (chunks[i].doc_id, chunks[i].start))
    chunks, vectors, tokens = [chunks[i] for i in order], vectors[order], [tokens[i] for i in order]
    sentences, report.sentences_embedded = _sentence_arrays(settings, embedder, chunks, before, log, on_progress)
    documents = sorted(kept_docs + fresh_docs, key=lambda d: d.doc_id)
    return write_version(settings.resolved_index_dir(), manifest, vectors, chunks, tokens, documents, names, sentences)


def new_rows(settings: Settings, embedder: Embedder, fresh_docs: list[Document], report,
             progress: bool | None, on_progress: ProgressFn | None,
             stage=None) -> tuple[list[Chunk], np.ndarray, list[list[str]]]:
    """Chunks, vectors and BM25 tokens of the documents read now, in document order; only chunks
    the cache does not hold are embedded (in the order they were read, as always). A ``stage``
    (``index.builder.FreshStage``, e.g. the Ray pipeline) chunks and embeds them instead."""
    if stage is not None and fresh_docs:
        chunks, vectors, embedded = stage.chunks_and_vectors(fresh_docs)
        computed = len(chunks)  # the stage embeds every new passage
    else:
        chunk_settings = ChunkSettings(settings.chunk_size, settings.chunk_overlap)
        chunks = [c for d in fresh_docs for c in chunk_document(d, chunk_settings)]
        progress = sys.stderr.isatty() if progress is None else progress
        vectors, embedded, computed = _embed(settings, embedder, chunks, progress, on_progress)
    report.embedded, report.identical = embedded, computed - embedded
    report.reused += len(chunks) - computed
    order = sorted(range(len(chunks)), key=lambda i: (chunks[i].doc_id, chunks[i].start))
    return [chunks[i] for i in order], vectors[order], [search_tokens(chunks[i].context_text()) for i in order]


def kept_names(previous, kept: list[str]) -> dict:
    """The mined names of unchanged documents, from the previous version (mined anew if it has none)."""
    if not kept:
        return {}
    if previous.names is None or previous.manifest.get("gazetteer") != MINER_VERSION:
        return mine_corpus(previous.documents[d] for d in kept)
    missing = [d for d in kept if d not in previous.names]
    return {**{d: previous.names[d] for d in kept if d in previous.names},
            **mine_corpus(previous.documents[d] for d in missing)}


def _sentence_arrays(settings: Settings, embedder: Embedder, chunks: list[Chunk], before,
                     log: Callable[[str], None], on_progress: ProgressFn | None) -> tuple[dict[str, np.ndarray], int]:
    """(the answer scorer's sentence vectors of ``chunks``, distinct sentences embedded), made here
    so that opening the index never embeds: those ``before`` holds (the kept documents' chunks,
    from the previous version) are reused, new ones go through the embedding cache."""
    from rag.answer.sentences import SentenceVectors

    cache = EmbeddingCache(settings.cache_dir / "embeddings.sqlite", embedder)
    try:
        built = SentenceVectors.build(chunks, embedder, cache, log, settings.embedding_batch_size, previous=before,
                                      on_progress=(lambda done, total: on_progress("sentences", done, total))
                                      if on_progress else None)
    finally:
        cache.close()
    return built.to_arrays(chunks), built.embedded


def _embed(settings: Settings, embedder: Embedder, chunks: list[Chunk], progress: bool,
           on_progress: ProgressFn | None = None) -> tuple[np.ndarray, int, int]:
    """(vectors, distinct texts embedded, passages not found in the cache)."""
    if not chunks:
        return np.zeros((0, embedder.dim), np.float32), 0, 0
    cache = EmbeddingCache(settings.cache_dir / "embeddings.sqlite", embedder)
    counted = {"passages": 0, "texts": 0}
    bar = _progress(len(chunks), progress)

    def tick(n, cached, embedded=0):
        bar.update(n)
        if on_progress:
            on_progress("embedding", bar.n, len(chunks))
        if not cached:
            counted["passages"] += n  # new passages, identical ones included
            counted["texts"] += embedded  # what the model actually embedded

    try:
        vectors = cache.embed_passages([c.context_text() for c in chunks], settings.embedding_batch_size, tick)
    finally:
        bar.close()
        cache.close()
    return vectors, counted["texts"], counted["passages"]


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="chunk", desc="Embedding", disable=not enabled, file=sys.stderr, dynamic_ncols=True)
