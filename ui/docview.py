"""The document view: a cited passage read in its document.

The cleaned text (the one every offset points into) is shown whole, headings set apart, the
cited passage shaded and its supporting sentence highlighted, with the section path as a
breadcrumb. Everything from the document is escaped; the only markup is ours.
"""
from __future__ import annotations

import html
import json

from rag.types import Document

esc = html.escape


def parse_request(raw: str) -> dict | None:
    """The page script's request: {"doc", "start", "end", "s", "e"} (character offsets), or None if malformed."""
    try:
        req = json.loads(raw or "")
    except ValueError:
        return None
    if not isinstance(req, dict) or not isinstance(req.get("doc"), str):
        return None
    spans = {}
    for key in ("start", "end", "s", "e"):
        value = req.get(key, 0)
        spans[key] = value if isinstance(value, int) and value >= 0 else 0
    return {"doc": req["doc"], **spans}


def _section_at(doc: Document, pos: int) -> tuple[str, ...]:
    for block in doc.blocks:
        if block.start <= pos < block.end or pos < block.start:
            return block.section
    return doc.blocks[-1].section if doc.blocks else ()


def breadcrumb(doc: Document, pos: int | None) -> str:
    section = _section_at(doc, pos) if pos is not None else ()
    parts = [doc.title, *(p for p in section if p.strip("《》 ") != doc.title.strip("《》 "))]  # the title heading once
    crumbs = " <span class='dv-sep'>›</span> ".join(f"<span class='dv-crumb'>{esc(p)}</span>" for p in parts)
    meta = " · ".join(esc(x) for x in (doc.publisher, doc.date, doc.doc_id) if x)
    return (f'<div class="dv-head"><nav class="dv-breadcrumb" aria-label="section">{crumbs}</nav>'
            f'<div class="dv-meta">{meta}</div></div>')


def render(doc: Document, start: int = 0, end: int = 0, s: int = 0, e: int = 0) -> str:
    """The whole document as HTML, the passage [start, end) shaded and the sentence [s, e) marked."""
    n = len(doc.text)
    start, end = min(start, n), min(max(end, start), n)
    s, e = min(max(s, start), end), min(max(e, s), end)
    marks = {"passage": (start, end) if end > start else None, "sentence": (s, e) if e > s else None}
    first = {"passage": True, "sentence": True}
    out = [breadcrumb(doc, s if e > s else (start if end > start else None)), '<div class="dv-text">']
    for block in doc.blocks:
        tag = "h4" if block.is_heading else "p"
        inner = "".join(_segment(doc.text, a, b, marks, first) for a, b in _cuts(block.start, block.end, marks))
        out.append(f'<{tag} class="dv-block{" dv-heading" if block.is_heading else ""}" data-start="{block.start}">{inner}</{tag}>')
    out.append("</div>")
    return "".join(out)


def _cuts(a: int, b: int, marks: dict) -> list[tuple[int, int]]:
    points = {a, b}
    for span in marks.values():
        if span:
            points.update(p for p in span if a < p < b)
    ordered = sorted(points)
    return list(zip(ordered, ordered[1:]))


def _segment(text: str, a: int, b: int, marks: dict, first: dict) -> str:
    body = esc(text[a:b])
    for kind, cls, tag in (("sentence", "support", "mark"), ("passage", "dv-passage", "span")):
        span = marks[kind]
        if span and span[0] <= a and b <= span[1]:
            ident = ""
            if first[kind]:
                ident, first[kind] = f' id="dv-{kind}"', False
            body = f'<{tag} class="{cls}"{ident}>{body}</{tag}>'
    return body


def not_found(doc_id: str) -> str:
    return (f'<div class="dv-missing">文档不在当前索引中 This document is not in the index (any more): '
            f'{esc(doc_id)}</div>')


def as_dict(doc: Document) -> dict:
    """The /document API's answer: the cleaned text and its blocks, which every offset points into."""
    return {"doc": doc.doc_id, "title": doc.title, "publisher": doc.publisher, "date": doc.date, "text": doc.text,
            "blocks": [{"start": b.start, "end": b.end, "section": list(b.section), "heading": b.is_heading}
                       for b in doc.blocks]}
