"""Reading the text out of .txt/.md/.pdf/.docx files, with what a file states about itself.

Scanned PDF pages (no text layer) go through OCR (``rag.ocr``) when Tesseract is installed.
Metadata comes from the file's own properties (a PDF's or Word file's title) and from lines the
text states ("发布日期：2025年4月21日", "发布机构：…"); a catalog entry overrides both.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED_SUFFIXES = (".txt", ".md", ".pdf", ".docx")
MIN_TEXT_CHARS = 20  # less than this on a PDF (or page) means no text layer


class DocumentError(Exception):
    """A file that cannot be read; the message says why and what to do."""


class NeedsOcr(DocumentError):
    """A scanned PDF while Tesseract is missing: read again once OCR is installed."""


@dataclass
class Extracted:
    text: str
    meta: dict = field(default_factory=dict)  # title / publisher / date the file states about itself


# ----------------------------------------------------------------------------- text files
def decode_bytes(data: bytes, name: str = "file") -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030/GBK; refuses binary."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data[:4096]:
        raise DocumentError(f"{name}: looks like a binary file (NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    if text is not None and _looks_like_text(text):
        return text
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and _looks_like_text(str(best)):
        return str(best)
    raise DocumentError(f"{name}: cannot decode as UTF-8, GB18030/GBK or any known encoding; save it as UTF-8")


def _looks_like_text(text: str) -> bool:
    if not text:
        return True
    bad = sum(1 for ch in text if (ord(ch) < 32 and ch not in "\t\n\r\f") or ch == "\ufffd")
    return bad / len(text) < 0.01


def read_text(path: Path) -> str:
    return read_file(path).text


def read_file(path: Path) -> Extracted:
    """The file's text and stated metadata; DocumentError (with what to do) when it cannot be read."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".txt", ".md"):
            return Extracted(decode_bytes(path.read_bytes(), path.name))
        if suffix == ".pdf":
            return _read_pdf(path)
        if suffix == ".docx":
            return _read_docx(path)
    except DocumentError:
        raise
    except OSError as exc:
        raise DocumentError(f"{path.name}: cannot read ({exc.strerror or exc})") from exc
    except Exception as exc:  # parsers raise many types for corrupt files
        raise DocumentError(f"{path.name}: cannot parse {suffix} file ({type(exc).__name__}: {exc})") from exc
    raise DocumentError(f"{path.name}: unsupported file type {suffix!r} (use {', '.join(SUPPORTED_SUFFIXES)})")


# ----------------------------------------------------------------------------- PDF
def _read_pdf(path: Path) -> Extracted:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    pages = [fix_pdf_glyphs(page.extract_text() or "") for page in reader.pages]
    empty = [i for i, text in enumerate(pages) if _chars(text) < MIN_TEXT_CHARS]
    if empty:
        pages = _with_ocr(path, pages, empty)
    text = "\n".join(pages)
    if _chars(text) < MIN_TEXT_CHARS:
        raise DocumentError(f"{path.name}: the PDF has no text layer and OCR found no text in it (blank pages?)")
    return Extracted(text, {"title": _plausible_title((reader.metadata or {}).get("/Title"))})


def _with_ocr(path: Path, pages: list[str], empty: list[int]) -> list[str]:
    """Pages without a text layer, read by OCR; without Tesseract a scan is refused with how to install it."""
    from . import ocr

    if not ocr.available():
        if len(empty) < len(pages) and _chars("".join(pages)) >= MIN_TEXT_CHARS:
            return pages  # a few image pages in a text PDF: the text is still worth indexing
        raise NeedsOcr(f"{path.name}: the PDF has no text layer (a scan?); to read it with OCR, "
                            f"{ocr.INSTALL_HINT}")
    found = ocr.ocr_pages(path, empty)
    return [found.get(i, text) for i, text in enumerate(pages)]


def _chars(text: str) -> int:
    return len(re.sub(r"\s+", "", text))


# Fonts map some characters to their radical code points (⼀ U+2F00 for 一, ⻘ U+2ED8 for 青):
# the text looks right but matches nothing. Kangxi radicals fold by NFKC; the simplified radicals
# of the supplement block that stand for whole characters are listed here.
_RADICALS = dict(zip("⺟⺠⻄⻅⻉⻋⻓⻔⻘⻙⻚⻛⻜⻝⻢⻣⻤⻥⻦⻧⻨⻩⻪⻬⻮⻰⻳⻡⻑⻆⻊",
                     "母民西见贝车长门青韦页风飞食马骨鬼鱼鸟卤麦黄黾齐齿龙龟首長角足"))
_KANGXI = re.compile("[\u2f00-\u2fdf]")


def fix_pdf_glyphs(text: str) -> str:
    """Radical code points a PDF font gave for ordinary characters, replaced by those characters."""
    text = _KANGXI.sub(lambda m: unicodedata.normalize("NFKC", m.group(0)), text)
    return text.translate(str.maketrans(_RADICALS))


# ----------------------------------------------------------------------------- Word
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s*\S")


def _read_docx(path: Path) -> Extracted:
    import docx

    document = docx.Document(str(path))
    lines = []
    for para in document.paragraphs:
        style = (para.style.name or "").lower() if para.style is not None else ""
        text = para.text.strip()
        if style.startswith("heading") and text and not _MARKDOWN_HEADING.match(text):
            text = f"# {text}"  # keep Word's heading information for the cleaner
        lines.append(text)
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    return Extracted("\n".join(lines), {"title": _plausible_title(document.core_properties.title)})


def _plausible_title(value) -> str | None:
    """A file's title property, unless it is the usual junk ("Microsoft Word - x.doc", "untitled")."""
    title = str(value or "").strip()
    if not 2 <= len(title) <= 80 or re.search(r"(?i)microsoft|untitled|^无标题|\.(docx?|pdf|wps|html?)$|^about:|://", title):
        return None
    return title


# ----------------------------------------------------------------------------- stated metadata
_DATE = r"((?:19|20)\d{2})\s*[年\-./]\s*(\d{1,2})(?:\s*[月\-./]\s*(\d{1,2})\s*日?)?"
_DATE_LINE = re.compile(rf"^(?:发布|印发|成文|发文|公布)?(?:日期|时间)\s*[:：]\s*{_DATE}")
_PUBLISHER_LINE = re.compile(r"^(?:发布机构|发文机关|发布单位|发文单位|来源)\s*[:：]\s*([^\s:：|]{2,40})\s*$")


def stated_metadata(text: str, lines: int = 30) -> dict:
    """Date and publisher stated in the first lines ("发布日期：2025年4月21日", "发布机构：生态环境部")."""
    found: dict = {}
    for line in text.splitlines()[:lines]:
        line = line.strip()
        if "date" not in found and (m := _DATE_LINE.match(line)):
            year, month, day = m.group(1), int(m.group(2)), m.group(3)
            if 1 <= month <= 12:
                found["date"] = f"{year}-{month:02d}" + (f"-{int(day):02d}" if day and 1 <= int(day) <= 31 else "")
        if "publisher" not in found and (m := _PUBLISHER_LINE.match(line)):
            found["publisher"] = m.group(1)
    return found
