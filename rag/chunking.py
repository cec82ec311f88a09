"""Sentence-aware chunking, sized in tiktoken tokens.

Chunks never cross a section boundary (so every chunk has one section path; a heading
starts its section's first chunk), never cut
inside a sentence (a sentence longer than the budget is cut at clause boundaries, never
inside a number), and overlap by whole sentences.
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


def _units(text: str, start: int, end: int, budget: int) -> list[tuple[int, int, int]]:
    """(start, end, tokens) sentence units of a block; over-long sentences split at clauses."""
    units = []
    for s, e in sentence_spans(text, start, end):
        n = count_tokens(text[s:e])
        if n <= budget:
            units.append((s, e, n))
            continue
        piece_start = prev_end = s
        for _, ce in clause_spans(text, s, e):
            # extend to include the clause's delimiter
            ce = min(e, ce + 1)
            if count_tokens(text[piece_start:ce]) > budget and prev_end > piece_start:
                # close the previous piece at the last clause end before this one; a single
                # clause over the budget stays whole rather than being cut mid-clause
                units.append((piece_start, prev_end, count_tokens(text[piece_start:prev_end])))
                piece_start = prev_end
            prev_end = ce
        if piece_start < e:
            units.append((piece_start, e, count_tokens(text[piece_start:e])))
    return [u for u in units if u[1] > u[0]]


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
