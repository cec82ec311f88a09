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

from .readers import SUPPORTED_SUFFIXES, DocumentError, decode_bytes, read_file, read_text, stated_metadata
from .text import CJK
from .types import Block, Document

# bump when reading or cleaning changes: indexes built before are then stale
# (6: PDF radical glyphs folded, OCR of scanned pages, metadata stated in the text;
#  7: sentences broken over a blank line joined)
CLEANER_VERSION = 7
__all__ = ["SUPPORTED_SUFFIXES", "DocumentError", "decode_bytes", "read_text", "clean_text", "load_document",
           "load_corpus", "load_catalog", "list_corpus_files", "CorpusProblem", "CLEANER_VERSION"]


@dataclass
class CorpusProblem:
    path: str
    reason: str


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
    if width is None:
        paragraphs = _rejoin_broken(paragraphs)
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


_METADATA = re.compile(r"^[^\s:：]{2,6}[:：]")
_LEAD_CLAUSE = re.compile(r"^([^，、,。；;：:！？!?\s“”]{1,3})[，、,。；;]")


def _rejoin_broken(paragraphs: list[str]) -> list[str]:
    """Paragraphs an extraction broke mid-sentence, joined again. Text that is not hard-wrapped
    may still break a sentence over a blank line ("…2020年6月正式开工" / "建设，计划工期36个月"):
    left apart, the first half reads as a heading (never an answer) and the second starts
    mid-sentence. A paragraph continues the one before when that one stops without closing
    punctuation and this one opens with a stub of a clause: at most two characters ("化、资源化"),
    or three after a paragraph already running through commas ("…利用湿地" / "中植物、微生物").
    Four would take a heading's first line ("…筑牢生态安全屏障" / "青山绿水、…")."""
    out: list[str] = []
    for para in paragraphs:
        if out and _broken_between(out[-1], para):
            out[-1] = _glue(out[-1], para)
        else:
            out.append(para)
    return out


def _broken_between(previous: str, para: str) -> bool:
    if previous.endswith(_SOFT_END + tuple("，、,：:”》）)")) or _heading_level(previous) or _heading_level(para):
        return False
    if _METADATA.match(previous):  # "发布时间:2024-07-10" / "日前，…"
        return False
    stub = _LEAD_CLAUSE.match(para)
    if not stub:
        return False
    return len(stub.group(1)) <= 2 or (len(previous) >= 12 and bool(re.search(r"[，、,]", previous)))


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
    if _METADATA.match(paragraph):  # "发布时间:2025-04-21" is metadata, not a title
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


def load_document(path: Path, folder: Path, catalog: dict[str, dict] | None = None,
                  doc_id: str | None = None) -> Document:
    """Read and clean one file. Title, publisher and date: the catalog entry, else what the file
    states about itself (its title property, "发布日期：…" lines), else the first line as title."""
    raw_bytes = path.read_bytes()
    extracted = read_file(path)
    text, blocks = clean_text(extracted.text)
    if not text.strip():
        raise DocumentError(f"{path.name}: no text left after cleaning (empty file?)")
    doc_id = doc_id or path.relative_to(folder).as_posix()
    stated = {**{k: v for k, v in extracted.meta.items() if v}, **stated_metadata(text)}
    meta = {**stated, **{k: v for k, v in (catalog or {}).get(doc_id, {}).items() if v}}
    return Document(
        doc_id=doc_id,
        title=meta.get("title") or _guess_title(text, path),
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
