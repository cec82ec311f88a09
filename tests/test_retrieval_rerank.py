"""Sentence-level re-ranking of retrieved passages (logic, with tiny fakes; the real path runs in the eval gate)."""
from __future__ import annotations

import numpy as np

from rag.query import Query
from rag.retrieval import Fusion, SentenceRerank
from rag.types import Chunk, Hit


def _chunk(i: int) -> Chunk:
    return Chunk(f"c{i}", "d", "t", (), 0, 10, f"passage {i}")


class _Base:
    def __init__(self, hits):
        self.hits = hits

    def retrieve(self, query, k, docs=None):
        return self.hits[:k]


class _Sentences:
    """Every passage has two sentences; passage 4's second one points the question's way."""

    def get(self, chunk):
        i = int(chunk.chunk_id[1:])
        best = np.array([1.0, 0.0]) if i == 4 else np.array([0.6, 0.8])
        return [(0, 5), (5, 10)], np.stack([np.array([0.0, 1.0]), best])


def _fusion(**kw):
    return {"zh": Fusion(rrf_k=60, **kw), "en": Fusion(rrf_k=60, **kw)}


def _query(vector):
    return Query("q", "en", [], [], [], vector=vector)


def test_the_passage_holding_the_closest_sentence_moves_up():
    hits = [Hit(_chunk(i), 1.0 / (i + 1), "dense") for i in range(8)]
    ranked = SentenceRerank(_Base(hits), _Sentences(), _fusion(pool=8)).retrieve(_query(np.array([[1.0, 0.0]])), k=5)
    ids = [h.chunk.chunk_id for h in ranked]
    assert len(ids) == 5 and ids.index("c4") < 4 and ids[0] in ("c0", "c4")


def test_without_a_query_vector_the_base_order_stays():
    hits = [Hit(_chunk(i), 1.0, "lexical") for i in range(6)]
    ranked = SentenceRerank(_Base(hits), _Sentences(), _fusion(pool=6)).retrieve(_query(None), k=3)
    assert [h.chunk.chunk_id for h in ranked] == ["c0", "c1", "c2"]
