"""A conversation's earlier turns, as every entry point passes them, and what they lend the
next turn: the previous question as resolved (for rewriting) and a retrieval prior.

History items are earlier questions (strings, oldest first) or turns as returned by
``Answer.as_turn()``: ``{"question", "answer", "search_question", "refused", "citations":
[{"doc", "section", "chunk_id"}]}``. With answers and citations, the prior points at the
passage the last answer came from; with questions only, at the passages the previous
question retrieves.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .text import detect_language

TURN_FIELDS = ("question", "answer", "search_question", "refused", "citations")
CITATION_FIELDS = ("doc", "section", "chunk_id")


@dataclass
class Cited:
    doc: str
    section: tuple[str, ...] = ()
    chunk_id: str | None = None


@dataclass
class Turn:
    question: str
    answer: str | None = None
    search_question: str | None = None  # what it was searched as, when it was rewritten
    refused: bool | None = None
    citations: list[Cited] = field(default_factory=list)

    @property
    def lang(self) -> str:
        return reading_lang(self.question, self.search_question or self.question)

    @classmethod
    def from_item(cls, item) -> "Turn":
        """A history item (already validated by ``rag.limits.check_history``) as a Turn."""
        if isinstance(item, Turn):
            return item
        if isinstance(item, str):
            return cls(item.strip())
        cites = [Cited(c["doc"], _section(c.get("section")), c.get("chunk_id")) for c in item.get("citations") or []]
        return cls(item["question"].strip(), item.get("answer"), item.get("search_question") or None,
                   item.get("refused"), cites)


def reading_lang(question: str, resolved: str) -> str:
    """The language a resolved question is read in: the asker's when they wrote English and it
    still reads as English ("By when does 合肥阳光电源零碳产业园 plan …?" is an English question
    with a Chinese name), otherwise the language it is mostly in."""
    if detect_language(question) == "en" and len(re.findall(r"[A-Za-z]{2,}", resolved)) >= 3:
        return "en"
    return detect_language(resolved)


def _section(value) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        return tuple(s.strip() for s in value.split(" > ") if s.strip())
    return tuple(value)


def parse_history_text(text: str, name: str = "history") -> list:
    """History as a file holds it: a JSON list (of questions or turns), JSON lines (one question
    or turn a line, e.g. the output of `rag ask --json`), or plain text (one question a line)."""
    import json

    stripped = text.strip()
    if not stripped:
        return []
    if stripped.startswith("["):
        try:
            return json.loads(stripped)
        except ValueError as exc:
            raise ValueError(f"{name}: not valid JSON ({exc})") from None
    if stripped.startswith("{"):
        try:  # one pretty-printed object (rag ask --json), or one object a line
            return [json.loads(stripped)]
        except ValueError:
            pass
    items = []
    for n, line in enumerate(stripped.split("\n"), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(("{", '"')):
            try:
                items.append(json.loads(line))
                continue
            except ValueError as exc:
                raise ValueError(f"{name}, line {n}: not valid JSON ({exc})") from None
        items.append(line)
    return items


def turns_of(history) -> list[Turn]:
    return [Turn.from_item(h) for h in (history or []) if (h.strip() if isinstance(h, str) else True)]


@dataclass
class Prior:
    """What the previous turn lends the next turn's retrieval: the passages, sections and
    documents its answer came from (boosted) and its key terms (searched at lower weight)."""

    chunks: set[str] = field(default_factory=set)
    sections: set[tuple[str, tuple[str, ...]]] = field(default_factory=set)
    docs: set[str] = field(default_factory=set)
    terms: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.chunks or self.sections or self.docs or self.terms)


def prior_from(cited: list[Cited], terms: list[str]) -> Prior:
    return Prior({c.chunk_id for c in cited if c.chunk_id}, {(c.doc, c.section) for c in cited},
                 {c.doc for c in cited}, list(dict.fromkeys(terms)))


def unnamed_subject(answer, names: tuple[list[str], list[str]]) -> tuple[str, str | None] | None:
    """When a follow-up named a new subject ("南川省石楠县呢？" after 岚峪县) but the passage its
    answer cites never names it, that answer is about something else — usually the previous
    subject. Returns (the subject asked about, the previous subject the passage names or None),
    or None when the passage names the new subject. Only Chinese names are compared (the
    passages' language)."""
    from .gazetteer import place_stem

    if answer.refused or not answer.citations:
        return None
    new, old = ([n for n in group if re.search(r"[\u4e00-\u9fff]", n)] for group in names)
    old = [n for n in old if n not in new and not any(n in m for m in new)]
    if not new:
        return None
    context = "\n".join(c.chunk.context_text() for c in answer.citations)

    def named(name: str) -> bool:
        return name in context or (place_stem(name) or name) in context

    if any(named(n) for n in new):
        return None
    return "".join(new), next((n for n in old if named(n)), None)
