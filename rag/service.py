"""The question-answering service: the one object the CLI, the UI, batch and eval use.

It owns the loaded index, the embedder and the retrievers (loaded once, shared across
threads) and turns a question into an ``Answer``. Callers never touch components.
"""
from __future__ import annotations

import re
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from index.builder import BuildReport, ProgressFn, build_index, check_embedding, staleness
from index.store import IndexError_, IndexMissing, IndexStale, IndexStore, load_store, pointer_name, read_manifest

from .answer.extractive import ExtractiveAnswerer
from .answer.sentences import SentenceVectors
from .embeddings import Embedder, EmbeddingCache, embedder_key, load_embedder
from .answer.followup import rewrite_followup
from .query import Query, analyze, validate_question
from .retrieval import DenseRetriever, LexicalRetriever, make_retriever
from .settings import Settings, get_settings
from .types import Answer, Hit


@dataclass(frozen=True)
class Live:
    """One index version with everything that answers from it. A question uses one Live from start
    to end, so an index update swapping in the next version never mixes two versions in an answer."""

    store: IndexStore
    dense: DenseRetriever
    lexical: LexicalRetriever
    sentences: SentenceVectors
    answerer: ExtractiveAnswerer

    @classmethod
    def load(cls, settings: Settings, embedder: Embedder, store: IndexStore,
             log: Callable[[str], None] | None = None) -> "Live":
        sentences = sentence_vectors(settings, embedder, store, log)
        return cls(store, DenseRetriever(store, embedder), LexicalRetriever(store), sentences,
                   ExtractiveAnswerer(store, sentences, embedding=embedder_key(embedder)))


