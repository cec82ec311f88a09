"""Index building and storage: FAISS vectors, the chunk store and the manifest."""
from .store import IndexError_, IndexMissing, IndexStale, EmbeddingMismatch, IndexStore, load_store
from .builder import BuildReport, build_index

__all__ = [
    "IndexError_", "IndexMissing", "IndexStale", "EmbeddingMismatch", "IndexStore", "load_store",
    "BuildReport", "build_index",
]
