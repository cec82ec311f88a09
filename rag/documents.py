"""Reading documents from a folder and cleaning what PDF and web extraction leave behind.

The cleaned text is the single source of truth for offsets: chunks and citations point
at spans of ``Document.text``. Cleaning is deterministic, so the same file always gives
the same text and the same offsets.
"""
from __future__ import annotations

import hashlib
import json
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from .text import CJK
from .types import Block, Document

SUPPORTED_SUFFIXES = (".txt", ".md", ".pdf", ".docx")
CLEANER_VERSION = 5  # bump when cleaning changes: indexes built before are then stale


class DocumentError(Exception):
    """A file that cannot be read; the message says why and what to do."""


@dataclass
class CorpusProblem:
    path: str
    reason: str


# ----------------------------------------------------------------------------- reading
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
    suffix = path.suffix.lower()
    try:
        if suffix in (".txt", ".md"):
            return decode_bytes(path.read_bytes(), path.name)
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


def _read_pdf(path: Path) -> str:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    pages = [(page.extract_text() or "") for page in reader.pages]
    text = "\n".join(pages)
    if len(re.sub(r"\s+", "", text)) < 20:
        raise DocumentError(
            f"{path.name}: the PDF has no text layer (a scan?); run OCR on it first (e.g. ocrmypdf) and add the result"
        )
    return text


def _read_docx(path: Path) -> str:
    import docx

    document = docx.Document(str(path))
    lines = []
    for para in document.paragraphs:
        style = (para.style.name or "").lower() if para.style is not None else ""
        text = para.text.strip()
        if style.startswith("heading") and text and not _HEADING_PATTERNS[0][1].match(text):
            text = f"# {text}"  # keep Word's heading information for the cleaner
        lines.append(text)
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- cleaning
_BULLET = re.compile(r"^[\s•·●◆■▪►\-\*]+")
_FOOTNOTE_ONLY = re.compile(r"^\[\d{1,3}\]$")
_FOOTNOTE_SOURCE = re.compile(r"^\[\d{1,3}\]\s*\S.{0,60}$")  # "[1] 新华网 2021-01-08"
_FOOTNOTE_MARK = re.compile(r"\[\d{1,3}\]")
_SPACE_CJK_ASCII = re.compile(rf"(?<=[{CJK}])[ \t\u3000]+(?=[0-9A-Za-z%])|(?<=[0-9%])[ \t\u3000]+(?=[{CJK}])")
_SENTENCE_END = tuple("。！？；!?;…：:")
_SOFT_END = tuple("。！？；!?;…")
_URL_LINE = re.compile(r"^(原文来源|来源|链接)?[:：]?\s*https?://\S+$")

_CN_NUM = "一二三四五六七八九十百零〇"
# (level, pattern) — the heading forms of Chinese official documents, outermost first.
_HEADING_PATTERNS: list[tuple[int, re.Pattern]] = [
    (1, re.compile(r"^#{1,6}\s*\S")),
    (1, re.compile(rf"^第[{_CN_NUM}\d]+[编章部篇]")),
    (2, re.compile(rf"^第[{_CN_NUM}\d]+节")),
    (2, re.compile(rf"^[{_CN_NUM}]+、")),
    (3, re.compile(rf"^[（(][{_CN_NUM}]+[）)]")),
    (4, re.compile(r"^\d{1,2}[.．、](?!\d)")),
    (5, re.compile(r"^[（(]\d{1,2}[）)]")),
    (1, re.compile(r"^《[^》]{2,60}》$")),
]
_PLAIN_HEADING_LEVEL = 6  # an un-numbered short line standing alone: a leaf heading


def clean_text(raw: str) -> tuple[str, list[Block]]:
    """Clean raw extracted text into paragraphs and headings with a section path each."""
    lines = _prepare_lines(raw)
    width = _wrap_width(lines)
    paragraphs = _join_wrapped(lines, width)
    return _assemble(paragraphs, width)


def _prepare_lines(raw: str) -> list[str]:
    out = []
    for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = _BULLET.sub("", line).strip()
        if _FOOTNOTE_ONLY.match(line) or _FOOTNOTE_SOURCE.match(line) or _URL_LINE.match(line):
            out.append("")  # footnote markers and source lines carry no content
            continue
        line = _FOOTNOTE_MARK.sub("", line)
        line = _SPACE_CJK_ASCII.sub("", line)
        line = re.sub(r"[ \t\u3000]{2,}", " ", line)
        if len(line) > 400:
            out.extend(_split_long_line(line))
        else:
            out.append(line)
    return out


_INLINE_HEADING = re.compile(rf"^((?:[{_CN_NUM}]+、|[（(][{_CN_NUM}\d]+[）)])[^。，,；;\s]{{1,30}})\s+(\S.*)$")


def _split_long_line(line: str) -> list[str]:
    """Web pages flattened to one line keep paragraph breaks as a space after a sentence end."""
    out = []
    for piece in re.split(r"(?<=[。！？；!?;])\s+", line):
        # Inline headings ("二、筑牢…格局 (一)… 河西祁连山…") are separated from their body by a space.
        while m := _INLINE_HEADING.match(piece):
            out.extend(["", m.group(1), ""])
            piece = m.group(2)
        out.extend(["", piece, ""])
    return out


