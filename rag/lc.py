"""LangChain components over our stages: drop them into any LangChain pipeline."""
from __future__ import annotations

from langchain_core.embeddings import Embeddings

from .embeddings import Embedder


class PolicyEmbeddings(Embeddings):
    """LangChain ``Embeddings`` over our embedders; query/passage prompts are applied for you."""

    def __init__(self, embedder: Embedder):
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed_passages(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_queries([text])[0].tolist()
