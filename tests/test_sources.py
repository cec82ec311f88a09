"""The knowledge base's two folders (read-only base corpus + the user's folder), what files state
about themselves, PDF glyph repair, and OCR of scanned PDFs — through the real index builder."""
from __future__ import annotations

import shutil

import pytest

from index.builder import build_index, staleness
from index.store import load_store, read_manifest
from rag.embeddings import load_embedder
from rag.readers import fix_pdf_glyphs, read_file, stated_metadata
from rag.settings import get_settings
from rag.sources import write_catalog

BASE = {"gansu.txt": "一、主要目标\n到2030年底，甘肃省森林覆盖率提高至12.7%，森林蓄积量提高至3.3亿立方米。"}
USER = {"qinghai.txt": "青海省湿地保护方案\n到2030年，全省湿地保护率提高至75%，新建国家湿地公园12处。"}
FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
tesseract = pytest.mark.skipif(shutil.which("tesseract") is None,
                               reason="needs Tesseract: apt-get install tesseract-ocr tesseract-ocr-chi-sim "
                                      "(bash setup.sh --with-ocr)")


@pytest.fixture()
def kb(tmp_path):
    base, user = tmp_path / "corpus", tmp_path / "mine"
    for folder, docs in ((base, BASE), (user, USER)):
        folder.mkdir()
        for name, text in docs.items():
            (folder / name).write_text(text, encoding="utf-8")
    settings = get_settings(corpus_dir=base, user_corpus_dir=user, index_dir=tmp_path / "index",
                            cache_dir=tmp_path / "cache")
    return settings, load_embedder(settings)


def test_user_folder_documents_join_the_base_corpus(kb):
    settings, embedder = kb
    report = build_index(settings, embedder, progress=False)
    assert sorted(report.changed) == ["gansu.txt", "qinghai.txt"]
    store = load_store(settings.index_dir)
    assert store.documents["qinghai.txt"].source_path.startswith(str(settings.user_corpus_dir))
    assert set(read_manifest(settings.index_dir)["indexed_at"]) == {"gansu.txt", "qinghai.txt"}


def test_a_user_file_named_like_a_base_document_is_reported_not_mixed_in(kb):
    settings, embedder = kb
    (settings.user_corpus_dir / "gansu.txt").write_text("假的甘肃文件。", encoding="utf-8")
    report = build_index(settings, embedder, progress=False)
    assert [p.path for p in report.problems] == ["gansu.txt"] and "base corpus" in report.problems[0].reason
    assert "12.7%" in load_store(settings.index_dir).documents["gansu.txt"].text
    assert build_index(settings, embedder, progress=False).up_to_date  # a clash alone does not rebuild


def test_a_catalog_change_reindexes_only_that_document(kb):
    settings, embedder = kb
    build_index(settings, embedder, progress=False)
    write_catalog(settings.user_corpus_dir, {"qinghai.txt": {"title": "青海湿地", "publisher": "青海省林草局", "date": "2025-06"}})
    assert "1 changed" in staleness(settings, read_manifest(settings.index_dir))
    report = build_index(settings, embedder, progress=False)
    assert report.changed == ["qinghai.txt"]
    doc = load_store(settings.index_dir).documents["qinghai.txt"]
    assert (doc.title, doc.publisher, doc.date) == ("青海湿地", "青海省林草局", "2025-06")


def test_metadata_stated_in_the_text():
    text = "关于推进绿色工厂建设的通知\n发布机构：工业和信息化部\n发布日期：2025年4月7日\n正文……"
    assert stated_metadata(text) == {"publisher": "工业和信息化部", "date": "2025-04-07"}
    assert stated_metadata("发布时间:2024-11-3\n内容") == {"date": "2024-11-03"}
    assert stated_metadata("正文第一行。\n到2030年，目标达到12%。") == {}


def test_radical_glyphs_from_pdf_fonts_become_ordinary_characters():
    # what pypdf extracts from a Chromium PDF set in Noto Sans CJK
    assert fix_pdf_glyphs("⻘海省湿地保护实施⽅案 ⼀、主要⽬标 提⾼⾄75%") == "青海省湿地保护实施方案 一、主要目标 提高至75%"


def _scan_pdf(path, lines):
    """An image-only PDF: the text is drawn as pixels with a CJK font, no text layer."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(FONT, 40, index=2)  # Noto Sans CJK SC
    image = Image.new("L", (1654, 200 + 80 * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((100, 100 + i * 80), line, font=font, fill=0)
    image.save(path, resolution=200)
    return path


SCAN = ["西宁市湿地保护规划", "到2030年，西宁市湿地保护率提高至68%，", "新建城市湿地公园9处。"]
needs_font = pytest.mark.skipif(not shutil.os.path.exists(FONT), reason="needs fonts-noto-cjk")


@needs_font
@tesseract
def test_scanned_pdf_is_read_by_ocr_and_answers_questions(kb):
    from rag.service import RagService

    settings, _ = kb
    pdf = _scan_pdf(settings.user_corpus_dir / "xining-scan.pdf", SCAN)
    text = read_file(pdf).text
    assert "湿地保护率提高至68%" in text and "新建城市湿地公园9处" in text
    answer = RagService.open(settings, log=lambda m: None).ask("西宁市2030年湿地保护率目标是多少？")
    assert not answer.refused and "68%" in answer.text
    assert answer.citations[0].chunk.doc_id == "xining-scan.pdf"


@needs_font
def test_scanned_pdf_without_tesseract_is_skipped_with_an_install_hint_then_read_once_installed(kb, monkeypatch):
    from rag import ocr

    settings, embedder = kb
    _scan_pdf(settings.user_corpus_dir / "scan.pdf", SCAN)
    with_tesseract = shutil.which("tesseract") is not None
    monkeypatch.setenv("PATH", "/nonexistent")  # Tesseract is looked up on PATH: now it is missing
    ocr._languages.cache_clear()
    report = build_index(settings, embedder, progress=False)
    reason = {p.path: p.reason for p in report.problems}["scan.pdf"]
    assert "no text layer" in reason and "apt-get install tesseract-ocr tesseract-ocr-chi-sim" in reason
    assert read_manifest(settings.index_dir)["skipped"]["scan.pdf"]["needs"] == "ocr"
    assert build_index(settings, embedder, progress=False).up_to_date
    monkeypatch.undo()
    ocr._languages.cache_clear()
    if not with_tesseract:
        return
    assert "1 added" in staleness(settings, read_manifest(settings.index_dir))  # retried now that OCR works
    again = build_index(settings, embedder, progress=False)
    assert again.changed == ["scan.pdf"]
    assert "68%" in load_store(settings.index_dir).documents["scan.pdf"].text