def _wrap_width(lines: list[str]) -> int | None:
    """The width at which a PDF wrapped its lines, if the text looks hard-wrapped."""
    lengths = [len(line) for line in lines if line]
    if len(lengths) < 12:
        return None
    top = statistics.quantiles(lengths, n=10)[7]  # 80th percentile
    near = sum(1 for n in lengths if top - 3 <= n <= top + 3)
    return int(top) if near / len(lengths) > 0.35 and top < 120 else None


def _join_wrapped(lines: list[str], width: int | None) -> list[str]:
    """Join lines a PDF broke mid-sentence; blank lines separate paragraphs only in unwrapped text."""
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        if not line:
            if width is None and current:
                paragraphs.append(current)
                current = ""
            continue
        if current and _continues(current, line, width):
            current = _glue(current, line)
            continue
        if current:
            paragraphs.append(current)
        current = line
    if current:
        paragraphs.append(current)
    return paragraphs


def _continues(previous: str, line: str, width: int | None) -> bool:
    if width is None or previous.endswith(_SOFT_END):
        return False
    if _heading_level(previous, width) is not None:
        return False
    return len(previous) >= width - 4  # a full line that stops mid-sentence was wrapped


def _glue(left: str, right: str) -> str:
    # English words need their space back; a number the PDF broke (202|1) does not
    if re.search(r"[A-Za-z,.]$", left) and re.match(r"[A-Za-z0-9]", right):
        return f"{left} {right}"
    return left + right


def _heading_level(line: str, width: int | None = None) -> int | None:
    line = line.strip()
    if not line or len(line) > 60:
        return None
    for level, pattern in _HEADING_PATTERNS:
        if pattern.match(line):
            if level == 4 and len(line) > 40:
                return None
            return level if not line.endswith(("。", "；", ";", "，", ",")) else None
    return None


def _plain_heading(paragraph: str, width: int | None) -> bool:
    """A short, unpunctuated line standing alone (PDF section titles have no numbers)."""
    limit = min(width - 4, 40) if width else 40
    if re.match(r"^[^\s:：]{2,6}[:：]", paragraph):  # "发布时间:2025-04-21" is metadata, not a title
        return False
    return 2 <= len(paragraph) <= limit and not paragraph.endswith(("。", "；", ";", "，", ",", "：", ":", "、")) \
        and not re.search(r"[。；;]", paragraph)


def _assemble(paragraphs: list[str], width: int | None) -> tuple[str, list[Block]]:
    text_parts: list[str] = []
    blocks: list[Block] = []
    stack: list[tuple[int, str]] = []
    pos = 0
    for para in paragraphs:
        level = _heading_level(para, width)
        if level is None and _plain_heading(para, width):
            level = _PLAIN_HEADING_LEVEL
        if level is not None:
            heading = re.sub(r"^#{1,6}\s*", "", para)
            stack = [(lv, t) for lv, t in stack if lv < level] + [(level, heading)]
            section = tuple(t for _, t in stack)
            blocks.append(Block(pos, pos + len(heading), section, is_heading=True))
            para = heading
        else:
            blocks.append(Block(pos, pos + len(para), tuple(t for _, t in stack)))
        text_parts.append(para)
        pos += len(para) + 1  # the "\n" joining paragraphs
    return "\n".join(text_parts), blocks


# ----------------------------------------------------------------------------- corpus
def load_catalog(folder: Path) -> dict[str, dict]:
    path = folder / "catalog.json"
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DocumentError(f"catalog.json in {folder} is not valid JSON: {exc}") from exc
    return {e["file"]: e for e in entries if isinstance(e, dict) and "file" in e}


def list_corpus_files(folder: Path) -> list[Path]:
    if not folder.exists():
        raise DocumentError(f"corpus folder {folder} does not exist")
    if not folder.is_dir():
        raise DocumentError(f"corpus path {folder} is not a folder")
    files = sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES and not p.name.startswith(".")
    )
    if not files:
        raise DocumentError(f"corpus folder {folder} holds no {', '.join(SUPPORTED_SUFFIXES)} files")
    return files


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_document(path: Path, folder: Path, catalog: dict[str, dict] | None = None) -> Document:
    raw_bytes = path.read_bytes()
    raw = read_text(path)
    text, blocks = clean_text(raw)
    if not text.strip():
        raise DocumentError(f"{path.name}: no text left after cleaning (empty file?)")
    doc_id = path.relative_to(folder).as_posix()
    meta = (catalog or {}).get(doc_id, {})
    title = meta.get("title") or _guess_title(text, path)
    return Document(
        doc_id=doc_id,
        title=title,
        text=text,
        blocks=blocks,
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        publisher=meta.get("publisher"),
        date=meta.get("date"),
        source_path=str(path),
    )


def _guess_title(text: str, path: Path) -> str:
    first = text.strip().split("\n", 1)[0].strip("《》 ")
    return first if 2 <= len(first) <= 60 else path.stem


def load_corpus(folder: Path, only: set[str] | None = None) -> tuple[list[Document], list[CorpusProblem]]:
    """All readable documents of a folder; unreadable ones are reported, not fatal."""
    folder = Path(folder)
    catalog = load_catalog(folder)
    docs, problems = [], []
    for path in list_corpus_files(folder):
        doc_id = path.relative_to(folder).as_posix()
        if only is not None and doc_id not in only:
            continue
        try:
            docs.append(load_document(path, folder, catalog))
        except DocumentError as exc:
            problems.append(CorpusProblem(doc_id, str(exc)))
    return docs, problems
