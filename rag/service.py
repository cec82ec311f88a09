"""The question-answering service: the one object the CLI, the UI, batch and eval use.

It owns the loaded index, the embedder and the retrievers (loaded once, shared across
threads) and turns a question into an ``Answer``. Callers never touch components.
"""
from __future__ import annotations

import functools
import re
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from index.builder import BuildReport, ProgressFn, build_index, check_embedding, staleness
from index.store import IndexError_, IndexMissing, IndexStale, IndexStore, load_store, pointer_name, read_manifest

from .answer.extractive import ExtractiveAnswerer
from .embeddings import Embedder, embedder_key, load_embedder
from .answer.followup import Resolution, Resolver
from .answer.checks import AnswerChecks
from .conversation import Cited, Prior, Turn, prior_from, reading_lang, turns_of
from .query import Query, analyze, validate_question
from .retrieval import (DenseRetriever, LexicalRetriever, PriorRetriever, fitted_fusion, fitted_prior,
                        make_retriever)
from .text import detect_language
from .settings import Settings, get_settings
from .types import Answer, Hit


@dataclass(frozen=True)
class Live:
    """One index version with everything that answers from it. A question uses one Live from start
    to end, so an index update swapping in the next version never mixes two versions in an answer."""

    store: IndexStore
    dense: DenseRetriever
    lexical: LexicalRetriever
    sentences: object  # index.sentence_store.StoredSentences: what SentenceVectors answers, read by row
    answerer: ExtractiveAnswerer
    resolver: Resolver  # follow-ups, with the places and organisations mined into this version

    @classmethod
    def load(cls, embedder: Embedder, store: IndexStore) -> "Live":
        """Everything that answers from ``store``; never embeds (the sentence vectors come with it)."""
        sentences = sentence_vectors(store)
        lexical = LexicalRetriever(store)
        return cls(store, DenseRetriever(store, embedder), lexical, sentences,
                   ExtractiveAnswerer(store, sentences, embedding=embedder_key(embedder)),
                   Resolver(store.gazetteer(), lexical.vocabulary))


