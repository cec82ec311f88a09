"""`rag index --ray`: a real local Ray instance builds the same index as one process does.

The two builds use separate embedding caches, so every vector of the Ray-built index was
embedded by the Ray actors (the driver's embedder refuses to embed), not taken from the
cache the single-process build filled.
"""
import importlib.util
import json
import sys

import numpy as np
import pytest

from index.builder import build_index
from index.store import load_store, read_vectors
from rag.embeddings import load_embedder
from rag.settings import get_settings

HAVE_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed (optional extra: pip install -e '.[ray]')")

DOCS = {
    "gansu.txt": "一、总体要求\n到2030年底，森林覆盖率提高至12.7%，森林蓄积量提高至3.3亿立方米。草原综合植被盖度达到53.5%。\n"
                 "二、重点任务\n探索建设零碳园区、零碳工厂，主动参与全国碳排放权交易。",
    "guangxi.md": "# 广西生态环境保护\n到2027年，广西地表水水质优良比例保持在95%以上。推进生态环境分区管控。\n"
                  "## 大气\n全区空气质量优良天数比率达到93%以上。",
    "jiangxi.txt": "江西省美丽江西建设规划\n江西省森林覆盖率保持全国第二位。全省空气优良天数比率达到93.9%。" * 3,
}


class RefusingEmbedder:
    """The driver's embedder in the Ray build: names the vectors (the manifest's model, the
    cache's space) but never embeds, so every vector must come from the Ray actors."""

    def __init__(self, real):
        self._real = real
        self.backend, self.model, self.dim = real.backend, real.model, real.dim
        self.query_prompt, self.passage_prompt = real.query_prompt, real.passage_prompt

    def embed_queries(self, texts):
        raise AssertionError("the driver embedded queries during a Ray build")

    def embed_passages(self, texts):
        raise AssertionError("the driver embedded passages during a Ray build")


def _settings(tmp_path, name):
    corpus = tmp_path / "corpus"
    if not corpus.exists():
        corpus.mkdir()
        for file, text in DOCS.items():
            (corpus / file).write_text(text, encoding="utf-8")
    return get_settings(corpus_dir=corpus, index_dir=tmp_path / f"index-{name}", cache_dir=tmp_path / f"cache-{name}",
                        user_corpus_dir=tmp_path / "user", chunk_size=64, chunk_overlap=16)


def _assert_same_index(a, b):
    """Same chunks (ids, text, metadata) in the same order, same BM25 tokens, documents and
    names; vectors, passage and sentence, within 1e-5."""
    assert [c.to_dict() for c in b.chunks] == [c.to_dict() for c in a.chunks]
    tokens = lambda store: store.export(sorted(store.documents))[2]  # noqa: E731 (read whole, as compaction does)
    assert tokens(b) == tokens(a)
    assert dict(b.documents.items()) == dict(a.documents.items())
    assert {k: v.to_dict() for k, v in b.names.items()} == {k: v.to_dict() for k, v in a.names.items()}
    np.testing.assert_allclose(read_vectors(b), read_vectors(a), rtol=0, atol=1e-5)
    for key in ("counts", "spans"):
        assert np.array_equal(b.sentences[key], a.sentences[key])
    np.testing.assert_allclose(b.sentences["vectors"], a.sentences["vectors"], rtol=0, atol=1e-5)
    same = {"format_version", "corpus_dir", "embedding", "settings", "documents", "skipped", "n_chunks", "gazetteer",
            "faiss", "sentences"}
    assert {k: b.manifest.get(k) for k in same} == {k: a.manifest.get(k) for k in same}


@needs_ray
@pytest.mark.slow
def test_ray_build_gives_the_single_process_index(tmp_path):
    from index.ray_build import build_index_ray
    from rag.service import RagService

    local = _settings(tmp_path, "local")
    single = build_index(local, load_embedder(local), progress=False)
    distributed = _settings(tmp_path, "ray")
    report = build_index_ray(distributed, progress=False, log=lambda m: None,
                             embedder=RefusingEmbedder(load_embedder(distributed)))
    assert report.chunks == single.chunks > 3 and report.documents == 3
    assert report.embedded >= single.embedded > 0 and report.sentences_embedded >= single.sentences_embedded > 0
    a, b = load_store(local.resolved_index_dir()), load_store(distributed.resolved_index_dir())
    assert len(a.chunks) > 3 and len({c.doc_id for c in a.chunks}) == 3
    _assert_same_index(a, b)

    again = build_index_ray(distributed, progress=False, log=lambda m: None)
    assert again.up_to_date  # nothing changed: Ray is not even started

    answer = RagService.open(distributed, update=False, log=lambda m: None).ask("甘肃省2030年森林覆盖率目标是多少？")
    assert not answer.refused and "12.7%" in answer.text
    assert answer.citations and answer.citations[0].chunk.doc_id == "gansu.txt"


def test_ray_missing_says_how_to_install(tmp_path, monkeypatch, capsys):
    from rag.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    settings = _settings(tmp_path, "none")
    code = main(["index", "--ray", "--corpus", str(settings.corpus_dir), "--index-dir", str(settings.index_dir)])
    err = capsys.readouterr().err
    assert code == 2 and "pip install -e '.[ray]'" in err and "setup.sh --with-ray" in err
    assert not (settings.index_dir / "CURRENT").exists()


def test_vectors_of_another_model_from_a_worker_are_refused():
    """A node with another model (package version, folder) must not mix its vectors in."""
    from index.ray_build import _check_embedder
    from index.store import EmbeddingMismatch
    from rag.embeddings import embedder_key

    embedder = load_embedder(get_settings())
    same = json.dumps(embedder_key(embedder), sort_keys=True)
    _check_embedder(np.array([same, same], dtype=object), embedder)
    other = json.dumps({**embedder_key(embedder), "model": "another-model"}, sort_keys=True)
    with pytest.raises(EmbeddingMismatch, match="another-model"):
        _check_embedder(np.array([same, other], dtype=object), embedder)


def test_index_help_explains_ray(capsys):
    from rag.cli import main

    with pytest.raises(SystemExit):
        main(["index", "--help"])
    out = capsys.readouterr().out
    assert "--ray [ADDRESS]" in out and "ray://HOST:10001" in out and "RAG_RAY_ADDRESS" in out
