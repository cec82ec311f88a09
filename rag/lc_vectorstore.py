"""``PolicyVectorStore``: a LangChain ``VectorStore`` view of our index.

It is an in-memory FAISS inner-product index (cosine similarity: vectors are normalised)
keyed by string ids, plus a docstore of LangChain ``Document``s. ``from_store`` / ``from_service``
load our built index's vectors and chunks (ids = chunk ids, metadata as ``PolicyRetriever``
gives); ``add_texts``/``delete`` then change this view only, never the index on disk, which
``rag index`` owns (it re-chunks and re-embeds from the corpus folder). ``save_local`` /
``load_local`` write the view to a folder of its own (FAISS file + JSON, no pickle).

Vectors loaded from the index embed each chunk with its title and section path in front
(what our dense retrieval searches); texts added later are embedded as given.
"""
from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from .embeddings import embedder_key
from .lc import PolicyEmbeddings, chunk_metadata

Filter = dict[str, Any] | Callable[[Document], bool] | None


def _normalise(vectors) -> np.ndarray:
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _copy(doc: Document) -> Document:
    """Callers get their own document: mutating it must not change the store."""
    return Document(id=doc.id, page_content=doc.page_content, metadata=dict(doc.metadata))


def _matches(doc: Document, filter: Filter) -> bool:
    if filter is None:
        return True
    if callable(filter):
        return bool(filter(doc))
    return all(doc.metadata.get(key) == value for key, value in filter.items())


