"""Fitted fusion of ranked lists (logic, with tiny fakes; the real path runs in the eval gate)."""
from __future__ import annotations

import json

from rag.query import Query
from rag.retrieval import FUSION_FILE, Fusion, HybridRetriever, fitted_fusion
from rag.types import Chunk, Hit


def _chunk(i: int, text: str = "") -> Chunk:
    return Chunk(f"c{i}", "d", "t", (), 0, 10, text or f"passage {i}")


class _Dense:
    """Row 0 (the question) ranks c0..c3; row 1 (translated terms) ranks c3 first."""

    def retrieve_rows(self, query, k, docs=None):
        rows = [[0, 1, 2, 3], [3, 4, 5]][: 1 if query.lang == "zh" else 2]
        return [[Hit(_chunk(i), 1.0 - r / 10, "dense", dense_score=1.0, dense_rank=r)
                 for r, i in enumerate(row, 1)] for row in rows]


class _Lexical:
    def __init__(self, ids):
        self.ids = ids

    def retrieve(self, query, k, docs=None):
        return [Hit(_chunk(i), 5.0, "lexical", lexical_score=5.0, lexical_rank=r) for r, i in enumerate(self.ids, 1)]


def _table(**kw):
    return {"zh": Fusion(**kw), "en": Fusion(**kw)}


def test_the_translated_terms_row_counts_by_its_fitted_weight():
    query = Query("q", "en", [], [], [])
    ignored = HybridRetriever(_Dense(), _Lexical([]), _table(w_terms=0.0, w_lexical=0.0)).retrieve(query, 3)
    trusted = HybridRetriever(_Dense(), _Lexical([]), _table(w_terms=2.0, w_lexical=0.0, rrf_k=5)).retrieve(query, 3)
    assert ignored[0].chunk.chunk_id == "c0"
    assert trusted[0].chunk.chunk_id == "c3"  # first in the terms row, fourth in the question's


def test_a_lexical_hit_in_both_lists_is_marked_both_and_moves_up():
    query = Query("q", "zh", [], [], ["词"])
    hits = HybridRetriever(_Dense(), _Lexical([2]), _table(w_lexical=1.0, rrf_k=10)).retrieve(query, 4)
    assert hits[0].chunk.chunk_id == "c2" and hits[0].reason == "both" and hits[0].lexical_rank == 1


def test_unknown_keys_in_the_fitted_file_are_ignored_and_a_missing_file_gives_defaults(tmp_path):
    path = tmp_path / "fusion.json"
    path.write_text(json.dumps({"zh": {"rrf_k": 7, "future_knob": 1}, "en": {}}), encoding="utf-8")
    assert fitted_fusion(path)["zh"].rrf_k == 7 and fitted_fusion(path)["en"] == Fusion()
    assert fitted_fusion(tmp_path / "none.json")["en"] == Fusion()


def test_the_shipped_fit_is_complete():
    data = json.loads(FUSION_FILE.read_text(encoding="utf-8"))
    for lang in ("zh", "en"):
        assert set(data[lang]) == set(Fusion().to_dict())