class RagService:
    def __init__(self, settings: Settings, embedder: Embedder, store: IndexStore,
                 log: Callable[[str], None] | None = None):
        self.settings = settings
        self.embedder = embedder
        self.live = Live.load(settings, embedder, store, log)
        self._log = log
        self._llm = None
        self._llm_lock = threading.Lock()
        self._update_lock = threading.Lock()  # one index update (and swap) at a time in this process

    # The current version's parts; a question takes ``self.live`` once instead (see Live).
    store = property(lambda self: self.live.store)
    dense = property(lambda self: self.live.dense)
    lexical = property(lambda self: self.live.lexical)
    sentences = property(lambda self: self.live.sentences)
    answerer = property(lambda self: self.live.answerer)

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, settings: Settings | None = None, *, update: bool = True,
             log: Callable[[str], None] | None = None) -> "RagService":
        """Load the index; build it when missing and update it when stale (unless update=False)."""
        settings = settings or get_settings()
        log = log or (lambda msg: print(msg, file=sys.stderr))
        embedder = load_embedder(settings)
        index_dir = settings.resolved_index_dir()
        manifest = read_manifest(index_dir)
        if manifest is not None:
            check_embedding(manifest, embedder)
        reason = "no index yet" if manifest is None else staleness(settings, manifest)
        if reason:
            if not update:
                if manifest is None:
                    raise IndexMissing(f"no index in {index_dir}; run `rag index` to build it")
                raise IndexStale(f"the index is stale ({reason}); run `rag index` to update it")
            log(f"Updating the index ({reason}) …")
            report = build_index(settings, embedder)
            log(report.summary())
        return cls(settings, embedder, load_store(index_dir), log)

    @staticmethod
    def build(settings: Settings, rebuild: bool = False, progress: bool | None = None) -> BuildReport:
        return build_index(settings, load_embedder(settings), rebuild=rebuild, progress=progress)

    # ------------------------------------------------------------------ updating while serving
    def update_index(self, on_progress: ProgressFn | None = None) -> BuildReport:
        """Bring the index up to date with the corpus folders, then swap the new version in.

        Questions asked meanwhile are answered from the version already loaded; the swap happens
        only once the new version is written and ready to answer (its sentence vectors included).
        """
        with self._update_lock:
            report = build_index(self.settings, self.embedder, progress=False, log=self._log or (lambda m: None),
                                 on_progress=on_progress)
            self._load_current(on_progress)
            return report

    def follow_index(self) -> bool:
        """Load the index version another process wrote (e.g. `rag add` while `rag ui` runs); True if it did.

        Never waits: while this process is updating the index, the update loads the result itself.
        """
        if not self._update_lock.acquire(blocking=False):
            return False
        try:
            return self._load_current(None)
        finally:
            self._update_lock.release()

    def _load_current(self, on_progress: ProgressFn | None) -> bool:
        try:
            name = pointer_name(self.settings.resolved_index_dir())
        except IndexError_:
            return False
        if name is None or name == self.store.path.name:
            return False
        if on_progress:
            on_progress("loading", 0, 1)
        self.live = Live.load(self.settings, self.embedder, load_store(self.settings.resolved_index_dir()), self._log)
        return True

    # ------------------------------------------------------------------ asking
    @property
    def documents(self) -> list[str]:
        return sorted(self.store.documents)

    def analyze(self, question: str) -> Query:
        return analyze(question, self.lexical.vocabulary)

    def retrieve(self, question: str, k: int | None = None, mode: str | None = None,
                 docs: Iterable[str] | None = None, timings: dict | None = None) -> tuple[Query, list[Hit]]:
        return self._retrieve(self.live, question, k, mode, docs, timings)

    def _retrieve(self, live: Live, question: str, k: int | None, mode: str | None,
                  docs: Iterable[str] | None, timings: dict | None) -> tuple[Query, list[Hit]]:
        timings = {} if timings is None else timings
        k = k or self.settings.top_k
        mode = mode or self.settings.retrieval_mode
        wanted = self._check_docs(docs, live.store)
        t0 = time.perf_counter()
        query = analyze(question, live.lexical.vocabulary)
        if mode != "lexical":
            live.dense.embed(query)
        t1 = time.perf_counter()
        hits = make_retriever(mode, live.dense, live.lexical, self.settings.rrf_k).retrieve(query, k, wanted)
        t2 = time.perf_counter()
        timings.update(embed_ms=(t1 - t0) * 1000, search_ms=(t2 - t1) * 1000)
        return query, hits

    def ask(self, question: str, *, k: int | None = None, mode: str | None = None,
            docs: Iterable[str] | None = None, answer_mode: str | None = None,
            history: list[str] | None = None) -> Answer:
        """Answer one question. ``history``: earlier questions of the conversation, oldest first."""
        answer = None
        for kind, payload in self.ask_stream(question, k=k, mode=mode, docs=docs, answer_mode=answer_mode, history=history):
            if kind == "answer":
                answer = payload
        return answer

    def ask_stream(self, question: str, *, k: int | None = None, mode: str | None = None,
                   docs: Iterable[str] | None = None, answer_mode: str | None = None,
                   history: list[str] | None = None) -> Iterator[tuple[str, object]]:
        """Answer as a stream of events: ("retrieved", hits), ("delta", text piece)…, then ("answer", Answer).

        The deltas concatenate to the final answer text; the final Answer is what was verified.
        """
        question = validate_question(question, self.settings.max_question_chars)
        answer_mode = answer_mode or self.settings.answer_mode
        if answer_mode not in ("extractive", "llm"):
            raise ValueError(f"unknown answer mode {answer_mode!r}; use extractive or llm")
        t0 = time.perf_counter()
        live = self.live  # this question's index version, whatever an update swaps in meanwhile
        search_question = self.rewrite(question, history)
        timings: dict[str, float] = {}
        query, hits = self._retrieve(live, search_question, k, mode, docs, timings)
        yield "retrieved", hits
        t1 = time.perf_counter()
        answer = live.answerer.answer(query, hits)
        if answer_mode == "llm":
            answer = yield from self._llm_stream(query, hits, answer, history)
        else:
            for piece in _pieces(answer.text):
                yield "delta", piece
        timings["answer_ms"] = (time.perf_counter() - t1) * 1000
        timings["total_ms"] = (time.perf_counter() - t0) * 1000
        answer.question = question
        answer.search_question = search_question if search_question != question else None
        answer.timings_ms = {**timings, **answer.timings_ms}
        yield "answer", answer

    def _llm_stream(self, query: Query, hits: list[Hit], extractive: Answer, history: list[str] | None):
        """LLM answer with verified citations; falls back to the extractive answer (see rag.answer.llm)."""
        if not self.settings.llm_configured:
            raise ValueError("LLM answers need RAG_LLM_BASE_URL and RAG_LLM_MODEL (see README, 'LLM answers'); "
                             "or use --answer extractive")
        from .answer.llm import LLMAnswerer

        with self._llm_lock:
            if self._llm is None:
                self._llm = LLMAnswerer(self.settings)
        return (yield from self._llm.stream(query, hits, extractive))

    def rewrite(self, question: str, history: list[str] | None) -> str:
        """Make a follow-up question self-contained (hook for conversation-aware rewriting)."""
        if not history:
            return question
        if self.settings.llm_configured:
            from .answer.llm import rewrite_question

            try:
                return rewrite_question(self.settings, question, history)
            except Exception:  # an unreachable or confused LLM must not stop the question: use the heuristic
                pass
        return rewrite_followup(question, history)

    def _check_docs(self, docs: Iterable[str] | None, store: IndexStore) -> set[str] | None:
        if not docs:
            return None
        wanted = set(docs)
        unknown = wanted - set(store.documents)
        if unknown:
            raise ValueError(f"unknown document(s): {', '.join(sorted(unknown))}; indexed: {', '.join(sorted(store.documents))}")
        return wanted

    def info(self) -> dict:
        m = self.store.manifest
        return {
            "index": str(self.store.path),
            "corpus": m.get("corpus_dir"),
            "documents": [
                {"doc": d.doc_id, "title": d.title, "publisher": d.publisher, "date": d.date,
                 "chunks": sum(1 for c in self.store.chunks if c.doc_id == d.doc_id)}
                for d in sorted(self.store.documents.values(), key=lambda d: d.doc_id)
            ],
            "chunks": len(self.store.chunks),
            "embedding": m.get("embedding"),
            "settings": m.get("settings"),
            "faiss": m.get("faiss"),
            "created_at": m.get("created_at"),
        }


def sentence_vectors(settings: Settings, embedder: Embedder, store: IndexStore,
                     log: Callable[[str], None] | None = None) -> SentenceVectors:
    """The answer scorer's sentence vectors, through the shared content-hash cache."""
    cache = EmbeddingCache(settings.cache_dir / "embeddings.sqlite", embedder)
    try:
        return SentenceVectors.build(store.chunks, embedder, cache, log, settings.embedding_batch_size)
    finally:
        cache.close()


def _pieces(text: str) -> list[str]:
    """Split an answer into clause-sized pieces for streaming display."""
    return [p for p in re.split(r"(?<=[，,；;。：:])", text) if p]
