"""LangChain components over our stages: drop them into any LangChain pipeline.

* ``PolicyEmbeddings``: ``Embeddings`` over our embedders (query/passage prompts applied).
* ``PolicyRetriever``: ``BaseRetriever`` over the service's hybrid retrieval; documents carry
  our chunk metadata (document, title, section path, character span, scores, which
  retriever found it).
* ``PolicyVectorStore`` (in ``rag.lc_vectorstore``): a ``VectorStore`` view of the index.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Literal

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field

from .embeddings import Embedder, load_embedder
from .limits import MAX_K, MIN_K, MODES, check_choice, check_docs, check_k, check_question
from .types import Chunk, Hit

if TYPE_CHECKING:
    from .service import RagService
    from .settings import Settings


class PolicyEmbeddings(Embeddings):
    """LangChain ``Embeddings`` over our embedders; query/passage prompts are applied for you."""

    def __init__(self, embedder: Embedder):
        self.embedder = embedder

    @classmethod
    def from_settings(cls, settings: "Settings | None" = None) -> "PolicyEmbeddings":
        """The configured embedder (RAG_EMBEDDING_* settings), loaded once per process."""
        from .settings import get_settings

        return cls(load_embedder(settings or get_settings()))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed_passages(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_queries([text])[0].tolist()


def chunk_metadata(chunk: Chunk) -> dict[str, Any]:
    """Where a chunk comes from; page_content == the cleaned document's text[start:end]."""
    return {
        "doc": chunk.doc_id,
        "title": chunk.title,
        "section": list(chunk.section),
        "start": chunk.start,
        "end": chunk.end,
        "chunk_id": chunk.chunk_id,
    }


def hit_to_document(hit: Hit) -> Document:
    return Document(
        id=hit.chunk.chunk_id,
        page_content=hit.chunk.text,
        metadata={
            **chunk_metadata(hit.chunk),
            "score": hit.score,
            "reason": hit.reason,
            "dense_score": hit.dense_score,
            "lexical_score": hit.lexical_score,
            "dense_rank": hit.dense_rank,
            "lexical_rank": hit.lexical_rank,
        },
    )


class PolicyRetriever(BaseRetriever):
    """Our retrieval (hybrid by default) as a LangChain retriever.

    ``k``, ``mode`` and ``docs`` default to the service's settings; each can also be given
    per call: ``retriever.invoke(question, k=3, mode="dense", docs=["001_….txt"])``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    service: Any = Field(description="a rag.service.RagService")
    k: int | None = Field(None, ge=MIN_K, le=MAX_K, description="passages to return (1–50); default RAG_TOP_K")
    mode: Literal["hybrid", "dense", "lexical"] | None = Field(None, description="default RAG_RETRIEVAL_MODE")
    docs: list[str] | None = Field(None, description="only search these documents (file names)")

    @classmethod
    def from_settings(cls, settings: "Settings | None" = None, *, update: bool = True,
                      log: Callable[[str], None] | None = None, **fields: Any) -> "PolicyRetriever":
        """Open the service (building or updating the index unless update=False) and wrap it."""
        from .service import RagService

        return cls(service=RagService.open(settings, update=update, log=log), **fields)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None, mode: str | None = None,
                                docs: list[str] | None = None) -> list[Document]:
        # the same per-call bounds as every other entry point (rag.limits)
        query = check_question(query, self.service.settings.max_question_chars)
        k = check_k(self.k if k is None else k)
        mode = check_choice(mode or self.mode, "mode", MODES)
        docs = check_docs(self.docs if docs is None else docs)
        _, hits = self.service.retrieve(query, k, mode, docs)
        return [hit_to_document(h) for h in hits]

    async def _aget_relevant_documents(self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun,
                                       **kwargs: Any) -> list[Document]:
        # the base class drops per-call kwargs (k, mode, docs) on the async path
        return await run_in_executor(None, self._get_relevant_documents, query,
                                     run_manager=run_manager.get_sync(), **kwargs)


def __getattr__(name: str):
    # lazily: rag.lc_vectorstore imports this module, so an eager import would be circular
    if name == "PolicyVectorStore":
        from .lc_vectorstore import PolicyVectorStore

        return PolicyVectorStore
    raise AttributeError(name)
