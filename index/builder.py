"""Building and incrementally updating the index from the corpus (base folder and user folder)."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from rag.documents import CLEANER_VERSION, CorpusProblem, load_document, DocumentError
from rag.readers import NeedsOcr
from rag.embeddings import Embedder, embedder_key, model_identity
from rag.gazetteer import MINER_VERSION, mine_corpus
from rag.settings import Settings
from rag.sources import Sources, entry_hash
from rag.types import Document

from .legacy import is_legacy, load_legacy
from .store import (FORMAT_VERSION, EmbeddingMismatch, IndexCorrupt, IndexError_, clean_stale_builds,
                    index_lock, load_store, pointer_name, read_manifest)
from .update import append_rows, can_append, kept_names, new_rows, write_all


ProgressFn = Callable[[str, int, int], None]


class FreshStage(Protocol):
    """Reads, chunks and embeds the new documents of an update somewhere other than this loop
    (``index/ray_build.RayStage``: a Ray Data pipeline over a cluster). Everything else stays
    here (what changed, sentence vectors, names, writing), so both ways give the same index.

    ``read`` gives each doc_id its Document or the exception reading raised;
    ``chunks_and_vectors`` the chunks of the documents read and their passage vectors, with
    the number of distinct texts embedded."""

    def read(self, files: dict[str, Path], base: Path, catalog: dict) -> dict[str, Document | Exception]: ...

    def chunks_and_vectors(self, documents: list[Document]) -> tuple[list[Chunk], np.ndarray, int]: ...


@dataclass
class BuildReport:
    documents: int = 0
    chunks: int = 0
    changed: list[str] = field(default_factory=list)  # added or modified documents
    removed: list[str] = field(default_factory=list)
    embedded: int = 0  # distinct passage texts actually sent to the model
    identical: int = 0  # new passages whose text was identical to one embedded in this run
    reused: int = 0  # passages whose vectors came from the cache or the previous index
    sentences_embedded: int = 0  # distinct sentence texts embedded for answer scoring
    problems: list[CorpusProblem] = field(default_factory=list)
    seconds: float = 0.0
    up_to_date: bool = False
    index_path: str = ""
    version: str = ""  # the version folder written (or the live one when up to date)

    def summary(self) -> str:
        if self.up_to_date:
            head = f"Index is up to date: {self.documents} documents, {self.chunks} chunks"
        else:
            head = (f"Indexed {self.documents} documents, {self.chunks} chunks "
                    f"({len(self.changed)} added/changed, {len(self.removed)} removed; "
                    f"{self.embedded} passages embedded"
                    + (f" (+{self.identical} identical to those)" if self.identical else "")
                    + f", {self.reused} reused"
                    + (f"; {self.sentences_embedded} sentences embedded for answer scoring" if self.sentences_embedded else "")
                    + ")")
        lines = [f"{head} in {self.seconds:.2f} s.", f"Index: {self.index_path}"]
        for p in self.problems:
            lines.append(f"Skipped {p.path}: {p.reason}")
        return "\n".join(lines)


def settings_fingerprint(settings: Settings) -> dict:
    return {"chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap,
            "cleaner_version": CLEANER_VERSION, "tokenizer": "tiktoken:cl100k_base"}


def corpus_state(sources: Sources, previous: dict | None) -> tuple[dict[str, dict], list[CorpusProblem]]:
    """doc_id -> {sha256, size, mtime, meta} of every document, and the files left out (name clashes).

    An unchanged size and mtime reuse the previous hash; ``meta`` fingerprints the document's
    catalog entry, so a new title re-indexes that document alone.
    """
    import hashlib

    prev_docs = known_files(previous)
    catalog = sources.catalog()
    files, problems = sources.files()
    state = {}
    for doc_id, path in files.items():
        st = path.stat()
        old = prev_docs.get(doc_id)
        if old and old.get("size") == st.st_size and old.get("mtime") == st.st_mtime_ns:
            sha = old["sha256"]
        else:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
        state[doc_id] = {"sha256": sha, "size": st.st_size, "mtime": st.st_mtime_ns, "meta": entry_hash(catalog.get(doc_id))}
    return state, problems


def known_files(manifest: dict | None) -> dict[str, dict]:
    """Every corpus file the manifest accounts for, indexed or skipped: {sha256, size, mtime, meta}.

    Skipped files (binary, empty, scanned PDFs) count as known, so an unchanged corpus with an
    unreadable file is up to date instead of being rebuilt on every start. A scan skipped because
    OCR was missing counts as changed once OCR is installed, so it is read again.
    """
    manifest = manifest or {}
    retry = _ocr_now_available(manifest)
    skipped = {k: {f: v.get(f) for f in ("sha256", "size", "mtime", "meta")}
               for k, v in manifest.get("skipped", {}).items() if not (retry and v.get("needs") == "ocr")}
    return {**manifest.get("documents", {}), **skipped}


def _ocr_now_available(manifest: dict) -> bool:
    if not any(v.get("needs") == "ocr" for v in manifest.get("skipped", {}).values()):
        return False
    from rag import ocr

    return ocr.available()


def changed_ids(state: dict[str, dict], old: dict[str, dict]) -> tuple[list[str], list[str], list[str]]:
    """(added, changed, removed) document ids between two corpus states."""
    added = sorted(set(state) - set(old))
    removed = sorted(set(old) - set(state))
    changed = sorted(d for d in set(state) & set(old) if not _same(state[d], old[d]))
    return added, changed, removed


def _same(info: dict, old: dict) -> bool:
    """Same file content and same catalog entry."""
    return (info["sha256"], info.get("meta")) == (old.get("sha256"), old.get("meta"))


def check_embedding(manifest: dict, embedder: Embedder) -> None:
    """Refuse an index of another model: re-embedding it must be asked for (--rebuild).

    Another backend of the same model is not refused: ``staleness`` reports it and an update
    re-embeds the index (see ``model_identity``)."""
    stored, wanted = manifest.get("embedding", {}), embedder_key(embedder)
    if model_identity(stored) != model_identity(wanted):
        raise EmbeddingMismatch(
            f"the index was built with {stored.get('backend')}:{stored.get('model')} (dim {stored.get('dim')}) "
            f"but the configured model is {wanted['backend']}:{wanted['model']} (dim {wanted['dim']}); vectors from "
            "different models cannot be mixed. Run `rag index --rebuild` to re-embed with the configured model, "
            "or set RAG_EMBEDDING_BACKEND/RAG_EMBEDDING_MODEL back."
        )


def staleness(settings: Settings, manifest: dict, embedder: Embedder | None = None) -> str | None:
    """Why the index no longer matches the corpus, settings and embedder, or None when it does."""
    if manifest.get("format_version") != FORMAT_VERSION:
        return (f"it is in the index format {manifest.get('format_version')} of an earlier version; it is converted "
                f"to format {FORMAT_VERSION}, reusing its vectors")
    if manifest.get("settings") != settings_fingerprint(settings):
        return "chunking settings or the cleaner changed"
    backend = _backend_change(manifest, embedder)
    if backend:
        return backend
    if "sentences" not in manifest:
        return "it has no sentence vectors for answer scoring: built by an earlier version"
    if Path(manifest.get("corpus_dir", "")) != settings.corpus_dir.resolve():
        return f"it was built from {manifest.get('corpus_dir')}, not {settings.corpus_dir.resolve()}"
    state, _ = corpus_state(Sources.from_settings(settings), manifest)
    added, changed, removed = changed_ids(state, known_files(manifest))
    parts = [f"{len(x)} {w}" for x, w in ((added, "added"), (changed, "changed"), (removed, "removed")) if x]
    if parts:
        return "documents " + ", ".join(parts)
    if manifest.get("gazetteer") != MINER_VERSION:  # refreshed without re-embedding anything
        return "the place and organisation names are missing or were mined by an older version"
    return None


def _complete(manifest: dict) -> bool:
    """The version holds everything a build now writes (current format and names, sentence vectors)."""
    return (manifest.get("format_version") == FORMAT_VERSION and manifest.get("gazetteer") == MINER_VERSION
            and "sentences" in manifest)


def _backend_change(manifest: dict | None, embedder: Embedder | None) -> str | None:
    """Why the index must be re-embedded although its model is the configured one, or None."""
    if not manifest or embedder is None or manifest.get("embedding") == embedder_key(embedder):
        return None
    return (f"it was embedded through the {manifest.get('embedding', {}).get('backend')} backend, "
            f"the configured one is {embedder.backend}")


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build_index(settings: Settings, embedder: Embedder, rebuild: bool = False, progress: bool | None = None,
                log: Callable[[str], None] | None = None, on_progress: ProgressFn | None = None,
                stage: FreshStage | None = None) -> BuildReport:
    """Build or update the index; only added or changed documents are re-chunked and re-embedded
    (here, or by ``stage``).

    ``on_progress(phase, done, total)`` follows the work ("reading" documents, "embedding"
    passages, "writing") for a progress bar other than the terminal's.

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
        return _build_locked(settings, embedder, rebuild, progress, log, on_progress, stage)


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
                  log: Callable[[str], None], on_progress: ProgressFn | None,
                  stage: FreshStage | None = None) -> BuildReport:
    t0 = time.perf_counter()
    index_dir = settings.resolved_index_dir()
    sources = Sources.from_settings(settings)
    report = BuildReport(index_path=str(index_dir))
    previous = None if rebuild else _previous_store(index_dir, embedder, log)
    prev_manifest = previous.manifest if previous else None
    if prev_manifest and prev_manifest.get("settings") != settings_fingerprint(settings):
        prev_manifest, previous = None, None  # chunking changed: re-chunk all (the cache still saves embedding)
    if prev_manifest and Path(prev_manifest.get("corpus_dir", "")) != settings.corpus_dir.resolve():
        prev_manifest, previous = None, None
    if _backend_change(prev_manifest, embedder):
        log(f"Re-embedding every chunk: {_backend_change(prev_manifest, embedder)}.")
        prev_manifest, previous = None, None  # its vectors come from another engine: none is reused
    state, conflicts = corpus_state(sources, prev_manifest)
    old_docs = known_files(prev_manifest)
    if prev_manifest and state == old_docs and not rebuild and _complete(prev_manifest):
        report.documents = len(previous.documents)
        report.chunks = len(previous.chunks)
        report.problems, report.version = conflicts, previous.path.name
        report.up_to_date, report.seconds = True, time.perf_counter() - t0
        return report

    kept, fresh_docs, skipped = _read_documents(sources, state, previous, old_docs, report, on_progress, stage)
    report.removed = sorted(d for d in old_docs if d not in state)
    if not kept and not fresh_docs:
        raise IndexError_("no document in the corpus could be read:\n"
                          + "\n".join(f"  {doc}: {info['reason']}" for doc, info in sorted(skipped.items())))
    new = new_rows(settings, embedder, fresh_docs, report, progress, on_progress, stage)
    readable = set(kept) | {d.doc_id for d in fresh_docs}
    manifest = _manifest(settings, sources, embedder, state, readable, report, skipped, conflicts, prev_manifest)
    if on_progress:
        on_progress("writing", 0, 1)
    names = {**kept_names(previous, kept), **mine_corpus(fresh_docs)}  # places and organisations per document
    write = append_rows if can_append(previous, kept, len(new[0])) else write_all
    path = write(settings, embedder, previous, kept, fresh_docs, new, manifest, names, report, log, on_progress)
    report.problems += conflicts
    report.documents, report.index_path, report.version = len(readable), str(path), path.name
    report.seconds = time.perf_counter() - t0
    return report


