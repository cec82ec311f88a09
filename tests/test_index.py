"""Index building: incremental updates, the embedding cache, staleness, atomic writes, refusals."""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.tiny import DOCS, tiny  # noqa: F401 (a fixture)
from index.builder import build_index, staleness
from index.store import (EmbeddingMismatch, IndexCorrupt, IndexMissing, IndexStale, current_version, load_store,
                         read_manifest, read_vectors)
from rag.service import RagService


def test_incremental_update_reembeds_only_the_changed_document(tiny):
    settings, embedder = tiny
    first = build_index(settings, embedder, progress=False)
    assert first.documents == 3 and first.embedded == first.chunks > 0

    again = build_index(settings, embedder, progress=False)
    assert again.up_to_date and again.embedded == 0

    gansu = settings.corpus_dir / "gansu.txt"
    os.utime(gansu, None)  # touched, same content: nothing to embed
    assert build_index(settings, embedder, progress=False).embedded == 0

    gansu.write_text(DOCS["gansu.txt"] + "湿地保护率达到54.35%。", encoding="utf-8")
    changed = build_index(settings, embedder, progress=False)
    assert changed.changed == ["gansu.txt"]
    assert 0 < changed.embedded <= sum(1 for c in load_store(settings.index_dir).chunks if c.doc_id == "gansu.txt")

    (settings.corpus_dir / "jiangxi.md").unlink()
    removed = build_index(settings, embedder, progress=False)
    assert removed.removed == ["jiangxi.md"] and removed.embedded == 0
    store = load_store(settings.index_dir)
    assert {c.doc_id for c in store.chunks} == {"gansu.txt", "guangxi.txt"}
    assert len(read_vectors(store)) == len(store.chunks) == report_chunks(settings)


def test_rebuild_uses_the_embedding_cache(tiny):
    settings, embedder = tiny
    build_index(settings, embedder, progress=False)
    shutil.rmtree(settings.index_dir)
    report = build_index(settings, embedder, progress=False)
    assert report.embedded == 0 and report.reused == report.chunks


def test_staleness_is_detected_and_explained(tiny):
    settings, embedder = tiny
    build_index(settings, embedder, progress=False)
    manifest = read_manifest(settings.index_dir)
    assert staleness(settings, manifest) is None
    (settings.corpus_dir / "new.txt").write_text("上海市培育50家绿色供应链链主企业。", encoding="utf-8")
    assert "1 added" in staleness(settings, manifest)
    assert "chunking" in staleness(settings.model_copy(update={"chunk_size": 128}), manifest)
    with pytest.raises(Exception, match="stale"):
        RagService.open(settings, update=False)


def test_missing_index_is_reported(tiny):
    settings, _ = tiny
    with pytest.raises(IndexMissing, match="rag index"):
        load_store(settings.index_dir)


def test_corrupt_index_is_reported(tiny):
    settings, embedder = tiny
    build_index(settings, embedder, progress=False)
    store = load_store(settings.index_dir)
    faiss_file = store.generation / store.manifest["store"]["segments"][0]["name"]
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])  # truncated
    with pytest.raises(IndexCorrupt, match="rag index --rebuild"):
        load_store(settings.index_dir)


def test_interrupted_build_leaves_previous_index_usable(tiny, monkeypatch):
    settings, embedder = tiny
    build_index(settings, embedder, progress=False)
    before = current_version(settings.index_dir)
    (settings.corpus_dir / "gansu.txt").write_text("森林覆盖率提高至13%。", encoding="utf-8")

    import index.writer as writer_module

    chunks_before = len(load_store(settings.index_dir).chunks)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C while the version was written

    with monkeypatch.context() as patched:
        patched.setattr(writer_module, "save_bm25", crash)
        with pytest.raises(KeyboardInterrupt):
            build_index(settings, embedder, progress=False)
    assert current_version(settings.index_dir) == before
    assert len(load_store(settings.index_dir).chunks) == chunks_before  # the rows it appended are not counted
    assert not list(Path(settings.index_dir).glob(".building-*"))
    again = build_index(settings, embedder, progress=False)  # starts from the live version's rows
    store = load_store(settings.index_dir)
    assert again.changed == ["gansu.txt"] and len(store.chunks) == again.chunks
    assert any("13%" in c.text for c in store.chunks)


