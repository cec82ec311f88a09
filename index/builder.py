"""Building and incrementally updating the index from a corpus folder."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from rag.chunking import ChunkSettings, chunk_document
from rag.documents import CLEANER_VERSION, CorpusProblem, list_corpus_files, load_catalog, load_document, DocumentError
from rag.embeddings import Embedder, EmbeddingCache, embedder_key
from rag.gazetteer import MINER_VERSION, mine_corpus
from rag.settings import Settings
from rag.text import search_tokens
from rag.types import Chunk, Document

from .store import (FORMAT_VERSION, EmbeddingMismatch, IndexCorrupt, IndexError_, clean_stale_builds, index_lock,
                    load_store, pointer_name, read_manifest, write_version)


@dataclass
class BuildReport:
    documents: int = 0
    chunks: int = 0
    changed: list[str] = field(default_factory=list)  # added or modified documents
    removed: list[str] = field(default_factory=list)
    embedded: int = 0  # distinct passage texts actually sent to the model
    identical: int = 0  # new passages whose text was identical to one embedded in this run
    reused: int = 0  # passages whose vectors came from the cache or the previous index
    problems: list[CorpusProblem] = field(default_factory=list)
    seconds: float = 0.0
    up_to_date: bool = False
    index_path: str = ""

    def summary(self) -> str:
        if self.up_to_date:
            head = f"Index is up to date: {self.documents} documents, {self.chunks} chunks"
        else:
            head = (f"Indexed {self.documents} documents, {self.chunks} chunks "
                    f"({len(self.changed)} added/changed, {len(self.removed)} removed; "
                    f"{self.embedded} passages embedded"
                    + (f" (+{self.identical} identical to those)" if self.identical else "")
                    + f", {self.reused} reused)")
        lines = [f"{head} in {self.seconds:.2f} s.", f"Index: {self.index_path}"]
        for p in self.problems:
            lines.append(f"Skipped {p.path}: {p.reason}")
        return "\n".join(lines)


def settings_fingerprint(settings: Settings) -> dict:
    return {"chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap,
            "cleaner_version": CLEANER_VERSION, "tokenizer": "tiktoken:cl100k_base"}


def corpus_state(folder: Path, previous: dict | None) -> dict[str, dict]:
    """doc_id -> {sha256, size, mtime}; unchanged size+mtime reuse the previous hash."""
    import hashlib

    prev_docs = known_files(previous)
    state = {}
    for path in list_corpus_files(folder):
        doc_id = path.relative_to(folder).as_posix()
        st = path.stat()
        old = prev_docs.get(doc_id)
        if old and old.get("size") == st.st_size and old.get("mtime") == st.st_mtime_ns:
            sha = old["sha256"]
        else:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
        state[doc_id] = {"sha256": sha, "size": st.st_size, "mtime": st.st_mtime_ns}
    catalog = folder / "catalog.json"
    if catalog.is_file():
        state["catalog.json"] = {"sha256": hashlib.sha256(catalog.read_bytes()).hexdigest()}
    return state


def known_files(manifest: dict | None) -> dict[str, dict]:
    """Every corpus file the manifest accounts for, indexed or skipped: {sha256, size, mtime}.

    Skipped files (binary, empty, scanned PDFs) count as known, so an unchanged corpus with an
    unreadable file is up to date instead of being rebuilt on every start.
    """
    manifest = manifest or {}
    skipped = {k: {f: v[f] for f in ("sha256", "size", "mtime") if f in v} for k, v in manifest.get("skipped", {}).items()}
    return {**manifest.get("documents", {}), **skipped}


def check_embedding(manifest: dict, embedder: Embedder) -> None:
    stored, wanted = manifest.get("embedding", {}), embedder_key(embedder)
    if stored != wanted:
        raise EmbeddingMismatch(
            f"the index was built with {stored.get('backend')}:{stored.get('model')} (dim {stored.get('dim')}) "
            f"but the configured model is {wanted['backend']}:{wanted['model']} (dim {wanted['dim']}); vectors from "
            "different models cannot be mixed. Run `rag index --rebuild` to re-embed with the configured model, "
            "or set RAG_EMBEDDING_BACKEND/RAG_EMBEDDING_MODEL back."
        )


def staleness(settings: Settings, manifest: dict) -> str | None:
    """Why the index no longer matches the corpus and settings, or None when it does."""
    if manifest.get("settings") != settings_fingerprint(settings):
        return "chunking settings or the cleaner changed"
    if Path(manifest.get("corpus_dir", "")) != settings.corpus_dir.resolve():
        return f"it was built from {manifest.get('corpus_dir')}, not {settings.corpus_dir.resolve()}"
    state = corpus_state(settings.corpus_dir, manifest)
    old = known_files(manifest)
    added = sorted(set(state) - set(old))
    removed = sorted(set(old) - set(state))
    changed = sorted(d for d in set(state) & set(old) if state[d]["sha256"] != old[d]["sha256"])
    parts = [f"{len(x)} {w}" for x, w in ((added, "added"), (changed, "changed"), (removed, "removed")) if x]
    if parts:
        return "documents " + ", ".join(parts)
    if manifest.get("gazetteer") != MINER_VERSION:  # refreshed without re-embedding anything
        return "the place and organisation names are missing or were mined by an older version"
    return None


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="chunk", desc="Embedding", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build_index(settings: Settings, embedder: Embedder, rebuild: bool = False, progress: bool | None = None,
                log: Callable[[str], None] | None = None) -> BuildReport:
    """Build or update the index; only added or changed documents are re-chunked and re-embedded.

    One writer at a time: the others wait on the index folder's lock, and then usually find
    the index up to date (a --rebuild that waited for another rebuild takes its result).
    """
    log = log or _stderr
    index_dir = settings.resolved_index_dir()
    before = _pointer(index_dir)
    with index_lock(index_dir, log) as waited:
        clean_stale_builds(index_dir)  # we hold the lock: nobody else is building
        if rebuild and waited and _pointer(index_dir) != before and _same_model(index_dir, embedder):
            log("Another process rebuilt the index while this one waited; using its result.")
            rebuild = False
        return _build_locked(settings, embedder, rebuild, progress, log)


def _pointer(index_dir: Path) -> str | None:
    try:
        return pointer_name(index_dir)
    except IndexError_:
        return None


def _same_model(index_dir: Path, embedder: Embedder) -> bool:
    try:
        manifest = read_manifest(index_dir)
    except IndexError_:
        return False
    return manifest is not None and manifest.get("embedding") == embedder_key(embedder)


def _build_locked(settings: Settings, embedder: Embedder, rebuild: bool, progress: bool | None,
                  log: Callable[[str], None]) -> BuildReport:
    t0 = time.perf_counter()
    folder, index_dir = settings.corpus_dir, settings.resolved_index_dir()
    progress = sys.stderr.isatty() if progress is None else progress
    report = BuildReport(index_path=str(index_dir))
    previous = None if rebuild else _previous_store(index_dir, embedder, log)
    prev_manifest = previous.manifest if previous else None
    if prev_manifest and prev_manifest.get("settings") != settings_fingerprint(settings):
        prev_manifest, previous = None, None  # chunking changed: re-chunk all (the cache still saves embedding)
    if prev_manifest and Path(prev_manifest.get("corpus_dir", "")) != folder.resolve():
        prev_manifest, previous = None, None
    state = corpus_state(folder, prev_manifest)
    old_docs = known_files(prev_manifest)
    old_skipped = (prev_manifest or {}).get("skipped", {})
    if prev_manifest and state == old_docs and not rebuild and prev_manifest.get("gazetteer") == MINER_VERSION:
        report.documents = len([d for d in state if d != "catalog.json"])
        report.chunks = len(previous.chunks)
        report.up_to_date, report.seconds = True, time.perf_counter() - t0
        return report

    catalog_changed = state.get("catalog.json") != old_docs.get("catalog.json")
    catalog = load_catalog(folder)
    kept_docs: list[Document] = []
    fresh_docs: list[Document] = []
    skipped: dict[str, dict] = {}
    for doc_id, info in state.items():
        if doc_id == "catalog.json":
            continue
        if doc_id in old_skipped and old_skipped[doc_id].get("sha256") == info["sha256"]:
            skipped[doc_id] = {**info, "reason": old_skipped[doc_id].get("reason", "")}  # unchanged: not retried
            continue
        old = old_docs.get(doc_id)
        if previous and old and old["sha256"] == info["sha256"] and not catalog_changed and doc_id in previous.documents:
            kept_docs.append(previous.documents[doc_id])
            continue
        try:
            fresh_docs.append(load_document(folder / doc_id, folder, catalog))
            report.changed.append(doc_id)
        except DocumentError as exc:
            report.problems.append(CorpusProblem(doc_id, str(exc)))
        except OSError as exc:
            report.problems.append(CorpusProblem(doc_id, f"cannot read: {exc}"))
    skipped.update({p.path: {**state[p.path], "reason": p.reason} for p in report.problems})
    report.removed = sorted(d for d in old_docs if d not in state and d != "catalog.json")
    if not kept_docs and not fresh_docs:
        raise IndexError_("no document in the corpus could be read:\n"
                          + "\n".join(f"  {doc}: {info['reason']}" for doc, info in sorted(skipped.items())))

    chunks, vectors, tokens = _reuse(previous, kept_docs)
    report.reused = len(chunks)
    chunk_settings = ChunkSettings(settings.chunk_size, settings.chunk_overlap)
    new_chunks = [c for d in fresh_docs for c in chunk_document(d, chunk_settings)]
    new_vectors, embedded, computed = _embed(settings, embedder, new_chunks, progress)
    report.embedded, report.identical = embedded, computed - embedded
    report.reused += len(new_chunks) - computed
    chunks += new_chunks
    tokens += [search_tokens(c.context_text()) for c in new_chunks]
    vectors = np.vstack([vectors, new_vectors]) if len(vectors) else new_vectors

    documents = kept_docs + fresh_docs
    order = sorted(range(len(chunks)), key=lambda i: (chunks[i].doc_id, chunks[i].start))  # deterministic layout
    chunks = [chunks[i] for i in order]
    tokens = [tokens[i] for i in order]
    vectors = vectors[order]
    readable = {d.doc_id for d in documents}
    manifest = {
        "format_version": FORMAT_VERSION,
        "created_at": time.time(),
        "corpus_dir": str(folder.resolve()),
        "embedding": embedder_key(embedder),
        "settings": settings_fingerprint(settings),
        "documents": {k: v for k, v in state.items() if k in readable or k == "catalog.json"},
        # unreadable files with their hash and reason: retried only when they change (or on --rebuild)
        "skipped": skipped,
        "n_chunks": len(chunks),
        "gazetteer": MINER_VERSION,  # the rules the stored names were mined by
        "faiss": "IndexHNSWFlat" if len(chunks) >= 50_000 else "IndexFlatIP",
    }
    names = {**_kept_names(previous, kept_docs), **mine_corpus(fresh_docs)}  # places and organisations per document
    path = write_version(index_dir, manifest, vectors, chunks, tokens, sorted(documents, key=lambda d: d.doc_id), names)
    report.documents, report.chunks, report.index_path = len(documents), len(chunks), str(path)
    report.seconds = time.perf_counter() - t0
    return report


def _previous_store(index_dir: Path, embedder: Embedder, log: Callable[[str], None]):
    try:
        manifest = read_manifest(index_dir)
    except IndexCorrupt as exc:
        log(f"The previous index is unreadable ({exc}); building a new one from scratch.")
        return None
    if manifest is None:
        return None
    check_embedding(manifest, embedder)  # refuse to mix models: the user must ask for --rebuild
    try:
        return load_store(index_dir)
    except IndexError_ as exc:
        log(f"The previous index is unusable ({exc}); building a new one from scratch.")
        return None


def _kept_names(previous, kept_docs: list[Document]) -> dict:
    """The mined names of unchanged documents, from the previous version (mined anew if it has none)."""
    if not kept_docs:
        return {}
    if previous is None or previous.names is None or previous.manifest.get("gazetteer") != MINER_VERSION:
        return mine_corpus(kept_docs)
    missing = [d for d in kept_docs if d.doc_id not in previous.names]
    return {**{d.doc_id: previous.names[d.doc_id] for d in kept_docs if d.doc_id in previous.names},
            **mine_corpus(missing)}


def _reuse(previous, kept_docs: list[Document]):
    if not previous or not kept_docs:
        return [], np.zeros((0, 0), np.float32), []
    from .store import read_vectors

    keep = {d.doc_id for d in kept_docs}
    rows = [i for i, c in enumerate(previous.chunks) if c.doc_id in keep]
    vectors = read_vectors(previous)[rows] if rows else np.zeros((0, previous.faiss_index.d), np.float32)
    return [previous.chunks[i] for i in rows], vectors, [previous.tokens[i] for i in rows]


def _embed(settings: Settings, embedder: Embedder, chunks: list[Chunk], progress: bool) -> tuple[np.ndarray, int, int]:
    """(vectors, distinct texts embedded, passages not found in the cache)."""
    if not chunks:
        return np.zeros((0, embedder.dim), np.float32), 0, 0
    cache = EmbeddingCache(settings.cache_dir / "embeddings.sqlite", embedder)
    counted = {"passages": 0, "texts": 0}
    bar = _progress(len(chunks), progress)

    def tick(n, cached, embedded=0):
        bar.update(n)
        if not cached:
            counted["passages"] += n  # new passages, identical ones included
            counted["texts"] += embedded  # what the model actually embedded

    try:
        vectors = cache.embed_passages([c.context_text() for c in chunks], settings.embedding_batch_size, tick)
    finally:
        bar.close()
        cache.close()
    return vectors, counted["texts"], counted["passages"]
