"""Retrievers: dense (FAISS), lexical (BM25 over jieba tokens) and their fusion.

Each retriever answers ``retrieve(query, k, docs)`` with ranked ``Hit``s, so stages can be
swapped and tested alone.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from index.store import IndexStore

from .embeddings import Embedder
from .query import Query
from .types import Hit

if TYPE_CHECKING:
    from .conversation import Prior


FUSION_FILE = Path(__file__).with_name("fusion.json")


@dataclass(frozen=True)
class Fusion:
    """How one language's ranked lists are fused into one ranking.

    Fitted on the user dev split and the regression set by ``eval/fit_retrieval.py`` (written to
    ``rag/fusion.json``), not chosen by hand: how much the translated-terms query row and the
    lexical list of an English question are worth, against the question's own vector, is a
    property of the translation and the model, measured rather than guessed."""

    w_terms: float = 1.0  # an English question's translated-terms vector: its own dense list
    w_lexical: float = 1.0  # BM25 over the question's (or the translation's) tokens
    rrf_k: int = 60  # reciprocal-rank constant: small trusts the first ranks more
    year_bonus: float = 0.25  # a passage naming the asked year, in first-rank units
    pool: int = 20  # passages re-ranked by their best sentence
    w_sentence: float = 1.0  # the best-sentence order against the fused order

    @classmethod
    def from_dict(cls, data: dict) -> "Fusion":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=4)
def fitted_fusion(path: Path = FUSION_FILE) -> dict[str, Fusion]:
    """{"zh": …, "en": …} from the fitted file; the defaults when there is none."""
    if not Path(path).is_file():
        return {"zh": Fusion(), "en": Fusion()}
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {lang: Fusion.from_dict(data.get(lang, {})) for lang in ("zh", "en")}


def fusion_for(query: Query, table: dict[str, Fusion] | None = None) -> Fusion:
    table = table or fitted_fusion()
    return table["zh" if query.lang == "zh" else "en"]


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
        """One ranking: each passage scored by its closest query row."""
        best: dict[str, Hit] = {}
        for row in self.retrieve_rows(query, k, docs):
            for hit in row:
                if hit.chunk.chunk_id not in best or hit.score > best[hit.chunk.chunk_id].score:
                    best[hit.chunk.chunk_id] = hit
        ranked = sorted(best.values(), key=lambda h: -h.score)[:k]
        return [replace(h, dense_rank=r) for r, h in enumerate(ranked, 1)]

    def retrieve_rows(self, query: Query, k: int, docs: set[str] | None = None) -> list[list[Hit]]:
        """One ranking per query row (the question; for English also its translated terms), each
        its top k (with ``docs``, searched within those documents' rows only)."""
        rows = []
        for vector in np.atleast_2d(self.embed(query)):
            scores, ids = self.store.search(vector, k, docs)
            kept = [(float(s), int(i)) for s, i in zip(scores, ids)][:k]
            chunks = self.store.chunks_at([i for _, i in kept])
            rows.append([Hit(chunk, s, "dense", dense_score=s, dense_rank=r)
                         for r, (chunk, (s, _)) in enumerate(zip(chunks, kept), 1)])
        return rows


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


def _add_ranked(merged: dict[str, Hit], hits: list[Hit], weight: float, rrf_k: int, rank_of) -> None:
    """Adds ``weight / (rrf_k + rank)`` of each hit to its fused score (reciprocal-rank fusion)."""
    for hit in hits:
        add = weight / (rrf_k + rank_of(hit))
        m = merged.get(hit.chunk.chunk_id)
        if m is None:
            merged[hit.chunk.chunk_id] = replace(hit, score=add)
            continue
        m.score += add
        if hit.reason == "lexical":
            m.reason, m.lexical_score, m.lexical_rank = "both", hit.lexical_score, hit.lexical_rank


class HybridRetriever:
    """Reciprocal-rank fusion of the dense list of each query row and the lexical list, with the
    weights fitted for the question's language (``Fusion``)."""

    def __init__(self, dense: DenseRetriever, lexical: LexicalRetriever, fusion: dict[str, Fusion] | None = None,
                 depth: int = 30):
        self.dense, self.lexical, self.fusion, self.depth = dense, lexical, fusion, depth

    def retrieve(self, query: Query, k: int, docs: set[str] | None = None) -> list[Hit]:
        depth, f = max(self.depth, k), fusion_for(query, self.fusion)
        merged: dict[str, Hit] = {}
        for row, hits in enumerate(self.dense.retrieve_rows(query, depth, docs)):
            _add_ranked(merged, hits, 1.0 if row == 0 else f.w_terms, f.rrf_k, lambda h: h.dense_rank)
        if f.w_lexical > 0:
            _add_ranked(merged, self.lexical.retrieve(query, depth, docs), f.w_lexical, f.rrf_k,
                        lambda h: h.lexical_rank)
        if query.years and f.year_bonus:  # a passage naming the asked year wins a tie (2030 over 2025 targets)
            for hit in merged.values():
                if any(str(y) in hit.chunk.text for y in query.years):
                    hit.score += f.year_bonus / (f.rrf_k + 1)
        return sorted(merged.values(), key=lambda h: -h.score)[:k]


class SentenceRerank:
    """Re-ranks a retriever's top passages by their best single sentence's similarity to the question.

    A chunk vector averages a whole passage; the question is usually about one sentence of it.
    The sentence vectors already computed for the answer scorer give that sentence-level view
    for free: the first ``pool`` passages are fused (reciprocal rank, weighted by the fitted
    ``Fusion``) with their order by best-sentence similarity. It matters most across languages,
    where an English question and the one Chinese sentence that answers it are close but the
    passage is not.
    """

    def __init__(self, base: Retriever, sentences, fusion: dict[str, Fusion] | None = None):
        self.base, self.sentences, self.fusion = base, sentences, fusion

    def retrieve(self, query: Query, k: int, docs: set[str] | None = None) -> list[Hit]:
        f = fusion_for(query, self.fusion)
        hits = self.base.retrieve(query, max(k, f.pool), docs)
        if query.vector is None or len(hits) < 2 or f.w_sentence <= 0:
            return hits[:k]
        qv = np.atleast_2d(query.vector)[0]
        best = [self._best_sentence(h.chunk, qv) for h in hits]
        by_sentence = {i: r for r, i in enumerate(sorted(range(len(hits)), key=lambda i: -best[i]))}
        fused = [1 / (f.rrf_k + i) + f.w_sentence / (f.rrf_k + by_sentence[i]) for i in range(len(hits))]
        order = sorted(range(len(hits)), key=lambda i: -fused[i])
        return [replace(hits[i], score=fused[i]) for i in order[:k]]  # the score is what the order says

    def _best_sentence(self, chunk, qv: np.ndarray) -> float:
        _, vectors = self.sentences.get(chunk)
        return float((vectors @ qv).max()) if vectors is not None and len(vectors) else -1.0


# Boosts of the conversation prior in units of a first rank's fused score (1 / (rrf_k + 1)),
# and the weight of the previous turn's terms against the question's own (fused like a retriever).
PRIOR_WEIGHTS = {"chunk": 0.4, "section": 0.3, "doc": 0.15, "terms": 0.1}  # before any fit
PRIOR_FILE = Path(__file__).with_name("prior.json")


def fitted_prior(path: Path = PRIOR_FILE) -> dict[str, float]:
    """The follow-up prior's weights as ``eval/fit_prior.py`` fitted them on the dev
    conversations (``rag/prior.json``); the defaults above when there is no fit."""
    if not Path(path).is_file():
        return dict(PRIOR_WEIGHTS)
    fitted = json.loads(Path(path).read_text(encoding="utf-8")).get("weights", {})
    return {k: float(fitted.get(k, v)) for k, v in PRIOR_WEIGHTS.items()}


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


def make_retriever(mode: str, dense: DenseRetriever, lexical: LexicalRetriever, sentences=None,
                   fusion: dict[str, Fusion] | None = None) -> Retriever:
    """The retriever of a mode; with sentence vectors, dense and hybrid results are re-ranked by sentence."""
    if mode == "lexical":
        return lexical
    if mode not in ("dense", "hybrid"):
        raise ValueError(f"unknown retrieval mode {mode!r}; use hybrid, dense or lexical")
    base = dense if mode == "dense" else HybridRetriever(dense, lexical, fusion)
    return SentenceRerank(base, sentences, fusion) if sentences is not None else base
