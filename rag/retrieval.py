"""Retrievers: dense (FAISS), lexical (BM25 over jieba tokens) and their fusion.

Each retriever answers ``retrieve(query, k, docs)`` with ranked ``Hit``s, so stages can be
swapped and tested alone.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

import numpy as np

from index.store import IndexStore

from .embeddings import Embedder
from .query import Query
from .types import Hit

if TYPE_CHECKING:
    from .conversation import Prior


class Retriever(Protocol):
    def retrieve(self, query: Query, k: int, docs: set[str] | None = None) -> list[Hit]: ...


class DenseRetriever:
    def __init__(self, store: IndexStore, embedder: Embedder):
        self.store, self.embedder = store, embedder

    def embed(self, query: Query) -> np.ndarray:
        """The query vector(s): for a translated English question, also its Chinese key terms,
        which sit closer to Chinese passages than the English sentence does."""
        if query.vector is None:
            texts = [query.text]
            if query.lang != "zh" and query.groups:
                texts.append(" ".join([g[0] for g in query.groups] + [f"{y}年" for y in query.years]))
            query.vector = self.embedder.embed_queries(texts)
        return query.vector

    def retrieve(self, query: Query, k: int, docs: set[str] | None = None) -> list[Hit]:
        """Each query vector's top k (with ``docs``, searched within those documents' rows only),
        a chunk keeping its best score."""
        vectors = np.atleast_2d(self.embed(query))
        best: dict[int, float] = {}
        for vector in vectors:
            scores, rows = self.store.search(vector, k, docs)
            for score, row in zip(scores, rows):
                best[int(row)] = max(best.get(int(row), -1.0), float(score))
        ranked = sorted(best.items(), key=lambda item: -item[1])[:k]
        chunks = self.store.chunks_at([row for row, _ in ranked])
        return [Hit(chunk, score, "dense", dense_score=score, dense_rank=r + 1)
                for r, (chunk, (_, score)) in enumerate(zip(chunks, ranked))]


class LexicalRetriever:
    """BM25 over jieba tokens, as built and saved with the index (``index.lexical_store``)."""

    def __init__(self, store: IndexStore):
        self.store = store
        self.vocabulary = store.lexical.vocabulary

    def retrieve(self, query: Query, k: int, docs: set[str] | None = None) -> list[Hit]:
        tokens = [t for t in query.lexical_tokens if t in self.vocabulary]
        if not tokens or not len(self.store.chunks):
            return []
        found = self.store.lexical.top(tokens, k, self.store.ranges(docs) if docs else None)
        chunks = self.store.chunks_at([row for row, _ in found])
        return [Hit(chunk, score, "lexical", lexical_score=score, lexical_rank=r + 1)
                for r, (chunk, (_, score)) in enumerate(zip(chunks, found))]


def fusion_weights(query: Query) -> tuple[float, float]:
    """(dense, lexical) weights: lexical matching of translated terms is weak evidence."""
    if query.lang == "zh":
        return 1.0, 1.0
    return (1.0, 0.8) if query.translated else (1.0, 0.0)


class HybridRetriever:
    """Reciprocal-rank fusion of dense and lexical results, weighted by the question's language."""

    def __init__(self, dense: DenseRetriever, lexical: LexicalRetriever, rrf_k: int = 60, depth: int = 30):
        self.dense, self.lexical, self.rrf_k, self.depth = dense, lexical, rrf_k, depth

    def retrieve(self, query: Query, k: int, docs: set[str] | None = None) -> list[Hit]:
        depth = max(self.depth, k)
        w_dense, w_lex = fusion_weights(query)
        dense = self.dense.retrieve(query, depth, docs)
        lexical = self.lexical.retrieve(query, depth, docs) if w_lex > 0 else []
        merged: dict[str, Hit] = {}
        for hit in dense:
            merged[hit.chunk.chunk_id] = Hit(hit.chunk, w_dense / (self.rrf_k + hit.dense_rank), "dense",
                                             dense_score=hit.dense_score, dense_rank=hit.dense_rank)
        for hit in lexical:
            add = w_lex / (self.rrf_k + hit.lexical_rank)
            if hit.chunk.chunk_id in merged:
                m = merged[hit.chunk.chunk_id]
                m.score += add
                m.reason, m.lexical_score, m.lexical_rank = "both", hit.lexical_score, hit.lexical_rank
            else:
                merged[hit.chunk.chunk_id] = Hit(hit.chunk, add, "lexical", lexical_score=hit.lexical_score,
                                                 lexical_rank=hit.lexical_rank)
        if query.years:  # a passage naming the asked year wins a tie (2030 over 2025 targets)
            bonus = 0.25 * w_dense / (self.rrf_k + 1)
            for hit in merged.values():
                if any(str(y) in hit.chunk.text for y in query.years):
                    hit.score += bonus
        return sorted(merged.values(), key=lambda h: -h.score)[:k]


