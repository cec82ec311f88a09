"""Our LangChain components keep our metadata and agree with our own retrievers."""
from __future__ import annotations

import asyncio
import copy

import numpy as np
import pytest
from langchain_core.documents import Document

from index.store import EmbeddingMismatch
from rag.lc import PolicyEmbeddings, PolicyRetriever
from rag.lc_vectorstore import PolicyVectorStore

QUESTION = "甘肃省2030年森林覆盖率目标是多少？"
QUESTIONS = [QUESTION, "上海零碳园区的建设目标", "What is Gansu's 2030 forest coverage target?"]


@pytest.fixture(scope="module")
def view(service):
    return PolicyVectorStore.from_service(service)


def assert_span_matches(service, doc: Document):
    text = service.store.documents[doc.metadata["doc"]].text
    assert doc.page_content == text[doc.metadata["start"] : doc.metadata["end"]]


def test_embeddings_apply_query_and_passage_prompts(service):
    emb = PolicyEmbeddings.from_settings(service.settings)
    assert emb.embedder is service.embedder
    query, passage = emb.embed_query("森林覆盖率"), emb.embed_documents(["森林覆盖率"])[0]
    assert len(query) == len(passage) == service.embedder.dim
    assert not np.allclose(query, passage)  # "query: " and "passage: " prefixes differ
    assert np.allclose(query, service.embedder.embed_queries(["森林覆盖率"])[0])


def test_retriever_top_document_carries_our_metadata(service):
    docs = PolicyRetriever(service=service).invoke(QUESTION)
    assert len(docs) == service.settings.top_k
    top = docs[0]
    m = top.metadata
    assert m["doc"] in service.store.documents
    assert m["title"] == service.store.documents[m["doc"]].title
    assert m["section"] and all(isinstance(s, str) for s in m["section"])
    assert 0 <= m["start"] < m["end"]
    assert top.id == m["chunk_id"]
    assert m["reason"] in ("dense", "lexical", "both")
    assert isinstance(m["score"], float) and isinstance(m["dense_score"], float)
    assert m["lexical_score"] is None or isinstance(m["lexical_score"], float)
    assert_span_matches(service, top)
    assert any("12.7%" in d.page_content for d in docs)


def test_retriever_matches_the_service(service):
    _, hits = service.retrieve(QUESTION, 4, "hybrid")
    docs = PolicyRetriever(service=service, k=4).invoke(QUESTION)
    assert [d.id for d in docs] == [h.chunk.chunk_id for h in hits]
    assert [d.metadata["score"] for d in docs] == [h.score for h in hits]
    for d in docs:
        assert_span_matches(service, d)


def test_retriever_mode_and_docs_per_call_and_as_fields(service):
    lexical = PolicyRetriever(service=service).invoke(QUESTION, k=2, mode="lexical")
    assert len(lexical) == 2 and {d.metadata["reason"] for d in lexical} == {"lexical"}
    assert all(d.metadata["dense_score"] is None for d in lexical)
    other = next(d for d in service.documents if d != lexical[0].metadata["doc"])
    only = PolicyRetriever(service=service, docs=[other], mode="dense").invoke(QUESTION)
    assert only and {d.metadata["doc"] for d in only} == {other}
    # the async path keeps per-call arguments too
    got = asyncio.run(PolicyRetriever(service=service).ainvoke(QUESTION, k=1, mode="dense"))
    assert len(got) == 1 and got[0].metadata["reason"] == "dense"
    with pytest.raises(ValueError, match="unknown document"):
        PolicyRetriever(service=service, docs=["no-such.txt"]).invoke(QUESTION)


def test_retriever_from_settings_opens_the_same_index(service):
    retriever = PolicyRetriever.from_settings(service.settings, update=False, k=2)
    assert [d.id for d in retriever.invoke(QUESTION)] == [h.chunk.chunk_id for h in service.retrieve(QUESTION, 2)[1]]


def test_vector_store_view_holds_every_chunk(service, view):
    assert len(view) == len(service.store.chunks)
    chunk = service.store.chunks[7]
    (doc,) = view.get_by_ids([chunk.chunk_id])
    assert doc.page_content == chunk.text and doc.metadata["section"] == list(chunk.section)
    assert_span_matches(service, doc)


@pytest.mark.parametrize("question", QUESTIONS)
def test_vector_store_top_chunk_is_the_indexs_nearest_neighbour(service, view, question):
    (doc, score), = view.similarity_search_with_score(question, k=1)
    # The index's own nearest neighbour for the query embedding. (Our dense retriever adds a
    # second vector for English questions, their Chinese key terms, so it may rank otherwise.)
    scores, ids = service.store.search(service.embedder.embed_queries([question])[0], 1)
    assert doc.id == service.store.chunks[ids[0]].chunk_id
    assert score == pytest.approx(float(scores[0]), abs=1e-4)
    assert_span_matches(service, doc)


def test_vector_store_matches_dense_retrieval_for_chinese(service, view):
    question = "甘肃省2030年森林覆盖率目标是多少？"
    (doc, score), = view.similarity_search_with_score(question, k=1)
    _, hits = service.retrieve(question, 1, "dense")
    assert doc.id == hits[0].chunk.chunk_id and score == pytest.approx(hits[0].dense_score, abs=1e-4)


def test_vector_store_filter_and_mmr(service, view):
    wanted = service.documents[-1]
    docs = view.similarity_search(QUESTION, k=3, filter={"doc": wanted})
    assert docs and {d.metadata["doc"] for d in docs} == {wanted}
    mmr = view.max_marginal_relevance_search(QUESTION, k=3, fetch_k=10)
    assert len({d.id for d in mmr}) == 3
    retrieved = view.as_retriever(search_kwargs={"k": 2}).invoke(QUESTION)
    assert [d.id for d in retrieved] == [d.id for d in view.similarity_search(QUESTION, k=2)]


def test_vector_store_changes_stay_in_the_view_and_round_trip(service, tmp_path):
    view = PolicyVectorStore.from_service(service)
    top = view.similarity_search(QUESTION, k=1)[0]
    view.delete([top.id])
    assert view.get_by_ids([top.id]) == [] and view.similarity_search(QUESTION, k=1)[0].id != top.id
    assert service.retrieve(QUESTION, 1, "dense")[1][0].chunk.chunk_id == top.id  # the index itself is untouched
    [added] = view.add_texts(["到2030年底，森林覆盖率提高至12.7%。"], [{"doc": "note.txt"}], ids=["note-1"])
    view.save_local(tmp_path / "view")
    loaded = PolicyVectorStore.load_local(tmp_path / "view", PolicyEmbeddings(service.embedder))
    assert len(loaded) == len(view) == len(service.store.chunks)
    assert loaded.get_by_ids([added]) == view.get_by_ids([added])
    for q in QUESTIONS:
        assert [(d.id, round(s, 5)) for d, s in loaded.similarity_search_with_score(q, k=5)] == \
               [(d.id, round(s, 5)) for d, s in view.similarity_search_with_score(q, k=5)]


def test_vector_store_refuses_vectors_of_another_model(service):
    manifest = {**service.store.manifest, "embedding": {**service.store.manifest["embedding"], "model": "bge-m3"}}
    other = copy.copy(service.store)  # the same index, its manifest naming another model
    other.manifest = manifest
    with pytest.raises(EmbeddingMismatch):
        PolicyVectorStore.from_store(other, PolicyEmbeddings(service.embedder))