def test_another_embedding_model_is_refused(tiny):
    settings, embedder = tiny
    build_index(settings, embedder, progress=False)

    class OtherModel:
        backend, model, dim = "sentence-transformers", "BAAI/bge-m3", 1024
        query_prompt = passage_prompt = ""

    with pytest.raises(EmbeddingMismatch, match="rag index --rebuild"):
        build_index(settings, OtherModel(), progress=False)


def test_unreadable_file_is_skipped_and_named(tiny):
    settings, embedder = tiny
    (settings.corpus_dir / "broken.txt").write_bytes(b"\x00\x01" * 64)
    report = build_index(settings, embedder, progress=False)
    assert report.documents == 3
    assert [p.path for p in report.problems] == ["broken.txt"]
    assert "Skipped broken.txt" in report.summary()


def test_sentence_vectors_are_built_with_the_index_and_opening_never_embeds(tiny, monkeypatch):
    """The answer scorer's sentence vectors are stored with the index: an update embeds only the
    sentences of changed documents (the others come from the previous version, even without the
    embedding cache), and opening an up-to-date index embeds no passage at all."""
    from rag.answer.sentences import SentenceVectors

    settings, embedder = tiny
    first = build_index(settings, embedder, progress=False)
    store = load_store(settings.index_dir)
    assert first.sentences_embedded > 0 and store.manifest["sentences"] == len(store.sentences["vectors"])
    fresh = SentenceVectors.build(store.chunks, embedder)
    stored = SentenceVectors.from_arrays(store.chunks, store.sentences)
    for chunk in store.chunks:
        (spans, got), (want_spans, want) = stored.get(chunk), fresh.get(chunk)
        assert spans == want_spans and np.allclose(got, want, atol=1e-5)

    (settings.cache_dir / "embeddings.sqlite").unlink()  # only the previous version can supply them
    (settings.corpus_dir / "guangxi.txt").write_text(DOCS["guangxi.txt"] + "新增湿地公园。", encoding="utf-8")
    changed = build_index(settings, embedder, progress=False)
    guangxi = [c for c in load_store(settings.index_dir).chunks if c.doc_id == "guangxi.txt"]
    assert changed.changed == ["guangxi.txt"]
    assert changed.sentences_embedded == len({t for c in guangxi for t in _sentence_texts(c)})

    def no_passages(texts):
        raise AssertionError(f"opening the index embedded {len(texts)} passages")

    monkeypatch.setattr(embedder, "embed_passages", no_passages)
    service = RagService.open(settings, log=lambda m: None)
    assert "12.7%" in service.ask("甘肃省2030年森林覆盖率目标是多少？").text


def test_an_index_without_sentence_vectors_is_updated(tiny):
    """Indexes built before sentence vectors were stored are stale, not broken."""
    import json

    settings, embedder = tiny
    build_index(settings, embedder, progress=False)
    version = current_version(settings.index_dir)
    manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    del manifest["sentences"]
    (version / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert "sentence vectors" in staleness(settings, read_manifest(settings.index_dir), embedder)
    with pytest.raises(IndexStale, match="rag index"):
        RagService.open(settings, update=False, log=lambda m: None)
    said = []
    service = RagService.open(settings, log=said.append)
    assert any("sentence vectors" in m for m in said) and service.store.sentences is not None
    assert "12.7%" in service.ask("甘肃省2030年森林覆盖率目标是多少？").text


def report_chunks(settings) -> int:
    return read_manifest(settings.index_dir)["n_chunks"]


def _sentence_texts(chunk):
    from rag.answer.sentences import sentence_text
    from rag.text import sentence_spans

    return [sentence_text(chunk, s, e) for s, e in sentence_spans(chunk.text)]
