"""`rag index --ray`: reading, chunking and embedding new documents as a Ray Data pipeline.

Why: embedding is nearly all of an index build (one core embeds a few passages a second), and
it parallelises perfectly, so past one machine it belongs on a cluster. Ray Data streams the
documents through reading and chunking tasks into a pool of actors, each holding the
configured embedder (``rag.embeddings.load_embedder``: the bundled weights, nothing is
downloaded), and hands the chunks and vectors back to this process (through a coordinating
actor in the cluster, so that a Ray Client ``ray://`` connection works too). Everything else stays
in the normal builder (``index/builder.build_index`` with this module's ``RayStage``): what
changed since the last version, the sentence vectors, the place names, the BM25 tokens and
writing the version through the store code, so a Ray build gives the same index as a
single-process one (``tests/test_ray_build.py`` checks it).

Files travel as bytes, so the workers need no shared file system. Each node needs the
project's dependencies installed (``pip install -e '.[ray]'``); the project's own code goes
with the job to a remote cluster. The sentence vectors
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
from rag.embeddings import Embedder, EmbeddingCache, embedder_key, load_embedder
from rag.settings import Settings
from rag.types import Chunk, Document

from .builder import BuildReport, build_index
from .store import EmbeddingMismatch, IndexError_

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
        report = build_index(settings, embedder, rebuild=rebuild, progress=progress, log=log, stage=stage)
    report.sentences_embedded += stage.sentences_embedded
    return report


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class RayStage:
    """The builder's ``FreshStage`` on Ray. The Ray Data pipeline runs in a ``Coordinator``
    actor on the cluster, because Ray Data needs a driver inside the cluster, which a Ray
    Client process (``ray://``) is not; this process sends it the files and streams the
    chunks and vectors back, one block at a time."""

    def __init__(self, settings: Settings, embedder: Embedder, address: str, progress: bool | None,
                 log: Callable[[str], None]):
        self.settings, self.embedder, self.address, self.log = settings, embedder, address, log
        self.progress = sys.stderr.isatty() if progress is None else progress
        self._ray, self._started, self._coordinator = None, False, None
        self.sentences_embedded = 0  # by the actors; the builder finds them in the cache

    def __enter__(self) -> "RayStage":
        return self

    def __exit__(self, *exc) -> None:
        if self._coordinator is not None:
            self._ray.kill(self._coordinator)
        if self._started:
            self._ray.shutdown()

    def read(self, files: dict[str, Path], base: Path, catalog: dict) -> dict[str, Document | Exception]:
        rows, failed = _file_rows(files, catalog)
        if not rows:
            return failed
        coordinator = self._connect()
        results = self._ray.get(coordinator.read.remote(rows))
        return {**failed, **{doc_id: pickle.loads(result) for doc_id, result in results.items()}}

    def chunks_and_vectors(self, documents: list[Document]) -> tuple[list[Chunk], np.ndarray, int]:
        coordinator = self._connect()
        self._ray.get(coordinator.start.remote(self.settings.ray_actors))
        chunks, vectors, embedded, self.sentences_embedded = _collect(_batches(self._ray, coordinator),
                                                                      self.settings, self.embedder)
        if {c.doc_id for c in chunks} - {d.doc_id for d in documents}:
            raise RuntimeError("the Ray pipeline returned chunks of documents the builder did not ask for")
        return chunks, vectors, embedded

    def _connect(self):
        """Join the cluster (or start a local instance) and place the coordinator, once, on
        first use: an up-to-date index never starts Ray."""
        if self._coordinator is not None:
            return self._coordinator
        ray = self._ray = import_ray()
        if not ray.is_initialized():
            self._init(ray)
            self._started = True
        self._coordinator = ray.remote(num_cpus=0)(Coordinator).remote(self.settings, self.progress)
        return self._coordinator

    def _init(self, ray) -> None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            if self.address == LOCAL:
                self.log(f"Starting a local Ray instance ({LOCAL_CPUS} CPUs) …")
                ray.init(address=LOCAL, num_cpus=min(LOCAL_CPUS, os.cpu_count() or 1), include_dashboard=False,
                         object_store_memory=LOCAL_OBJECT_STORE, logging_level=logging.WARNING)
            else:
                self.log(f"Connecting to the Ray cluster at {self.address} …")
                ray.init(address=self.address, logging_level=logging.WARNING, runtime_env=_own_code())
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayUnavailable(f"cannot use the Ray cluster at {self.address} ({type(exc).__name__}: "
                                 f"{str(exc)[:200]}); start it with `ray start --head`, or check the address "
                                 "(ray://HOST:10001 or HOST:6379)") from None


def _batches(ray, coordinator):
    """The pipeline's output blocks, fetched one at a time (the pipeline runs on meanwhile)."""
    while (batch := ray.get(coordinator.next.remote())) is not None:
        yield batch


class Coordinator:
    """Runs the Ray Data pipeline inside the cluster (as an actor taking no CPU): reading tasks
    first, their output kept in the object store, then chunking tasks streaming into the pool
    of embedding actors."""

    def __init__(self, settings: Settings, progress: bool):
        import ray

        self.ray, self.settings, self._read, self._blocks = ray, settings, None, None
        ray.data.DataContext.get_current().enable_progress_bars = progress
        # Ray Data's plan and timing lines (INFO) are for Ray's users; ours see the build report
        logging.getLogger("ray.data").setLevel(logging.WARNING if progress else logging.ERROR)

    def read(self, rows: list[dict]) -> dict[str, bytes]:
        """doc_id -> its pickled Document or reading error."""
        blocks = min(len(rows), 4 * _cluster_cpus(self.ray))
        self._read = self.ray.data.from_items(rows, override_num_blocks=blocks).map(read_row).materialize()
        return {r["doc_id"]: r["result"] for r in self._read.iter_rows()}

    def start(self, actors: int) -> None:
        """Chunk and embed what ``read`` read; ``actors`` 0: one per CPU but one, left for chunking."""
        pool = self.ray.data.ActorPoolStrategy(min_size=1, max_size=actors or max(1, _cluster_cpus(self.ray) - 1))
        pipeline = self._read.flat_map(chunk_rows, fn_kwargs={"size": self.settings.chunk_size,
                                                              "overlap": self.settings.chunk_overlap})
        pipeline = pipeline.map_batches(PassageEmbedder, fn_constructor_args=(self.settings,), compute=pool,
                                        batch_size=ROWS_PER_EMBED_CALL, batch_format="numpy", num_cpus=1)
        self._blocks = iter(pipeline.iter_batches(batch_size=None, batch_format="numpy"))

    def next(self) -> dict | None:
        """The next block of embedded chunks, or None when all are done."""
        return next(self._blocks, None)


def _own_code() -> dict:
    """The project's own packages go with the job, so every node runs this version of the
    pipeline (its dependencies must be installed there)."""
    import rag

    import index

    return {"py_modules": [str(Path(rag.__file__).parent), str(Path(index.__file__).parent)]}


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
        self.embedder = load_embedder(settings)
        self.batch_size = settings.embedding_batch_size
        self.key = json.dumps(embedder_key(self.embedder), sort_keys=True)  # checked by the driver

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        passages = [str(p) for p in batch["passage"]]
        sentences = [json.loads(s) for s in batch["sentences"]]
        vectors, first = embed_distinct(self.embedder, passages + [t for ss in sentences for t in ss], self.batch_size)
        rows, new_sentences, offset = [], [], len(passages)
        for ss in sentences:
            rows.append(vectors[offset : offset + len(ss)].tobytes())
            new_sentences.append(sum(first[offset : offset + len(ss)]))
            offset += len(ss)
        return {"chunk": batch["chunk"], "sentences": batch["sentences"], "vector": vectors[: len(passages)],
                "sentence_vectors": np.array(rows, dtype=object),
                "new": np.array(first[: len(passages)], dtype=np.int32), "new_sentences": np.array(new_sentences),
                "embedder": np.array([self.key] * len(passages), dtype=object)}


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
def _collect(batches, settings: Settings, embedder: Embedder) -> tuple[list[Chunk], np.ndarray, int, int]:
    """The pipeline's output blocks -> (chunks, their vectors, distinct passages and distinct
    sentences embedded). Every vector also goes into this machine's embedding cache,
    where the builder's sentence step takes the sentence vectors from."""
    chunks, vectors, embedded, sentences = [], [], 0, 0
    cache = EmbeddingCache(settings.cache_dir / "embeddings.sqlite", embedder)
    try:
        for batch in batches:
            batch_chunks, batch_vectors = _unpack(batch, cache, embedder)
            chunks += batch_chunks
            vectors.append(batch_vectors)
            embedded += int(batch["new"].sum())
            sentences += int(batch["new_sentences"].sum())
    finally:
        cache.close()
    stacked = np.vstack(vectors) if vectors else np.zeros((0, embedder.dim), np.float32)
    return chunks, stacked.astype(np.float32), embedded, sentences


def _unpack(batch: dict[str, np.ndarray], cache: EmbeddingCache, embedder: Embedder) -> tuple[list[Chunk], np.ndarray]:
    """A block's chunks and passage vectors; all its vectors go into the cache."""
    _check_embedder(batch["embedder"], embedder)
    dim = embedder.dim
    chunks = [Chunk.from_dict(json.loads(c)) for c in batch["chunk"]]
    vectors = np.asarray(batch["vector"], np.float32).reshape(len(chunks), dim)
    items = {cache.text_hash(c.context_text()): v for c, v in zip(chunks, vectors)}
    for texts, blob in zip(batch["sentences"], batch["sentence_vectors"]):
        rows = np.frombuffer(blob, np.float32).reshape(-1, dim)
        items.update({cache.text_hash(t): v for t, v in zip(json.loads(texts), rows)})
    cache.put_many(items)
    return chunks, vectors


def _check_embedder(keys: np.ndarray, embedder: Embedder) -> None:
    """Refuse vectors of another model: a node whose embedder differs (another package version,
    another folder behind the same model path) would mix vector spaces in one index."""
    wanted = json.dumps(embedder_key(embedder), sort_keys=True)
    other = {str(k) for k in keys} - {wanted}
    if other:
        raise EmbeddingMismatch(f"a Ray worker embedded with {other.pop()}, not this machine's {wanted}; install the "
                             "same project and model on every node")
