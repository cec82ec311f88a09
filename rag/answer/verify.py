"""Checks that an answer says only what its cited passages say: run on every answer,
extractive or LLM, before it is shown."""
from __future__ import annotations

import re
import unicodedata

from ..text import bare_numbers
from ..types import Citation

_MARKER = re.compile(r"\[(\d{1,3})\]")


def strip_markers(text: str) -> str:
    return _MARKER.sub("", text)


def markers(text: str) -> list[int]:
    return [int(m) for m in _MARKER.findall(text)]


def number_in(number: str, passage: str) -> bool:
    """The number occurs in the passage as a whole number (12 does not match inside 12.7 or 2012)."""
    text = unicodedata.normalize("NFKC", passage).replace(",", "")
    return re.search(rf"(?<![\d.]){re.escape(number)}(?![\d]|\.\d)", text) is not None


def unsupported_numbers(answer_text: str, citations: list[Citation]) -> list[str]:
    """Numbers and dates in the answer that no cited passage contains verbatim."""
    passages = [c.chunk.text for c in citations]
    missing = []
    for number in bare_numbers(strip_markers(answer_text)):
        if not any(number_in(number, p) for p in passages):
            missing.append(number)
    return list(dict.fromkeys(missing))

