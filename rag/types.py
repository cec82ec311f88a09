"""The data types passed between every stage: defined once, used everywhere."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Block:
    """A paragraph (or heading line) of cleaned text, with its section path."""

    start: int
    end: int
    section: tuple[str, ...]
    is_heading: bool = False


@dataclass
class Document:
    doc_id: str  # the file name relative to the corpus folder
    title: str
    text: str  # cleaned text; every offset in the product points into this string
    blocks: list[Block]
    sha256: str  # of the raw file bytes, for staleness checks
    publisher: str | None = None
    date: str | None = None
    source_path: str | None = None


@dataclass(frozen=True)
class Chunk:
    chunk_id: str  # stable: derived from document id, span and text
    doc_id: str
    title: str
    section: tuple[str, ...]
    start: int  # span in Document.text
    end: int
    text: str  # == Document.text[start:end]

    def context_text(self) -> str:
        """What embedding and lexical search see: title and section give the passage its subject."""
        path = " > ".join((self.title, *self.section))
        return f"{path}\n{self.text}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["section"] = list(self.section)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Chunk":
        return cls(**{**d, "section": tuple(d["section"])})


Reason = Literal["dense", "lexical", "both"]


@dataclass
class Hit:
    chunk: Chunk
    score: float  # fused score (or the single retriever's score)
    reason: Reason
    dense_score: float | None = None
    lexical_score: float | None = None
    dense_rank: int | None = None
    lexical_rank: int | None = None

    def to_dict(self) -> dict:
        return {
            "chunk_id": self.chunk.chunk_id,
            "doc": self.chunk.doc_id,
            "title": self.chunk.title,
            "section": list(self.chunk.section),
            "text": self.chunk.text,
            "score": round(self.score, 6),
            "reason": self.reason,
            "dense_score": None if self.dense_score is None else round(self.dense_score, 6),
            "lexical_score": None if self.lexical_score is None else round(self.lexical_score, 6),
        }


@dataclass
class Citation:
    n: int  # the marker number used in the answer: [n]
    chunk: Chunk
    start: int  # span of the supporting sentence inside chunk.text
    end: int

    @property
    def sentence(self) -> str:
        return self.chunk.text[self.start : self.end]

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "doc": self.chunk.doc_id,
            "title": self.chunk.title,
            "section": " > ".join(self.chunk.section),
            "text": self.chunk.text,
            "start": self.start,
            "end": self.end,
            "sentence": self.sentence,
            "chunk_id": self.chunk.chunk_id,
        }


@dataclass
class Answer:
    question: str
    text: str  # with [n] markers; the refusal message when refused
    refused: bool
    citations: list[Citation]
    hits: list[Hit]  # everything retrieved, in rank order
    lang: str = "zh"
    mode: str = "extractive"
    search_question: str | None = None  # the rewritten question, when a follow-up was rewritten
    timings_ms: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # verification and fallback remarks
    unverified: list[str] = field(default_factory=list)  # figures that no cited passage supports

    def as_turn(self) -> dict:
        """This answer as one turn of a conversation's history (what ``history=`` takes)."""
        return {
            "question": self.question,
            "answer": "" if self.refused else self.text,
            "search_question": self.search_question,
            "refused": self.refused,
            "citations": [{"doc": c.chunk.doc_id, "section": " > ".join(c.chunk.section), "chunk_id": c.chunk.chunk_id}
                          for c in self.citations],
        }

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": "" if self.refused else self.text,
            "message": self.text,
            "refused": self.refused,
            "lang": self.lang,
            "mode": self.mode,
            "search_question": self.search_question,
            "citations": [c.to_dict() for c in self.citations],
            "contexts": [h.to_dict() for h in self.hits],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "notes": list(self.notes),
            "unverified": list(self.unverified),
        }
