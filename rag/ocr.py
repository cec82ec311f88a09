"""OCR for PDF pages without a text layer (scans), through Tesseract with its Chinese models.

Optional and offline: Tesseract is a system program (Debian: ``tesseract-ocr`` and
``tesseract-ocr-chi-sim``, installed by ``bash setup.sh --with-ocr``). When it is missing, a
scanned PDF is skipped with a message that says how to install it, and the index retries the
file once OCR is available. Pages are rendered with PDFium (any image encoding a scanner
writes, JBIG2 and CCITT included) and read by ``pytesseract``.
"""
from __future__ import annotations

import re
import shutil
from functools import lru_cache
from pathlib import Path

from .text import CJK

LANGUAGES = ("chi_sim", "eng")  # simplified Chinese first; English for the Latin words and figures
INSTALL_HINT = ("install Tesseract with its Chinese models (`sudo apt-get install tesseract-ocr tesseract-ocr-chi-sim`, "
                "or `bash setup.sh --with-ocr`); the file is read again on the next `rag index` or upload")
RENDER_DPI = 300  # Tesseract reads body text best at about 300 dpi
PAGE_TIMEOUT_S = 180

# Tesseract separates Chinese characters with spaces; in Chinese text a space between two
# characters (or a character and a full-width mark) is never meant.
_CJK_PUNCT = "，。、；：？！“”‘’（）《》【】—…·％"
_SPACED = re.compile(rf"(?<=[{CJK}{_CJK_PUNCT}])[ \t]+(?=[{CJK}{_CJK_PUNCT}])")


class OcrUnavailable(RuntimeError):
    """Tesseract (or its Chinese model) is not installed; the message says how to install it."""


@lru_cache(maxsize=1)
def _languages() -> str:
    """The Tesseract language string, or OcrUnavailable saying what is missing."""
    if shutil.which("tesseract") is None:
        raise OcrUnavailable(f"Tesseract is not installed: {INSTALL_HINT}")
    try:
        import pytesseract

        have = set(pytesseract.get_languages(config=""))
    except Exception as exc:  # a broken install: say so, with the same fix
        raise OcrUnavailable(f"Tesseract does not run ({type(exc).__name__}: {exc}): {INSTALL_HINT}") from None
    if "chi_sim" not in have:
        raise OcrUnavailable(f"Tesseract has no Chinese model (chi_sim): {INSTALL_HINT}")
    return "+".join(lang for lang in LANGUAGES if lang in have)


def available() -> bool:
    try:
        _languages()
    except OcrUnavailable:
        return False
    return True


def unavailable_reason() -> str | None:
    try:
        _languages()
    except OcrUnavailable as exc:
        return str(exc)
    return None


def ocr_pages(path: Path, pages: list[int]) -> dict[int, str]:
    """Text of the given pages (0-based) of a PDF, read by Tesseract; OcrUnavailable without it."""
    import pypdfium2 as pdfium
    import pytesseract

    languages = _languages()
    pdf = pdfium.PdfDocument(str(path))
    try:
        out = {}
        for number in pages:
            image = pdf[number].render(scale=RENDER_DPI / 72).to_pil()
            text = pytesseract.image_to_string(image, lang=languages, timeout=PAGE_TIMEOUT_S,
                                               config="--psm 3 -c preserve_interword_spaces=1")
            out[number] = tidy(text)
        return out
    finally:
        pdf.close()


def tidy(text: str) -> str:
    """OCR output as a PDF's text layer would give it: no spaces between Chinese characters."""
    return _SPACED.sub("", text.replace("\f", "\n"))