class RagService:
    def __init__(self, settings: Settings, embedder: Embedder, store: IndexStore,
                 log: Callable[[str], None] | None = None):
        self.settings = settings
        self.embedder = embedder
        self.live = Live.load(embedder, store)
        self._log = log  # where index updates made while serving report
        # fitted once per process, not read from disk on every question
        self.fusion = fitted_fusion()  # how ranked lists are fused per language (eval/fit_retrieval.py)
        self.prior_weights = fitted_prior()  # how a follow-up leans on the previous turn (eval/fit_prior.py)
        self._llm = None
        self._llm_lock = threading.Lock()
        self._update_lock = threading.Lock()  # one index update (and swap) at a time in this process

    # The current version's parts; a question takes ``self.live`` once instead (see Live).
    store = property(lambda self: self.live.store)
    dense = property(lambda self: self.live.dense)
    lexical = property(lambda self: self.live.lexical)
    sentences = property(lambda self: self.live.sentences)
    answerer = property(lambda self: self.live.answerer)
    resolver = property(lambda self: self.live.resolver)

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
        reason = "no index yet" if manifest is None else staleness(settings, manifest, embedder)
        if reason:
            if not update:
                if manifest is None:
                    raise IndexMissing(f"no index in {index_dir}; run `rag index` to build it")
                raise IndexStale(f"the index is stale ({reason}); run `rag index` to update it")
            log(f"Updating the index ({reason}) …")
            report = build_index(settings, embedder, log=log)
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
        self.live = Live.load(self.embedder, load_store(self.settings.resolved_index_dir()))
        return True

    # ------------------------------------------------------------------ asking
    @property
    def documents(self) -> list[str]:
        return sorted(self.store.documents)

    def analyze(self, question: str, lang: str | None = None) -> Query:
        return analyze(question, self.lexical.vocabulary, lang)

    def retrieve(self, question: str, k: int | None = None, mode: str | None = None,
                 docs: Iterable[str] | None = None, timings: dict | None = None, *,
                 step: "Step | None" = None) -> tuple[Query, list[Hit]]:
        """Passages for a question; ``step`` (from ``resolve``) carries a follow-up's reading
        language, the asker's language and the previous turn as a prior."""
        return self._retrieve(self.live, question, k, mode, docs, timings, step)

    def _retrieve(self, live: Live, question: str, k: int | None, mode: str | None,
                  docs: Iterable[str] | None, timings: dict | None,
                  step: "Step | None" = None) -> tuple[Query, list[Hit]]:
        timings = {} if timings is None else timings
        k = k or self.settings.top_k
        mode = mode or self.settings.retrieval_mode
        wanted = self._check_docs(docs, live.store)
        t0 = time.perf_counter()
        query = analyze(question, live.lexical.vocabulary, step.lang if step else None)
        if step and step.reply_lang != query.lang:
            query.reply_lang = step.reply_lang
        if mode != "lexical":
            live.dense.embed(query)
        t1 = time.perf_counter()
        retriever = make_retriever(mode, live.dense, live.lexical, live.sentences, self.fusion)
        if step and step.prior:
            retriever = PriorRetriever(retriever, live.lexical, step.prior, weights=self.prior_weights)
        hits = retriever.retrieve(query, k, wanted)
        t2 = time.perf_counter()
        timings.update(embed_ms=(t1 - t0) * 1000, search_ms=(t2 - t1) * 1000)
        return query, hits

    def ask(self, question: str, *, k: int | None = None, mode: str | None = None,
            docs: Iterable[str] | None = None, answer_mode: str | None = None,
            history: list | None = None) -> Answer:
        """Answer one question. ``history``: the conversation's earlier turns, oldest first: questions,
        or turns as ``Answer.as_turn()`` gives them (then the prior knows where the answers came from)."""
        answer = None
        for kind, payload in self.ask_stream(question, k=k, mode=mode, docs=docs, answer_mode=answer_mode, history=history):
            if kind == "answer":
                answer = payload
        return answer

    def ask_stream(self, question: str, *, k: int | None = None, mode: str | None = None,
                   docs: Iterable[str] | None = None, answer_mode: str | None = None,
                   history: list | None = None) -> Iterator[tuple[str, object]]:
        """Answer as a stream of events: ("retrieved", hits), ("delta", text piece)…, then ("answer", Answer).

        The deltas concatenate to the final answer text; the final Answer is what was verified.
        """
        question = validate_question(question, self.settings.max_question_chars)
        answer_mode = answer_mode or self.settings.answer_mode
        if answer_mode not in ("extractive", "llm"):
            raise ValueError(f"unknown answer mode {answer_mode!r}; use extractive or llm")
        t0 = time.perf_counter()
        live = self.live  # this question's index version, whatever an update swaps in meanwhile
        step = self.resolve(question, history)
        search_question = step.text
        timings: dict[str, float] = {"resolve_ms": (time.perf_counter() - t0) * 1000}
        query, hits = self._retrieve(live, search_question, k, mode, docs, timings, step)
        yield "retrieved", hits
        t1 = time.perf_counter()
        answer = live.answerer.answer(query, hits)
        checks = AnswerChecks(live.answerer, self.analyze, live.resolver.gazetteer)
        answer = checks.apply(answer, query, hits, step.resolution, step.previous)
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

    def rewrite(self, question: str, history: list | None) -> str:
        """The question made self-contained from the conversation so far (see ``resolve``)."""
        return self.resolve(question, history).text

    def resolve(self, question: str, history: list | None) -> "Step":
        """How to search a question asked after ``history`` (earlier questions or turns, oldest
        first): the question as resolved (an LLM rewrite first when one is configured, then the
        built-in resolution), the language to read it in, and the previous turn as a retrieval
        prior when it is a follow-up. A new topic is searched as asked, without a prior."""
        reply = detect_language(question)
        turns = turns_of(history)
        if not turns:
            return Step(question, reply, reply, None, Resolution(question, False, "first"))
        previous, prev_lang = self._previous(turns)
        cited = functools.lru_cache(maxsize=1)(lambda: self._cited(turns[-1], previous, prev_lang))
        res = self.resolver.resolve(question, previous, self._related(cited), prev_lang)
        text = self._llm_rewrite(question, turns) or res.text
        # the previous turn is a prior when the follow-up stays on its subject; one naming a new
        # subject ("南川省石楠县呢？") is answered elsewhere, and the old passage would only mislead
        prior = self._prior(cited(), previous, prev_lang) if res.followup and not res.new_subject else None
        return Step(text, reading_lang(question, text), reply, prior, res, turns[-1] if res.followup else None)

    def _llm_rewrite(self, question: str, turns: list[Turn]) -> str | None:
        if not self.settings.llm_configured:
            return None
        from .answer.llm import rewrite_question

        try:
            return rewrite_question(self.settings, question, [t.question for t in turns])
        except Exception:  # an unreachable or confused LLM must not stop the question: use the built-in
            return None

    def _previous(self, turns: list[Turn]) -> tuple[str, str]:
        """The last turn's question as resolved (as the client reports it, or resolved here in turn)."""
        resolved, lang = None, None
        for t in turns:
            resolved = t.search_question or self.resolver.resolve(t.question, resolved, None, lang).text
            lang = reading_lang(t.question, resolved)
        return resolved, lang

    def _cited(self, turn: Turn, previous: str, lang: str) -> list[Cited]:
        """Where the last answer came from; for a question-only history, where its question leads."""
        if turn.citations:
            return turn.citations
        _, hits = self.retrieve(previous, k=2, step=Step(previous, lang, lang, None, None))
        return [Cited(h.chunk.doc_id, h.chunk.section, h.chunk.chunk_id) for h in hits]

    def _prior(self, cited: list[Cited], previous: str, lang: str) -> Prior:
        return prior_from(cited, self.analyze(previous, lang).lexical_tokens)

    def _related(self, cited):
        """For a question with neither a subject nor a cue word: is it about what the last answer
        was about? Yes when the last answer's document matches its words nearly as well as the
        best document does (BM25; Chinese drops a subject it continues, a new topic names one)."""
        def related(question: str) -> bool:
            docs = {c.doc for c in cited()}
            query = self.analyze(question)
            best = self.lexical.retrieve(query, 1)
            if not best or not docs:
                return bool(docs)
            here = self.lexical.retrieve(query, 1, docs)
            return bool(here) and here[0].score >= RELATED_SHARE * best[0].score
        return related

    def _check_docs(self, docs: Iterable[str] | None, store: IndexStore) -> set[str] | None:
        if not docs:
            return None
        wanted = set(docs)
        unknown = {d for d in wanted if d not in store.documents}
        if unknown:
            raise ValueError(f"unknown document(s): {', '.join(sorted(unknown))}; indexed: {', '.join(sorted(store.documents))}")
        return wanted

    def info(self) -> dict:
        m = self.store.manifest
        return {
            "index": str(self.store.path),
            "corpus": m.get("corpus_dir"),
            "user_corpus": str(self.settings.resolved_user_corpus_dir()),  # `rag add` / the browser's uploads
            "documents": [
                {"doc": d.doc_id, "title": d.title, "publisher": d.publisher, "date": d.date, "chunks": d.chunks}
                for d in sorted(self.store.catalog.values(), key=lambda d: d.doc_id)
            ],
            "chunks": len(self.store.chunks),
            "embedding": m.get("embedding"),
            "settings": m.get("settings"),
            "faiss": m.get("faiss"),
            "created_at": m.get("created_at"),
        }


RELATED_SHARE = 0.35  # a cue-less follow-up's best BM25 score in the last answer's document, against the best anywhere


@dataclass
class Step:
    """One turn's resolution: what to search, read in which language, answered in which, with
    which prior (None for a first turn or a new topic)."""

    text: str
    lang: str
    reply_lang: str
    prior: Prior | None
    resolution: Resolution | None
    previous: Turn | None = None  # the turn before, for a follow-up


def sentence_vectors(store: IndexStore):
    """The answer scorer's sentence vectors, as the index build stored them (memory-mapped, read by
    row when a question needs them): opening never embeds."""
    if "sentences" not in store.manifest:
        raise IndexStale(f"the index in {store.path} has no sentence vectors for answer scoring (built by an "
                         "earlier version); run `rag index` to update it")
    return store.sentence_vectors()


def _pieces(text: str) -> list[str]:
    """Split an answer into clause-sized pieces for streaming display."""
    return [p for p in re.split(r"(?<=[，,；;。：:])", text) if p]
