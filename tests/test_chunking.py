"""Chunking: sentence-aware packing within sections, sized in tokens."""
from rag.chunking import ChunkSettings, _units, chunk_document
from rag.documents import clean_text
from rag.tokens import count_tokens
from rag.types import Document


def _doc(raw: str) -> Document:
    text, blocks = clean_text(raw)
    return Document("d.txt", "标题", text, blocks, "0")


def test_chunks_are_spans_of_the_text_and_respect_sections():
    raw = "一、总体要求\n" + "坚持绿色发展，推进生态文明建设。" * 40 + "\n二、保障措施\n加强组织领导。"
    doc = _doc(raw)
    chunks = chunk_document(doc, ChunkSettings(size=64, overlap=16))
    assert len(chunks) > 3
    for c in chunks:
        assert doc.text[c.start:c.end] == c.text
        assert count_tokens(c.text) <= 64 + 20  # whole sentences: at most one sentence over
    assert chunks[-1].section == ("二、保障措施",) and "加强组织领导" in chunks[-1].text
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_overlong_sentence_is_cut_at_clauses_never_inside_a_number():
    text = "，".join(f"第{i}项指标达到12.7%" for i in range(60)) + "。"
    units = _units(text, 0, len(text), 48)
    assert len(units) > 3
    assert all(not text[s:e].startswith(".7") for s, e, _ in units)
    assert "".join(text[s:e] for s, e, _ in units) == text


def test_a_single_clause_over_the_budget_stays_whole():
    text = "甲" * 600 + "，乙乙。"
    units = _units(text, 0, len(text), 64)
    assert [text[s:e] for s, e, _ in units] == ["甲" * 600 + "，", "乙乙。"]
