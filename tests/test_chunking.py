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


def test_a_single_clause_over_the_budget_is_cut_at_characters_keeping_the_clause_end():
    text = "甲" * 600 + "，乙乙。"
    units = _units(text, 0, len(text), 64)
    assert all(n <= 64 and count_tokens(text[s:e]) == n for s, e, n in units)
    assert "".join(text[s:e] for s, e, _ in units) == text
    assert text[units[-1][0]:units[-1][1]].endswith("，乙乙。") or text[units[-1][0]:units[-1][1]] == "乙乙。"


def _one_line_without_punctuation(n_chars: int) -> str:
    """Like a web export flattened to one line: words and figures, no sentence or clause marks."""
    words = ["森林覆盖率", "提高至", "12.7%", "生态环境", "保护", "绿色发展", "1,000", "碳排放权", "交易", "市场",
             "建设", "3.3亿立方米", "PM2.5", "Gansu", "2030年"]
    out, size, i = [], 0, 0
    while size < n_chars:
        w = words[(i * 7 + i // 3) % len(words)]
        out.append(w)
        size += len(w)
        i += 1
    return "".join(out)


def test_a_5mb_line_without_punctuation_is_capped_in_linear_time():
    import time

    text = _one_line_without_punctuation(2_400_000)  # ~5 MB of UTF-8
    assert len(text.encode("utf-8")) > 5_000_000
    doc = _doc(text)
    t0 = time.perf_counter()
    chunks = chunk_document(doc, ChunkSettings(size=320, overlap=48))
    seconds = time.perf_counter() - t0
    assert seconds < 90, f"chunking took {seconds:.0f} s"
    assert len(chunks) > 2000
    sample = chunks[:: max(1, len(chunks) // 300)]
    assert all(count_tokens(c.text) <= 320 for c in sample)
    assert all(doc.text[c.start:c.end] == c.text for c in sample)
    for a, b in zip(chunks, chunks[1:]):
        assert b.start <= a.end, "no text is lost between chunks"
        cut = doc.text[a.end - 1:a.end + 1]
        assert not (cut[0].isdigit() and cut[1].isdigit()), f"cut inside a number: {doc.text[a.end - 8:a.end + 8]!r}"
        assert not (cut.isascii() and cut.isalpha()), f"cut inside a word: {doc.text[a.end - 8:a.end + 8]!r}"
