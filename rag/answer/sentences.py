"""Sentence vectors of every indexed passage, computed once (not per question).

The span scorer's strongest signal is the multilingual model's similarity between the
question and a candidate sentence. Embedding candidates per question would cost ~1 s; here
each sentence is embedded once, with its section heading as context, through the shared
content-hash cache, so a re-index or a second process only embeds sentences it never saw.
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

    def __init__(self, spans: dict[str, list[tuple[int, int]]], vectors: dict[str, np.ndarray]):
        self._spans, self._vectors = spans, vectors

    @classmethod
    def build(cls, chunks: list[Chunk], embedder: Embedder, cache: EmbeddingCache | None = None,
              log: Callable[[str], None] | None = None, batch_size: int = 32) -> "SentenceVectors":
        spans = {c.chunk_id: sentence_spans(c.text) for c in chunks}
        texts = [sentence_text(c, s, e) for c in chunks for s, e in spans[c.chunk_id]]
        if cache is None:
            flat = embedder.embed_passages(texts) if texts else np.zeros((0, embedder.dim), np.float32)
        else:
            done = {"n": 0, "new": 0}

            def progress(n, cached, **_):
                done["n"] += n
                done["new"] += 0 if cached else n
                if log and not cached and done["new"] % (batch_size * 8) < batch_size:
                    log(f"  sentence vectors: {done['n']}/{len(texts)}")

            flat = cache.embed_passages(texts, batch_size=batch_size, progress=progress)
            if log and done["new"]:
                log(f"Embedded {done['new']} new sentences for answer scoring ({len(texts)} in all).")
        vectors, i = {}, 0
        for c in chunks:
            n = len(spans[c.chunk_id])
            vectors[c.chunk_id] = flat[i : i + n]
            i += n
        return cls(spans, vectors)

    def get(self, chunk: Chunk) -> tuple[list[tuple[int, int]], np.ndarray | None]:
        """Spans and vectors of a chunk; spans only (vectors None) for a chunk never embedded."""
        if chunk.chunk_id in self._vectors:
            return self._spans[chunk.chunk_id], self._vectors[chunk.chunk_id]
        return sentence_spans(chunk.text), None
