"""Sentence vectors of every indexed passage, computed at index time (never per question).

The span scorer's strongest signal is the multilingual model's similarity between the
question and a candidate sentence. Embedding candidates per question would cost ~1 s; here
each sentence is embedded once, with its section heading as context, when the index is built
(``index.builder``), and stored with it (``to_arrays`` / ``from_arrays``), so opening an
index never embeds and a question costs one query embedding. Sentences of unchanged documents
are taken from the previous version; new ones go through the shared content-hash cache.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..embeddings import Embedder, EmbeddingCache
from ..text import sentence_spans
from ..types import Chunk


def sentence_text(chunk: Chunk, start: int, end: int) -> str:
    """What is embedded for a sentence: its nearest heading, then the sentence."""
    head = chunk.section[-1] if chunk.section else ""
    return f"{head}：{chunk.text[start:end]}" if head else chunk.text[start:end]


class SentenceVectors:
    """chunk_id -> (sentence spans inside chunk.text, unit vectors, one row per span)."""

    def __init__(self, spans: dict[str, list[tuple[int, int]]], vectors: dict[str, np.ndarray], embedded: int = 0):
        self._spans, self._vectors = spans, vectors
        self.embedded = embedded  # distinct sentence texts the model embedded to build this

    @classmethod
    def build(cls, chunks: list[Chunk], embedder: Embedder, cache: EmbeddingCache | None = None,
              log: Callable[[str], None] | None = None, batch_size: int = 32,
              previous: "SentenceVectors | None" = None,
              on_progress: Callable[[int, int], None] | None = None) -> "SentenceVectors":
        """Vectors for every sentence of ``chunks``; those of chunks ``previous`` holds are reused.
        ``on_progress(done, total)`` follows the sentences to embed."""
        previous = previous or cls({}, {})
        todo = [c for c in chunks if c.chunk_id not in previous._vectors]
        spans = {c.chunk_id: sentence_spans(c.text) for c in todo}
        texts = [sentence_text(c, s, e) for c in todo for s, e in spans[c.chunk_id]]
        flat, embedded = _embed(texts, embedder, cache, log, batch_size, on_progress)
        vectors, i = {}, 0
        for c in todo:
            n = len(spans[c.chunk_id])
            vectors[c.chunk_id] = flat[i : i + n]
            i += n
        for c in chunks:
            if c.chunk_id in previous._vectors:
                spans[c.chunk_id], vectors[c.chunk_id] = previous._spans[c.chunk_id], previous._vectors[c.chunk_id]
        return cls(spans, vectors, embedded)

    def to_arrays(self, chunks: list[Chunk]) -> dict[str, np.ndarray]:
        """The stored form, in ``chunks`` order: sentences per chunk, their spans, their vectors."""
        counts = np.array([len(self._spans[c.chunk_id]) for c in chunks], np.int32)
        spans = [s for c in chunks for s in self._spans[c.chunk_id]]
        dim = next((v.shape[1] for v in self._vectors.values() if v.ndim == 2), 0)
        vectors = [self._vectors[c.chunk_id] for c in chunks if len(self._vectors[c.chunk_id])]
        return {"counts": counts, "spans": np.array(spans, np.int32).reshape(-1, 2),
                "vectors": np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, dim), np.float32)}

    @classmethod
    def from_arrays(cls, chunks: list[Chunk], arrays: dict[str, np.ndarray]) -> "SentenceVectors":
        counts, flat_spans, flat = arrays["counts"], arrays["spans"], arrays["vectors"]
        if len(counts) != len(chunks) or int(counts.sum()) != len(flat_spans) or len(flat_spans) != len(flat):
            raise ValueError(f"sentence arrays of {len(counts)} chunks and {len(flat)} vectors do not match "
                             f"{len(chunks)} chunks")
        spans, vectors, i = {}, {}, 0
        for c, n in zip(chunks, counts.tolist()):
            spans[c.chunk_id] = [tuple(s) for s in flat_spans[i : i + n].tolist()]
            vectors[c.chunk_id] = flat[i : i + n]
            i += n
        return cls(spans, vectors)

    def subset(self, chunk_ids: set[str]) -> "SentenceVectors":
        """Only these chunks: what a new version may take over (chunks of unchanged documents;
        a chunk id does not cover the heading a sentence is embedded with)."""
        keep = chunk_ids & set(self._vectors)
        return SentenceVectors({i: self._spans[i] for i in keep}, {i: self._vectors[i] for i in keep})

    def get(self, chunk: Chunk) -> tuple[list[tuple[int, int]], np.ndarray | None]:
        """Spans and vectors of a chunk; spans only (vectors None) for a chunk never embedded."""
        if chunk.chunk_id in self._vectors:
            return self._spans[chunk.chunk_id], self._vectors[chunk.chunk_id]
        return sentence_spans(chunk.text), None


def _embed(texts: list[str], embedder: Embedder, cache: EmbeddingCache | None,
           log: Callable[[str], None] | None, batch_size: int,
           on_progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, int]:
    """(passage vectors of ``texts``, distinct texts the model embedded), through the cache when
    there is one, reporting progress."""
    if not texts:
        return np.zeros((0, embedder.dim), np.float32), 0
    if cache is None:
        return embedder.embed_passages(texts), len(set(texts))
    done = {"n": 0, "new": 0}

    def progress(n, cached, embedded=0):
        done["n"] += n
        done["new"] += embedded
        if log and not cached and done["new"] % (batch_size * 8) < batch_size:
            log(f"  sentence vectors: {done['n']}/{len(texts)}")
        if on_progress:
            on_progress(done["n"], len(texts))

    flat = cache.embed_passages(texts, batch_size=batch_size, progress=progress)
    if log and done["new"]:
        log(f"Embedded {done['new']} new sentences for answer scoring ({len(texts)} in all).")
    return flat, done["new"]
