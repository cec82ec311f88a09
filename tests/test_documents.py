"""Reading and cleaning documents: encodings, PDF leftovers, headings, offsets."""

import pytest

from rag.documents import (DocumentError, clean_text, decode_bytes, list_corpus_files, load_corpus, load_document,
                           read_text)

from .conftest import CORPUS

def _wrap(paragraph: str, width: int = 28) -> list[str]:
    return [paragraph[i:i + width] for i in range(0, len(paragraph), width)]


FILLER = "工信部数据显示，五年来我国共建设绿色工厂和绿色工业园区，推广绿色产品，绿色制造体系初步形成。" * 6
WRAPPED = "\n\n".join(
    ["前言"]
    + _wrap("绿色转型是指以生态文明建设和绿色发展理念为主导，立足于当前经济社会发展情况和资源环境承受能力，以循环经济为基础，实现资源节约、环境友好。")
    + ["向绿色转型，重点行业设路线图", "[1]"]
    + _wrap("中央经济工作会议将“做好碳达峰、碳中和工作”列为 2021 年重点工作之一。作为碳排放重要领域，工业绿色低碳改造引发关注[1]。")
    + ["[1] 新华网 2021-01-08"]
    + _wrap(FILLER)
)


def test_decode_utf8_gbk_and_refuse_binary():
    text = "甘肃省森林覆盖率达到12%。"
    assert decode_bytes(text.encode("utf-8")) == text
    assert decode_bytes(("\ufeff" + text).encode("utf-8")) == text
    assert decode_bytes(text.encode("gb18030")) == text
    assert decode_bytes(text.encode("gbk")) == text
    with pytest.raises(DocumentError, match="binary"):
        decode_bytes(b"\x00\x01\x02PK\x03\x04" * 50, "x.txt")


def test_wrapped_pdf_lines_are_joined_and_footnotes_dropped():
    text, blocks = clean_text(WRAPPED)
    assert "立足于当前经济社会发展情况" in text  # joined across the PDF line break
    assert "以循环经济为基础" in text
    assert "2021年重点工作之一" in text  # "2021 年" lost its space, and the break was joined
    assert "[1]" not in text and "新华网 2021-01-08" not in text
    headings = [text[b.start:b.end] for b in blocks if b.is_heading]
    assert "前言" in headings and "向绿色转型，重点行业设路线图" in headings
    body = next(b for b in blocks if "碳达峰" in text[b.start:b.end])
    assert body.section[-1] == "向绿色转型，重点行业设路线图"


def test_numbered_headings_nest():
    raw = "一、总体要求\n坚持绿色发展。\n（一）主要目标\n到2027年，森林覆盖率达到62%。\n1.重点任务\n推进治理。\n二、保障措施\n加强组织领导。"
    text, blocks = clean_text(raw)
    sections = {text[b.start:b.end]: b.section for b in blocks if not b.is_heading}
    assert sections["到2027年，森林覆盖率达到62%。"] == ("一、总体要求", "（一）主要目标")
    assert sections["推进治理。"] == ("一、总体要求", "（一）主要目标", "1.重点任务")
    assert sections["加强组织领导。"] == ("二、保障措施",)


def test_long_line_split_at_sentence_ends_with_inline_headings():
    body = "国家西部生态安全屏障建设取得阶段性成效。" * 40
    raw = f"前文。 一、总体要求 {body} 二、筑牢生态安全格局 (一)加强保护 河西地区具有重要功能。"
    text, blocks = clean_text(raw)
    assert max(b.end - b.start for b in blocks) < 1000
    last = next(b for b in blocks if text[b.start:b.end] == "河西地区具有重要功能。")
    assert last.section == ("二、筑牢生态安全格局", "(一)加强保护")


def test_bundled_corpus_offsets_are_stable(tmp_path):
    docs, problems = load_corpus(CORPUS)
    assert problems == [] and len(docs) == 5
    again, _ = load_corpus(CORPUS)
    assert [d.text for d in docs] == [d.text for d in again]
    for doc in docs:
        for block in doc.blocks:
            assert doc.text[block.start:block.end].strip()
    gansu = next(d for d in docs if "12.7%" in d.text)
    assert "森林覆盖率提高至12.7%" in gansu.text
    assert gansu.title.startswith("探寻零碳园区")  # from catalog.json


def test_unreadable_files_are_reported_and_the_rest_loaded(tmp_path):
    (tmp_path / "good.txt").write_text("甘肃省的目标。", encoding="utf-8")
    (tmp_path / "gbk.txt").write_bytes("广西的森林覆盖率。".encode("gbk"))
    (tmp_path / "binary.txt").write_bytes(b"\x00\xff" * 100)
    (tmp_path / "scan.pdf").write_bytes(_blank_pdf())
    (tmp_path / "broken.docx").write_bytes(b"not a zip")
    docs, problems = load_corpus(tmp_path)
    assert sorted(d.doc_id for d in docs) == ["gbk.txt", "good.txt"]
    reasons = {p.path: p.reason for p in problems}
    assert "binary" in reasons["binary.txt"]
    assert "no text layer" in reasons["scan.pdf"]
    assert "cannot parse" in reasons["broken.docx"]


def test_missing_or_empty_corpus_folder(tmp_path):
    with pytest.raises(DocumentError, match="does not exist"):
        list_corpus_files(tmp_path / "nope")
    with pytest.raises(DocumentError, match="holds no"):
        list_corpus_files(tmp_path)


def test_docx_and_pdf_with_text(tmp_path):
    import docx

    d = docx.Document()
    d.add_heading("总体要求", level=1)
    d.add_paragraph("到2030年，湿地保护率达到55%。")
    d.save(tmp_path / "plan.docx")
    doc = load_document(tmp_path / "plan.docx", tmp_path)
    block = next(b for b in doc.blocks if "湿地" in doc.text[b.start:b.end])
    assert block.section == ("总体要求",)
    assert "55%" in read_text(tmp_path / "plan.docx")


def _blank_pdf() -> bytes:
    from io import BytesIO

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buf = BytesIO()
    writer.write(buf)
    return buf.getvalue()


def test_a_sentence_broken_over_a_blank_line_is_joined_not_read_as_a_heading():
    raw = ("石桥县生态修复\n\n"
           "石桥高速项目概算投资 12.5 亿元,2021 年 3 月正式开工\n\n"
           "建设，计划工期 30 个月。\n\n"
           "发布时间:2024-07-10\n\n"
           "日前，县政府印发实施方案。\n\n"
           "筑牢南方生态屏障，守护一江清水\n\n"
           "青山绿水、碧波荡漾，是全县人民的财富。")
    text, blocks = clean_text(raw)
    headings = [text[b.start:b.end] for b in blocks if b.is_heading]
    assert "石桥高速项目概算投资12.5亿元,2021年3月正式开工建设，计划工期30个月。" in text
    assert not any("概算投资" in h for h in headings)
    assert "发布时间:2024-07-10\n日前，县政府印发实施方案。" in text  # metadata stays a line of its own
    assert "筑牢南方生态屏障，守护一江清水" in headings  # a heading is not glued to its first paragraph