def _manifest(settings: Settings, sources: Sources, embedder: Embedder, state: dict, readable: set[str],
              report: BuildReport, skipped: dict, conflicts, prev_manifest: dict | None) -> dict:
    now = time.time()
    old_times = (prev_manifest or {}).get("indexed_at", {})
    return {
        "format_version": FORMAT_VERSION,
        "created_at": now,
        "corpus_dir": str(settings.corpus_dir.resolve()),
        "user_corpus_dir": str(sources.user.resolve()),
        "embedding": embedder_key(embedder),
        "settings": settings_fingerprint(settings),
        "documents": {k: v for k, v in state.items() if k in readable},
        # when each document's current version was indexed (kept documents keep their time)
        "indexed_at": {d: (now if d in report.changed else old_times.get(d, now)) for d in sorted(readable)},
        # unreadable files with their hash and reason: retried only when they change (or on --rebuild)
        "skipped": skipped,
        "conflicts": {p.path: p.reason for p in conflicts},
        "gazetteer": MINER_VERSION,  # the rules the stored names were mined by
    }


def _read_documents(sources: Sources, state: dict, previous, old_docs: dict, report: BuildReport,
                    on_progress: ProgressFn | None,
                    stage: FreshStage | None = None) -> tuple[list[str], list[Document], dict[str, dict]]:
    """(ids of the documents kept from the previous index, documents read now, skipped files with
    reasons). Kept documents are not read: their rows stay where they are."""
    old_skipped = previous.manifest.get("skipped", {}) if previous else {}
    retry_ocr = previous is not None and _ocr_now_available(previous.manifest)
    files, catalog = sources.files()[0], sources.catalog()
    kept, todo, skipped = [], [], {}
    for doc_id, info in state.items():
        old_skip = old_skipped.get(doc_id)
        if old_skip and old_skip.get("sha256") == info["sha256"] and not (retry_ocr and old_skip.get("needs") == "ocr"):
            skipped[doc_id] = {**info, **{k: old_skip[k] for k in ("reason", "needs") if k in old_skip}}  # not retried
            continue
        old = old_docs.get(doc_id)
        if previous and old and doc_id in previous.documents and _same(info, old):
            kept.append(doc_id)
            continue
        todo.append(doc_id)
    fresh = []
    read = _reader(stage, {d: files[d] for d in todo}, sources.base, catalog)
    for n, doc_id in enumerate(todo):
        if on_progress:
            on_progress("reading", n, len(todo))
        try:
            fresh.append(read(doc_id))
            report.changed.append(doc_id)
        except DocumentError as exc:
            report.problems.append(CorpusProblem(doc_id, str(exc)))
            skipped[doc_id] = {**state[doc_id], "reason": str(exc), **({"needs": "ocr"} if isinstance(exc, NeedsOcr) else {})}
        except OSError as exc:
            report.problems.append(CorpusProblem(doc_id, f"cannot read: {exc}"))
            skipped[doc_id] = {**state[doc_id], "reason": f"cannot read: {exc}"}
    return kept, fresh, skipped


