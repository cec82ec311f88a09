"""Sentence-aware chunking, sized in tiktoken tokens.

Chunks never cross a section boundary (so every chunk has one section path; a heading
starts its section's first chunk), never cut inside a sentence unless it alone exceeds the
budget, and overlap by whole sentences. The budget is a hard cap (embedding cost grows with
a chunk's length): a sentence longer than it is cut at clause boundaries, and a clause
longer than it (a document exported as one line without punctuation) at character
boundaries — never inside a number or a Latin word.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .text import clause_spans, sentence_spans
from .tokens import count_tokens
from .types import Chunk, Document


@dataclass(frozen=True)
class ChunkSettings:
    size: int = 320
    overlap: int = 48

    def __post_init__(self):
        if self.overlap >= self.size:
            raise ValueError(f"chunk overlap ({self.overlap}) must be smaller than chunk size ({self.size})")


def chunk_id(doc_id: str, start: int, end: int, text: str) -> str:
    digest = hashlib.sha1(f"{doc_id}\x00{start}\x00{end}\x00{text}".encode("utf-8")).hexdigest()
    return digest[:16]


# A token spans at most a few characters in practice; a span longer than this many characters
# per budget token is over the budget without counting (counting a 5 MB line is wasted work).
MAX_CHARS_PER_TOKEN = 8


def _units(text: str, start: int, end: int, budget: int) -> list[tuple[int, int, int]]:
    """(start, end, tokens) units of a block, each at most ``budget`` tokens: whole sentences;
    an over-long sentence is split at clauses, an over-long clause at characters."""
    units = []
    for s, e in sentence_spans(text, start, end):
        n = _count(text, s, e, budget)
        if n is not None and n <= budget:
            units.append((s, e, n))
        else:
            units.extend(_clause_units(text, s, e, budget))
    return [u for u in units if u[1] > u[0]]


def _count(text: str, s: int, e: int, budget: int) -> int | None:
    """Tokens of text[s:e], or None when it is obviously over the budget."""
    return None if e - s > budget * MAX_CHARS_PER_TOKEN else count_tokens(text[s:e])


def _clause_units(text: str, s: int, e: int, budget: int) -> list[tuple[int, int, int]]:
    """Consecutive clauses packed up to the budget; a clause alone over it is cut by ``_char_units``."""
    cuts = sorted({s, e, *(min(e, ce + 1) for _, ce in clause_spans(text, s, e))})  # a clause keeps its delimiter
    units, piece_start = [], s
    for a, b in zip(cuts, cuts[1:]):
        n = _count(text, piece_start, b, budget)
        if n is not None and n <= budget:
            continue  # the piece grows by this clause
        if piece_start < a:
            units.append((piece_start, a, count_tokens(text[piece_start:a])))
        n = _count(text, a, b, budget)
        if n is None or n > budget:
            units.extend(_char_units(text, a, b, budget))
            piece_start = b
        else:
            piece_start = a
    if piece_start < e:
        units.append((piece_start, e, count_tokens(text[piece_start:e])))
    return units


def _char_units(text: str, a: int, b: int, budget: int) -> list[tuple[int, int, int]]:
    """Cut text[a:b] (no clause boundary inside) into windows of at most ``budget`` tokens,
    never inside a number or a Latin word. Linear in the length: each window is counted a
    few times, starting from the previous window's width."""
    units, p, width = [], a, budget
    while p < b:
        while True:
            q = _safe_cut(text, p, min(b, p + width), b)
            n = count_tokens(text[p:q])
            if n <= budget or q - p <= 1:
                break
            width = max(1, min(q - p - 1, (q - p) * budget // n))
        units.append((p, q, n))
        if n < budget * 3 // 4 and q - p == width:
            width = width * 5 // 4 + 1  # text got cheaper per character: widen the next window
        p = q
    return units


def _safe_cut(text: str, p: int, q: int, b: int) -> int:
    """Move a cut at q back to the start of the number or Latin word it falls in (unless that word
    starts the window: a number longer than the budget has to be cut)."""
    if q >= b:
        return b
    back = q
    while back > p and _inside_atom(text, back):
        back -= 1
    return back if back > p else q


def _inside_atom(text: str, i: int) -> bool:
    """Whether a cut between text[i-1] and text[i] would split a number (12.7%, 1,000) or a Latin word."""
    left, right = text[i - 1], text[i]
    if left.isdigit():
        return right.isdigit() or right in "%％‰" or (right in ".,．" and i + 1 < len(text) and text[i + 1].isdigit())
    if left in ".,．" and right.isdigit():
        return i >= 2 and text[i - 2].isdigit()
    return left.isascii() and left.isalpha() and right.isascii() and right.isalpha()


def chunk_document(doc: Document, settings: ChunkSettings = ChunkSettings()) -> list[Chunk]:
    chunks: list[Chunk] = []
    # Group consecutive body blocks of the same section; headings only open sections.
    groups: list[tuple[tuple[str, ...], list[tuple[int, int]]]] = []
    # A heading opens its section's group, so its text stays citable (short lines taken for
    # headings are sometimes content: a date line, a signature).
    for block in doc.blocks:
        if groups and groups[-1][0] == block.section:
            groups[-1][1].append((block.start, block.end))
        else:
            groups.append((block.section, [(block.start, block.end)]))
    for section, spans in groups:
        units = [u for s, e in spans for u in _units(doc.text, s, e, settings.size)]
        chunks.extend(_pack(doc, section, units, settings))
    return chunks


def _pack(doc: Document, section, units, settings: ChunkSettings) -> list[Chunk]:
    out: list[Chunk] = []
    i = 0
    while i < len(units):
        j, tokens = i, 0
        while j < len(units) and (j == i or tokens + units[j][2] <= settings.size):
            tokens += units[j][2]
            j += 1
        start, end = units[i][0], units[j - 1][1]
        text = doc.text[start:end]
        out.append(Chunk(chunk_id(doc.doc_id, start, end, text), doc.doc_id, doc.title, section, start, end, text))
        if j >= len(units):
            break
        # step back over whole sentences to make the overlap
        back, k = 0, j
        while k - 1 > i and back + units[k - 1][2] <= settings.overlap:
            k -= 1
            back += units[k][2]
        i = k
    return out


def chunk_documents(docs: list[Document], settings: ChunkSettings = ChunkSettings()) -> list[Chunk]:
    return [c for d in docs for c in chunk_document(d, settings)]
