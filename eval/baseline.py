"""A textbook LangChain RAG baseline, scored by the same metrics as the product.

RecursiveCharacterTextSplitter(500, 50) over the raw documents, the product's embedding
model, a LangChain FAISS store, and the top passage as the answer (it never refuses).
It is what a first tutorial-style pipeline would give: the bar the product must clear.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time

from rag.documents import list_corpus_files, read_text
from rag.embeddings import embedder_key, load_embedder
from rag.lc import PolicyEmbeddings
from rag.settings import Settings

CHUNK_SIZE = 500
CHUNK_OVERLAP = 50
RETRIEVE_K = 10


def corpus_key(settings: Settings, embedder) -> str:
    """Changes whenever a document, the splitter or the embedding model changes."""
    h = hashlib.sha256()
    folder = settings.corpus_dir
    for path in list_corpus_files(folder):
        h.update(path.relative_to(folder).as_posix().encode("utf-8"))
        h.update(hashlib.sha256(path.read_bytes()).digest())
    h.update(json.dumps([CHUNK_SIZE, CHUNK_OVERLAP, embedder_key(embedder)], sort_keys=True).encode("utf-8"))
    return h.hexdigest()[:16]


class LangChainBaseline:
    """Same interface as the harness's service runner: ``run(question) -> dict``."""

    name = "langchain"

    def __init__(self, settings: Settings, log=None):
        from langchain_community.vectorstores import FAISS

        log = log or (lambda msg: print(msg, file=sys.stderr))
        self.k = 1
        embedder = load_embedder(settings)
        self.embeddings = PolicyEmbeddings(embedder)
        folder = settings.cache_dir / "eval-baseline" / corpus_key(settings, embedder)
        if (folder / "index.faiss").is_file():
            # our own file, written by save_local below: loading its pickle is safe
            self.store = FAISS.load_local(str(folder), self.embeddings, allow_dangerous_deserialization=True)
        else:
            t0 = time.perf_counter()
            docs = self._split(settings)
            log(f"Building the LangChain baseline index ({len(docs)} chunks) …")
            self.store = FAISS.from_documents(docs, self.embeddings)
            tmp = folder.with_name(folder.name + ".tmp")
            self.store.save_local(str(tmp))
            # write then rename, so an interrupted build never leaves a half index to load
            if folder.exists():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.replace(folder)
            log(f"Baseline index built in {time.perf_counter() - t0:.1f} s: {folder}")

    @staticmethod
    def _split(settings: Settings):
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
        folder = settings.corpus_dir
        paths = list_corpus_files(folder)
        texts = [read_text(p) for p in paths]
        metas = [{"doc": p.relative_to(folder).as_posix()} for p in paths]
        return splitter.create_documents(texts, metadatas=metas)

    def run(self, question: str) -> dict:
        t0 = time.perf_counter()
        vector = self.embeddings.embed_query(question)
        t1 = time.perf_counter()
        docs = self.store.similarity_search_by_vector(vector, k=RETRIEVE_K)
        t2 = time.perf_counter()
        top = docs[0].page_content if docs else ""
        t3 = time.perf_counter()
        return {
            "answer": top,
            "refused": False,
            "cited": [top] if docs else [],
            "cited_docs": [docs[0].metadata.get("doc")] if docs else [],
            "ranked": [d.page_content for d in docs],
            "timings_ms": {"embed_ms": (t1 - t0) * 1000, "search_ms": (t2 - t1) * 1000,
                           "answer_ms": (t3 - t2) * 1000, "total_ms": (t3 - t0) * 1000},
        }