def _reader(stage: FreshStage | None, files: dict[str, Path], base: Path, catalog: dict) -> Callable[[str], Document]:
    """doc_id -> its Document, raising what reading it raised: here one at a time, or from the
    stage that read them all at once."""
    if stage is None or not files:
        return lambda doc_id: load_document(files[doc_id], base, catalog, doc_id=doc_id)
    results = stage.read(files, base, catalog)

    def read(doc_id: str) -> Document:
        if isinstance(results[doc_id], Exception):
            raise results[doc_id]
        return results[doc_id]

    return read


def _previous_store(index_dir: Path, embedder: Embedder, log: Callable[[str], None]):
    """The live version to update (an IndexStore, or a LegacyStore of format 1 to convert), or None."""
    try:
        manifest = read_manifest(index_dir)
    except IndexCorrupt as exc:
        log(f"The previous index is unreadable ({exc}); building a new one from scratch.")
        return None
    if manifest is None:
        return None
    check_embedding(manifest, embedder)  # refuse to mix models: the user must ask for --rebuild
    try:
        if is_legacy(manifest):
            log(f"Converting the index in {index_dir} from format {manifest['format_version']} (an earlier version's) "
                f"to format {FORMAT_VERSION}; its vectors are reused, nothing is re-embedded.")
            return load_legacy(index_dir)
        return load_store(index_dir)
    except IndexError_ as exc:
        log(f"The previous index is unusable ({exc}); building a new one from scratch.")
        return None


