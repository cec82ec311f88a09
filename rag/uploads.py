"""Checking files before they join the knowledge base: type by content, size, name and metadata.

A file is judged by its bytes (magic numbers), never by its extension alone: a PNG renamed to
.pdf, a legacy .doc renamed to .docx or a ZIP archive is refused with what it really is and
what to do. Every problem is found before anything is written, so a refused batch changes nothing.
"""
from __future__ import annotations

import codecs
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .readers import SUPPORTED_SUFFIXES, DocumentError, decode_bytes

MAX_NAME_CHARS = 120
# what a file's first bytes say it is, for files that are not what their extension claims
_MAGIC = [
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office file (.doc/.xls/.ppt)"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"{\\rtf", "an RTF document"),
    (b"\x7fELF", "a program (ELF)"),
    (b"MZ", "a Windows program"),
]
_EXPECTED = {".pdf": "a PDF document", ".docx": "a Word .docx document", ".txt": "text", ".md": "text"}
_FIX = {".pdf": "upload the PDF itself", ".docx": "save it as .docx in Word or WPS and upload that",
        ".txt": "save it as plain text (UTF-8)", ".md": "save it as plain text (UTF-8)"}


class UploadError(ValueError):
    """Why files cannot be added; every problem of the batch, one a line."""


@dataclass(frozen=True)
class Checked:
    source: Path  # where the bytes are now (an upload's temporary file)
    name: str  # the document's file name in the user folder (its document id)
    size: int


def sniff(path: Path) -> str:
    """What the file's content is: one of _EXPECTED's or _MAGIC's descriptions, or "binary data"."""
    with open(path, "rb") as f:
        head = f.read(8192)
    if b"%PDF-" in head[:1024]:  # the PDF header may follow a little junk
        return "a PDF document"
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(path)
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    return "text" if _is_text(head) else "binary data"


def _is_text(head: bytes) -> bool:
    """Whether the first bytes are text in an encoding we read (a multi-byte character may be cut at the end)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return True
    except UnicodeDecodeError:
        pass
    for cut in (0, 1, 2, 3):  # GB18030 characters are up to 4 bytes
        try:
            decode_bytes(head[: len(head) - cut], "file")
            return True
        except DocumentError:
            continue
    return False


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except zipfile.BadZipFile:
        return "a damaged ZIP archive"
    if "word/document.xml" in names:
        return "a Word .docx document"
    if any(n.startswith("xl/") for n in names):
        return "an Excel .xlsx workbook"
    if any(n.startswith("ppt/") for n in names):
        return "a PowerPoint .pptx presentation"
    return "a ZIP archive"


def clean_name(name: str) -> str:
    """A safe file name for the user folder: no folders, control or reserved characters, no leading dot."""
    name = unicodedata.normalize("NFC", Path(str(name).replace("\\", "/")).name)
    name = re.sub(r'[\x00-\x1f\x7f<>:"/\\|?*]', "", name)
    name = re.sub(r"\s+", " ", name).strip().lstrip(".").strip()
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    stem = stem[: MAX_NAME_CHARS - len(suffix) - 1].strip() or "document"
    return f"{stem}.{suffix.lower()}" if suffix else stem


def check_file(source: Path, name: str, max_bytes: int) -> tuple[Checked | None, str | None]:
    """(Checked, None) for a file that may be added, else (None, why not)."""
    clean = clean_name(name)
    suffix = Path(clean).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return None, f"{clean}: {suffix or 'no extension'} is not a supported type; use {', '.join(SUPPORTED_SUFFIXES)}"
    size = source.stat().st_size
    if size == 0:
        return None, f"{clean}: the file is empty"
    if size > max_bytes:
        return None, f"{clean}: {_size(size)} is over the {_size(max_bytes)} limit per file (RAG_MAX_UPLOAD_MB)"
    what = sniff(source)
    if what != _EXPECTED[suffix]:
        return None, f"{clean}: the name says {_EXPECTED[suffix]} but the content is {what}; {_FIX[suffix]}"
    return Checked(source, clean, size), None


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} KB"


_DATE = re.compile(r"^((?:19|20)\d{2})(?:[-./年]\s*(\d{1,2})(?:[-./月]\s*(\d{1,2})\s*日?)?\s*月?)?\s*年?$")


def check_metadata(title: str | None, publisher: str | None, date: str | None, files: int) -> dict:
    """The optional metadata as it will be stored, or UploadError saying what is wrong with it."""
    title, publisher, date = ((v or "").strip() for v in (title, publisher, date))
    problems = []
    if title and files > 1:
        problems.append("a title describes one document: add the files one at a time, or leave the title empty")
    if len(title) > 200 or len(publisher) > 100:
        problems.append("title (200) or publisher (100 characters) too long")
    meta = {"title": title or None, "publisher": publisher or None, "date": None}
    if date:
        m = _DATE.match(date)
        month, day = (int(m.group(2) or 1), int(m.group(3) or 1)) if m else (0, 0)
        if not m or not (1 <= month <= 12 and 1 <= day <= 31):
            problems.append(f"date {date!r}: write it as 2025-04-21, 2025-04 or 2025")
        else:
            meta["date"] = m.group(1) + (f"-{month:02d}" if m.group(2) else "") + (f"-{day:02d}" if m.group(3) else "")
    if problems:
        raise UploadError("\n".join(problems))
    return {k: v for k, v in meta.items() if v}