class PolicyVectorStore(VectorStore):
    def __init__(self, embedding: Embeddings, dim: int | None = None):
        self._embedding = embedding
        self._dim = dim
        self._index = None  # created on the first add when dim is unknown
        self._docs: dict[str, Document] = {}
        self._row_of: dict[str, int] = {}  # FAISS needs int64 ids; ours are strings
        self._id_of: dict[int, str] = {}
        self._next_row = 0
        self._lock = threading.RLock()  # async methods run the sync ones in executor threads

    @property
    def embeddings(self) -> Embeddings:
        return self._embedding

    def __len__(self) -> int:
        return len(self._docs)

    # ------------------------------------------------------------------ writing
    def _ensure_index(self, dim: int):
        import faiss

        if self._dim is not None and dim != self._dim:
            raise ValueError(f"vectors of dimension {dim} cannot join a store of dimension {self._dim}")
        if self._index is None:
            self._dim = dim
            self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        return self._index

    def _add(self, vectors, documents: list[Document]) -> list[str]:
        vectors = _normalise(vectors)
        with self._lock:
            index = self._ensure_index(vectors.shape[1])
            self._remove([d.id for d in documents])  # re-adding an id replaces it
            rows = np.arange(self._next_row, self._next_row + len(documents), dtype=np.int64)
            self._next_row += len(documents)
            index.add_with_ids(vectors, rows)
            for row, doc in zip(rows.tolist(), documents):
                self._docs[doc.id], self._row_of[doc.id], self._id_of[row] = doc, row, doc.id
        return [d.id for d in documents]

    def add_texts(self, texts: Iterable[str], metadatas: list[dict] | None = None, *,
                  ids: list[str | None] | None = None, **kwargs: Any) -> list[str]:
        texts = list(texts)
        metadatas = metadatas or [{} for _ in texts]
        ids = list(ids) if ids else [None] * len(texts)
        if not len(texts) == len(metadatas) == len(ids):
            raise ValueError("texts, metadatas and ids must have the same length")
        ids = [i or str(uuid.uuid4()) for i in ids]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate ids in one call")
        if not texts:
            return []
        docs = [Document(id=i, page_content=t, metadata=dict(m)) for i, t, m in zip(ids, texts, metadatas)]
        return self._add(self._embedding.embed_documents(texts), docs)

    def _remove(self, ids: Sequence[str]) -> None:
        rows = [self._row_of.pop(i) for i in ids if i in self._row_of]
        for row in rows:
            del self._docs[self._id_of.pop(row)]
        if rows:
            self._index.remove_ids(np.asarray(rows, dtype=np.int64))

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        """Delete by id (unknown ids are ignored); ``ids=None`` empties the store."""
        with self._lock:
            self._remove(list(self._docs) if ids is None else ids)
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        return [_copy(self._docs[i]) for i in ids if i in self._docs]

    # ------------------------------------------------------------------ searching
    def _search(self, vector, k: int, filter: Filter = None) -> list[tuple[Document, float, int]]:
        with self._lock:
            if self._index is None or not self._docs or k <= 0:
                return []
            n = self._index.ntotal
            # a filter is applied after search, so search everything: exact and cheap at this scale
            scores, rows = self._index.search(_normalise(vector), n if filter is not None else min(k, n))
            found = []
            for score, row in zip(scores[0].tolist(), rows[0].tolist()):
                if row < 0:
                    continue
                doc = self._docs[self._id_of[row]]
                if _matches(doc, filter):
                    found.append((doc, float(score), row))
                    if len(found) == k:
                        break
            return found

    def similarity_search_with_score_by_vector(self, embedding: list[float], k: int = 4,
                                               filter: Filter = None, **kwargs: Any) -> list[tuple[Document, float]]:
        """(document, cosine similarity) pairs, best first; ``filter``: metadata dict or predicate."""
        return [(_copy(doc), score) for doc, score, _ in self._search(embedding, k, filter)]

    def similarity_search_with_score(self, query: str, k: int = 4, filter: Filter = None,
                                     **kwargs: Any) -> list[tuple[Document, float]]:
        if not self._docs:  # nothing to find: skip embedding the query
            return []
        return self.similarity_search_with_score_by_vector(self._embedding.embed_query(query), k, filter)

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, filter: Filter = None,
                                    **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score_by_vector(embedding, k, filter)]

    def similarity_search(self, query: str, k: int = 4, filter: Filter = None, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter)]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        return lambda score: max(0.0, min(1.0, score))  # cosine similarity, clipped to [0, 1]

    def max_marginal_relevance_search_by_vector(self, embedding: list[float], k: int = 4, fetch_k: int = 20,
                                                lambda_mult: float = 0.5, filter: Filter = None,
                                                **kwargs: Any) -> list[Document]:
        found = self._search(embedding, max(k, fetch_k), filter)
        if not found:
            return []
        with self._lock:
            candidates = np.stack([self._index.reconstruct(row) for _, _, row in found])
        picked = maximal_marginal_relevance(_normalise(embedding)[0], candidates, lambda_mult, k)
        return [_copy(found[i][0]) for i in picked]

    def max_marginal_relevance_search(self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
                                      filter: Filter = None, **kwargs: Any) -> list[Document]:
        if not self._docs:
            return []
        return self.max_marginal_relevance_search_by_vector(
            self._embedding.embed_query(query), k, fetch_k, lambda_mult, filter)

    # ------------------------------------------------------------------ constructing
    @classmethod
    def from_texts(cls, texts: list[str], embedding: Embeddings, metadatas: list[dict] | None = None, *,
                   ids: list[str] | None = None, **kwargs: Any) -> "PolicyVectorStore":
        store = cls(embedding)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    @classmethod
    def from_store(cls, store, embedding: PolicyEmbeddings) -> "PolicyVectorStore":
        """A view of a loaded ``index.store.IndexStore``: its vectors, chunks as documents."""
        from index.store import EmbeddingMismatch, read_vectors

        built_with = store.manifest.get("embedding")
        if isinstance(embedding, PolicyEmbeddings) and built_with != embedder_key(embedding.embedder):
            # queries embedded by another model would be compared with these vectors meaninglessly
            raise EmbeddingMismatch(f"the index was built with {built_with}; pass PolicyEmbeddings of that model")
        view = cls(embedding, dim=store.dim)
        docs = [Document(id=c.chunk_id, page_content=c.text, metadata=chunk_metadata(c)) for c in store.chunks]
        if docs:
            view._add(read_vectors(store), docs)
        return view

    @classmethod
    def from_service(cls, service) -> "PolicyVectorStore":
        return cls.from_store(service.store, PolicyEmbeddings(service.embedder))

    @classmethod
    def from_settings(cls, settings=None, **open_kwargs: Any) -> "PolicyVectorStore":
        """Open (building or updating) the configured index and view it."""
        from .service import RagService

        return cls.from_service(RagService.open(settings, **open_kwargs))

    # ------------------------------------------------------------------ persisting
    def save_local(self, folder_path: str | Path) -> None:
        """Write index.faiss and docstore.json (documents must have JSON-serialisable metadata)."""
        import faiss

        folder = Path(folder_path)
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            if self._index is not None:
                faiss.write_index(self._index, str(folder / "index.faiss"))
            rows = sorted(self._id_of)
            state = {
                "dim": self._dim,
                "next_row": self._next_row,
                "embedding": embedder_key(self._embedding.embedder) if isinstance(self._embedding, PolicyEmbeddings) else None,
                "documents": [{"row": r, "id": self._id_of[r], "page_content": self._docs[self._id_of[r]].page_content,
                               "metadata": self._docs[self._id_of[r]].metadata} for r in rows],
            }
        (folder / "docstore.json").write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load_local(cls, folder_path: str | Path, embeddings: Embeddings, **kwargs: Any) -> "PolicyVectorStore":
        import faiss

        folder = Path(folder_path)
        state = json.loads((folder / "docstore.json").read_text(encoding="utf-8"))
        if isinstance(embeddings, PolicyEmbeddings) and state["embedding"] not in (None, embedder_key(embeddings.embedder)):
            raise ValueError(f"{folder} was saved with embeddings {state['embedding']}; load it with that model")
        view = cls(embeddings, dim=state["dim"])
        if (folder / "index.faiss").is_file():
            view._index = faiss.read_index(str(folder / "index.faiss"))
        view._next_row = state["next_row"]
        for d in state["documents"]:
            view._docs[d["id"]] = Document(id=d["id"], page_content=d["page_content"], metadata=d["metadata"])
            view._row_of[d["id"]], view._id_of[d["row"]] = d["row"], d["id"]
        if view._index is not None and view._index.ntotal != len(view._docs):
            raise ValueError(f"{folder} is inconsistent: {view._index.ntotal} vectors, {len(view._docs)} documents")
        return view
