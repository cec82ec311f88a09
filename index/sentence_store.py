"""The answer scorer's sentence vectors per chunk row, append-only and memory-mapped.

Why: at a million chunks they are several GB (about 3.7 sentences of 384 floats per chunk), so
they are never read when the index opens; a question reads the sentences of the ~20 passages it
ranks. Layout: ``spans.bin`` / ``spans.end`` (each row's sentence spans inside its chunk text) and
``sentvec.bin`` (one vector per span, at the same item offsets).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from rag.text import sentence_spans
from rag.types import Chunk

from .rowarrays import RaggedRows, RowArray, RowReader


class SentenceFiles:
    def __init__(self, folder: Path, dim: int):
        self.spans = RaggedRows(folder, "spans", np.int32, 2)
        self.vectors = RowArray(folder / "sentvec.bin", np.float32, dim)

    def truncate(self, rows: int, items: int) -> None:
        self.spans.truncate(rows, items)
        self.vectors.truncate(items)

    def append(self, first_item: int, arrays: dict[str, np.ndarray]) -> int:
        """Append rows in the form ``SentenceVectors.to_arrays`` gives; returns the new item total."""
        if len(arrays["spans"]) != len(arrays["vectors"]):
            raise ValueError("sentence spans and vectors differ in number")
        self.vectors.append(arrays["vectors"])
        return self.spans.append(first_item, arrays["counts"], arrays["spans"])

    def sync(self) -> None:
        self.spans.sync()
        self.vectors.sync()

    def open(self, rows: int, items: int) -> "StoredSentences":
        if self.vectors.count() < items:
            raise ValueError(f"{self.vectors.path.name} holds {self.vectors.count()} vectors, the index uses {items}")
        return StoredSentences(self.spans.open(rows, items), RowReader(self.vectors.path, np.float32, self.vectors.width))


class StoredSentences:
    """What ``rag.answer.sentences.SentenceVectors`` answers, read by row: ``get(chunk)``.

    ``row_of`` (set by the store) maps a chunk to its live row, or None for a chunk the index
    does not hold (then spans only, as ``SentenceVectors.get`` does for an unknown chunk)."""

    embedded = 0  # nothing is embedded to open them

    def __init__(self, spans, vectors: RowReader, row_of: Callable[[Chunk], int | None] | None = None):
        self.spans, self.vectors, self.row_of = spans, vectors, row_of

    def get(self, chunk: Chunk) -> tuple[list[tuple[int, int]], np.ndarray | None]:
        row = self.row_of(chunk) if self.row_of else None
        if row is None:
            return sentence_spans(chunk.text), None
        start, end = self.spans.bounds(row)
        spans = [tuple(s) for s in np.asarray(self.spans.items[start:end]).tolist()]
        return spans, self.vectors.read(start, end).copy()

    def arrays(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """``SentenceVectors.to_arrays`` form of ``rows`` (copies), for rewriting them elsewhere."""
        bounds = [self.spans.bounds(int(r)) for r in rows]
        take = np.concatenate([np.arange(s, e) for s, e in bounds] or [np.zeros(0, np.int64)]).astype(np.int64)
        return {"counts": np.array([e - s for s, e in bounds], np.int32),
                "spans": np.asarray(self.spans.items[take]).reshape(-1, 2),
                "vectors": self.vectors.take(take).reshape(-1, self.vectors.width)}