class SentenceRerank:
    """Re-ranks a retriever's top passages by their best single sentence's similarity to the question.

    A chunk vector averages a whole passage; the question is usually about one sentence of it.
    The sentence vectors already computed for the answer scorer give that sentence-level view
    for free: the first ``pool`` passages are fused (reciprocal rank, equal weights) with their
    order by best-sentence similarity. It matters most across languages, where an English
    question and the one Chinese sentence that answers it are close but the passage is not.
    """

    def __init__(self, base: Retriever, sentences, rrf_k: int = 60, pool: int = 20):
        self.base, self.sentences, self.rrf_k, self.pool = base, sentences, rrf_k, pool

    def retrieve(self, query: Query, k: int, docs: set[str] | None = None) -> list[Hit]:
        hits = self.base.retrieve(query, max(k, self.pool), docs)
        if query.vector is None or len(hits) < 2:
            return hits[:k]
        qv = np.atleast_2d(query.vector)[0]
        best = [self._best_sentence(h.chunk, qv) for h in hits]
        by_sentence = {i: r for r, i in enumerate(sorted(range(len(hits)), key=lambda i: -best[i]))}
        fused = [1 / (self.rrf_k + i) + 1 / (self.rrf_k + by_sentence[i]) for i in range(len(hits))]
        order = sorted(range(len(hits)), key=lambda i: -fused[i])
        return [replace(hits[i], score=fused[i]) for i in order[:k]]  # the score is what the order says

    def _best_sentence(self, chunk, qv: np.ndarray) -> float:
        _, vectors = self.sentences.get(chunk)
        return float((vectors @ qv).max()) if vectors is not None and len(vectors) else -1.0


# Boosts of the conversation prior in units of a first rank's fused score (1 / (rrf_k + 1)),
# and the weight of the previous turn's terms against the question's own (fused like a retriever).
PRIOR_WEIGHTS = {"chunk": 0.4, "section": 0.3, "doc": 0.15, "terms": 0.1}


class PriorRetriever:
    """A follow-up's retrieval: the base ranking re-ranked with the previous turn as a prior.

    The passage, section and document the last answer came from get a boost, and the previous
    question's key terms are searched as well, at lower weight, so "这是怎么做到的？" lands on
    the passage being discussed while a follow-up that names a new place still finds it."""

    def __init__(self, base: Retriever, lexical: LexicalRetriever, prior: "Prior", rrf_k: int = 60,
                 depth: int = 30, weights: dict | None = None):
        self.base, self.lexical, self.prior = base, lexical, prior
        self.rrf_k, self.depth, self.weights = rrf_k, depth, weights or PRIOR_WEIGHTS

    def retrieve(self, query: Query, k: int, docs: set[str] | None = None) -> list[Hit]:
        depth = max(self.depth, k)
        fused = isinstance(self.base, HybridRetriever)
        merged = {h.chunk.chunk_id: replace(h, score=h.score if fused else 1.0 / (self.rrf_k + r))
                  for r, h in enumerate(self.base.retrieve(query, depth, docs), 1)}
        self._add_terms(query, merged, depth, docs)
        unit = 1.0 / (self.rrf_k + 1)
        for hit in merged.values():
            hit.score += unit * self._boost(hit)
        return sorted(merged.values(), key=lambda h: -h.score)[:k]

    def _add_terms(self, query: Query, merged: dict[str, Hit], depth: int, docs) -> None:
        terms = [t for t in self.prior.terms if t not in query.lexical_tokens]
        if not terms or self.weights["terms"] <= 0:
            return
        for r, hit in enumerate(self.lexical.retrieve(replace(query, lexical_tokens=terms), depth, docs), 1):
            add = self.weights["terms"] / (self.rrf_k + r)
            if hit.chunk.chunk_id in merged:
                merged[hit.chunk.chunk_id].score += add
            else:
                merged[hit.chunk.chunk_id] = replace(hit, score=add)

    def _boost(self, hit: Hit) -> float:
        c, w = hit.chunk, self.weights
        if c.chunk_id in self.prior.chunks:
            return w["chunk"]
        if (c.doc_id, c.section) in self.prior.sections:
            return w["section"]
        return w["doc"] if c.doc_id in self.prior.docs else 0.0


def make_retriever(mode: str, dense: DenseRetriever, lexical: LexicalRetriever, rrf_k: int = 60,
                   sentences=None) -> Retriever:
    """The retriever of a mode; with sentence vectors, dense and hybrid results are re-ranked by sentence."""
    if mode == "lexical":
        return lexical
    if mode not in ("dense", "hybrid"):
        raise ValueError(f"unknown retrieval mode {mode!r}; use hybrid, dense or lexical")
    base = dense if mode == "dense" else HybridRetriever(dense, lexical, rrf_k)
    return SentenceRerank(base, sentences, rrf_k) if sentences is not None else base
