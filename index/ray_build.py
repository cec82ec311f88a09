"""`rag index --ray`: reading, chunking and embedding new documents as a Ray Data pipeline.

Why: embedding is nearly all of an index build (one core embeds a few passages a second), and
it parallelises perfectly, so past one machine it belongs on a cluster. Ray Data streams the
documents through reading and chunking tasks into a pool of actors, each holding the
configured embedder (``rag.embeddings.load_embedder``: the bundled weights, nothing is
downloaded), and hands the chunks and vectors back to this process. Everything else stays
in the normal builder (``index/builder.build_index`` with this module's ``RayStage``): what
changed since the last version, the sentence vectors, the place names, the BM25 tokens and
writing the version through the store code, so a Ray build gives the same index as a
single-process one (``tests/test_ray_build.py`` checks it).

Files travel as bytes, so the workers need no shared file system; each node needs the project
installed (``pip install -e '.[ray]'``), as the workers import ``rag``. The sentence vectors
of the answer scorer are embedded by the same actors and put into this machine's embedding
cache, where the builder's sentence step finds them; so do the passage vectors, so a later
update in one process reuses them. The cache is not consulted before embedding on the
cluster: every new passage is embedded there.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from rag.chunking import ChunkSettings, chunk_document
from rag.documents import DocumentError, load_document
from rag.embeddings import Embedder, EmbeddingCache, load_embedder
from rag.settings import Settings
from rag.types import Chunk, Document

from .builder import BuildReport, build_index
from .store import IndexError_

LOCAL = "local"  # the address that starts a Ray instance on this machine
LOCAL_CPUS = 2  # a local instance shares the machine with other work: two cores at most
LOCAL_OBJECT_STORE = 256 * 1024**2  # bytes; Ray spills to disk beyond it
INSTALL_HINT = "pip install -e '.[ray]' in the project folder (or: bash setup.sh --with-ray)"
ROWS_PER_EMBED_CALL = 16  # chunks per actor call; each brings its sentences too


class RayUnavailable(IndexError_):
    """Ray is not installed, or the cluster cannot be reached; the message says what to do."""


def import_ray():
    """The ray module, or a one-line error saying how to install the optional extra."""
    try:
        import ray
        import ray.data  # noqa: F401  (the [data] part of the extra)
    except ImportError as exc:
        raise RayUnavailable(f"`rag index --ray` needs Ray, an optional extra that is not installed ({exc}); "
                             f"install it with: {INSTALL_HINT}") from None
    return ray


def build_index_ray(settings: Settings, address: str | None = None, rebuild: bool = False,
                    progress: bool | None = None, log: Callable[[str], None] | None = None,
                    embedder: Embedder | None = None) -> BuildReport:
    """Build or update the index with new documents read, chunked and embedded on Ray.

    ``address``: a cluster (``ray://host:10001``, ``host:6379``) or ``local``; default the
    ``ray_address`` setting, else ``local``. Ray is started only when there is work for it."""
    import_ray()  # before anything else: a missing extra is said at once
    log = log or _stderr
    address = address or settings.ray_address or LOCAL
    embedder = embedder or load_embedder(settings)  # the driver's: its key names the vectors
    with RayStage(settings, embedder, address, progress, log) as stage:
        return build_index(settings, embedder, rebuild=rebuild, progress=progress, log=log, stage=stage)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class RayStage:
    """The builder's ``FreshStage`` on Ray: ``read`` runs the reading tasks and keeps their
    output in the object store, where ``chunks_and_vectors`` streams it on through chunking
    and the embedding actors."""

    def __init__(self, settings: Settings, embedder: Embedder, address: str, progress: bool | None,
                 log: Callable[[str], None]):
        self.settings, self.embedder, self.address, self.log = settings, embedder, address, log
        self.progress = sys.stderr.isatty() if progress is None else progress
        self._ray, self._started, self._read = None, False, None

    def __enter__(self) -> "RayStage":
        return self

    def __exit__(self, *exc) -> None:
        if self._started:
            self._ray.shutdown()

    def read(self, files: dict[str, Path], base: Path, catalog: dict) -> dict[str, Document | Exception]:
        rows, failed = _file_rows(files, catalog)
        if not rows:
            return failed
        ray = self._connect()
        blocks = min(len(rows), 4 * _cluster_cpus(ray))
        self._read = ray.data.from_items(rows, override_num_blocks=blocks).map(read_row).materialize()
        return {**failed, **{r["doc_id"]: pickle.loads(r["result"]) for r in self._read.iter_rows()}}

    def chunks_and_vectors(self, documents: list[Document]) -> tuple[list[Chunk], np.ndarray, int]:
        ray = self._connect()
        pipeline = self._read.flat_map(chunk_rows, fn_kwargs={"size": self.settings.chunk_size,
                                                              "overlap": self.settings.chunk_overlap})
        pipeline = pipeline.map_batches(
            PassageEmbedder, fn_constructor_args=(self.settings,), batch_size=ROWS_PER_EMBED_CALL,
            batch_format="numpy", num_cpus=1, compute=ray.data.ActorPoolStrategy(min_size=1, max_size=self._actors(ray)))
        chunks, vectors, embedded = _collect(pipeline, self.settings, self.embedder)
        expected = {d.doc_id for d in documents}
        if {c.doc_id for c in chunks} - expected:
            raise RuntimeError("the Ray pipeline returned chunks of documents the builder did not ask for")
        return chunks, vectors, embedded

    def _actors(self, ray) -> int:
        """Embedding actors: the setting, else one per CPU but one, left for reading and chunking."""
        return self.settings.ray_actors or max(1, _cluster_cpus(ray) - 1)

    def _connect(self):
        """Join the cluster (or start a local instance) once, on first use: an up-to-date index
        never starts Ray."""
        if self._ray is not None:
            return self._ray
        ray = import_ray()
        if not ray.is_initialized():
            self._init(ray)
            self._started = True
        ray.data.DataContext.get_current().enable_progress_bars = self.progress
        # Ray Data's plan and timing lines (INFO) are for Ray's users; ours see the build report
        logging.getLogger("ray.data").setLevel(logging.WARNING if self.progress else logging.ERROR)
        self._ray = ray
        return ray

    def _init(self, ray) -> None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        quiet = {"logging_level": logging.WARNING, "include_dashboard": False}
        try:
            if self.address == LOCAL:
                self.log(f"Starting a local Ray instance ({LOCAL_CPUS} CPUs) …")
                ray.init(address=LOCAL, num_cpus=min(LOCAL_CPUS, os.cpu_count() or 1),
                         object_store_memory=LOCAL_OBJECT_STORE, **quiet)
            else:
                self.log(f"Connecting to the Ray cluster at {self.address} …")
                ray.init(address=self.address, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayUnavailable(f"cannot use the Ray cluster at {self.address} ({type(exc).__name__}: "
                                 f"{str(exc)[:200]}); start it with `ray start --head`, or check the address "
                                 "(ray://HOST:10001 or HOST:6379)") from None


def _cluster_cpus(ray) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _file_rows(files: dict[str, Path], catalog: dict) -> tuple[list[dict], dict[str, Exception]]:
    """One row per file with its bytes (workers need no shared file system) and catalog entry;
    files this machine cannot read fail here, as in a local build."""
    rows, failed = [], {}
    for doc_id, path in sorted(files.items()):
        try:
            data = path.read_bytes()
        except OSError as exc:
            failed[doc_id] = exc
            continue
        entry = {doc_id: catalog[doc_id]} if doc_id in catalog else {}
        rows.append({"doc_id": doc_id, "name": path.name, "source_path": str(path), "data": data,
                     "catalog": json.dumps(entry, ensure_ascii=False)})
    return rows, failed


# --------------------------------------------------------------------- on the workers
def read_row(row: dict) -> dict:
    """A file's bytes -> its Document (or the reading error), pickled: the file is written under
    its own name in a temporary folder, so titles and messages are those of a local build."""
    with tempfile.TemporaryDirectory(prefix="rag-ray-") as tmp:
        path = Path(tmp) / row["name"]
        path.write_bytes(row["data"])
        try:
            doc = load_document(path, Path(tmp), json.loads(row["catalog"]), doc_id=row["doc_id"])
            result = dataclasses.replace(doc, source_path=row["source_path"])
        except (DocumentError, OSError) as exc:
            result = exc
    return {"doc_id": row["doc_id"], "result": pickle.dumps(result)}


def chunk_rows(row: dict, size: int, overlap: int) -> list[dict]:
    """A read document -> one row per chunk, with the passage text and the sentence texts
    (``rag.answer.sentences``) its vectors are made from."""
    from rag.answer.sentences import sentence_text
    from rag.text import sentence_spans

    doc = pickle.loads(row["result"])
    if isinstance(doc, Exception):
        return []
    return [{"chunk": json.dumps(c.to_dict(), ensure_ascii=False), "passage": c.context_text(),
             "sentences": json.dumps([sentence_text(c, s, e) for s, e in sentence_spans(c.text)], ensure_ascii=False)}
            for c in chunk_document(doc, ChunkSettings(size, overlap))]


class PassageEmbedder:
    """An actor of the pool: loads the configured embedder once, then embeds the passage and
    the sentences of each chunk it is given."""

    def __init__(self, settings: Settings):
        os.environ.setdefault("OMP_WAIT_POLICY", "passive")
        self.embedder = load_embedder(settings)
        self.batch_size = settings.embedding_batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        passages = [str(p) for p in batch["passage"]]
        sentences = [json.loads(s) for s in batch["sentences"]]
        vectors, first = embed_distinct(self.embedder, passages + [t for ss in sentences for t in ss], self.batch_size)
        rows, offset = [], len(passages)
        for ss in sentences:
            rows.append(vectors[offset : offset + len(ss)].tobytes())
            offset += len(ss)
        return {"chunk": batch["chunk"], "sentences": batch["sentences"], "vector": vectors[: len(passages)],
                "sentence_vectors": np.array(rows, dtype=object),
                "new": np.array(first[: len(passages)], dtype=np.int32)}


def embed_distinct(embedder: Embedder, texts: list[str], batch_size: int) -> tuple[np.ndarray, list[bool]]:
    """Passage vectors of texts, each distinct text embedded once, shortest first in batches of
    ``batch_size`` (as the embedding cache does: similar lengths pad little), and for each text
    whether it was the first of its kind."""
    unique = list(dict.fromkeys(texts))
    order = sorted(unique, key=len)
    found = {}
    for i in range(0, len(order), batch_size):
        part = order[i : i + batch_size]
        found.update(zip(part, embedder.embed_passages(part)))
    seen, first = set(), []
    for t in texts:
        first.append(t not in seen)
        seen.add(t)
    vectors = np.stack([found[t] for t in texts]).astype(np.float32) if texts else np.zeros((0, embedder.dim), np.float32)
    return vectors, first


# --------------------------------------------------------------------- back on the driver
def _collect(pipeline, settings: Settings, embedder: Embedder) -> tuple[list[Chunk], np.ndarray, int]:
    """Run the pipeline, streaming its rows in: (chunks, their vectors, distinct passages embedded).
    Every vector also goes into this machine's embedding cache, where the builder's sentence
    step takes the sentence vectors from."""
    chunks, vectors, embedded = [], [], 0
    cache = EmbeddingCache(settings.cache_dir / "embeddings.sqlite", embedder)
    try:
        for batch in pipeline.iter_batches(batch_size=None, batch_format="numpy"):
            batch_chunks, batch_vectors = _unpack(batch, cache, embedder.dim)
            chunks += batch_chunks
            vectors.append(batch_vectors)
            embedded += int(batch["new"].sum())
    finally:
        cache.close()
    stacked = np.vstack(vectors) if vectors else np.zeros((0, embedder.dim), np.float32)
    return chunks, stacked.astype(np.float32), embedded


def _unpack(batch: dict[str, np.ndarray], cache: EmbeddingCache, dim: int) -> tuple[list[Chunk], np.ndarray]:
    chunks = [Chunk.from_dict(json.loads(c)) for c in batch["chunk"]]
    vectors = np.asarray(batch["vector"], np.float32).reshape(len(chunks), dim)
    items = {cache.text_hash(c.context_text()): v for c, v in zip(chunks, vectors)}
    for texts, blob in zip(batch["sentences"], batch["sentence_vectors"]):
        rows = np.frombuffer(blob, np.float32).reshape(-1, dim)
        items.update({cache.text_hash(t): v for t, v in zip(json.loads(texts), rows)})
    cache.put_many(items)
    return chunks, vectors
