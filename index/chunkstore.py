"""Chunk text and metadata, documents and the BM25 vocabulary in SQLite, read by row id.

Why SQLite: an index of a million chunks must open in seconds, so nothing is parsed whole at
start; a question reads the few rows it cites (a primary-key lookup each). The tables are
append-only within a generation: an update inserts the rows of added or changed documents after
the existing ones and never rewrites them; a version says how many rows it uses, so rows a
killed build left behind are deleted by the next writer. WAL mode: readers never wait for one.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from rag.types import Block, Chunk, Document

DB_NAME = "store.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (row INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL, doc_id TEXT NOT NULL,
    title TEXT NOT NULL, section TEXT NOT NULL, start INTEGER NOT NULL, stop INTEGER NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_id ON chunks(chunk_id);
CREATE TABLE IF NOT EXISTS documents (row INTEGER PRIMARY KEY, doc_id TEXT NOT NULL, title TEXT NOT NULL,
    text TEXT NOT NULL, sha256 TEXT NOT NULL, publisher TEXT, date TEXT, source_path TEXT, blocks TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vocab (id INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE);
"""
_CHUNK_COLUMNS = "row, chunk_id, doc_id, title, section, start, stop, text"
_BATCH = 900  # bound parameters per statement (SQLite allows 999 by default on old builds)


def _chunk(row: tuple) -> Chunk:
    _, chunk_id, doc_id, title, section, start, stop, text = row
    return Chunk(chunk_id, doc_id, title, tuple(json.loads(section)), start, stop, text)


def _chunk_values(row: int, c: Chunk) -> tuple:
    return (row, c.chunk_id, c.doc_id, c.title, json.dumps(list(c.section), ensure_ascii=False), c.start, c.end, c.text)


def _document_values(row: int, d: Document) -> tuple:
    blocks = json.dumps([[b.start, b.end, list(b.section), b.is_heading] for b in d.blocks], ensure_ascii=False)
    return (row, d.doc_id, d.title, d.text, d.sha256, d.publisher, d.date, d.source_path, blocks)


class ChunkStore:
    """One SQLite connection shared by the threads of a process (a lock serialises its use).

    The connection is opened when the index is opened, so a reader keeps working from the files
    it opened even after a writer replaced the generation and deleted them.
    """

    def __init__(self, folder: Path, writable: bool = False):
        self.path = Path(folder) / DB_NAME
        if not writable and not self.path.is_file():
            raise FileNotFoundError(f"{self.path} is missing")
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=60)
        self._lock = threading.Lock()
        if writable:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        self._db.execute("SELECT count(*) FROM chunks WHERE row < 0").fetchone()  # opens the WAL files now

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ reading
    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        """The chunks of ``rows``, in that order; KeyError for a row the store lacks."""
        found: dict[int, Chunk] = {}
        wanted = sorted(set(int(r) for r in rows))
        with self._lock:
            for i in range(0, len(wanted), _BATCH):
                part = wanted[i : i + _BATCH]
                sql = f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE row IN ({','.join('?' * len(part))})"
                found.update((r[0], _chunk(r)) for r in self._db.execute(sql, part))
        return [found[int(r)] for r in rows]

    def chunk_range(self, lo: int, hi: int) -> Iterator[tuple[int, Chunk]]:
        """(row, chunk) of rows lo..hi-1, in order, read in pages (for exports, never at open)."""
        for start in range(lo, hi, 5000):
            with self._lock:
                page = self._db.execute(f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE row >= ? AND row < ? ORDER BY row",
                                        (start, min(hi, start + 5000))).fetchall()
            yield from ((r[0], _chunk(r)) for r in page)

    def rows_of(self, chunk_id: str) -> list[int]:
        """Every row holding this chunk id (a changed document's old rows may share it)."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT row FROM chunks WHERE chunk_id = ?", (chunk_id,))]

    def document(self, row: int) -> Document:
        with self._lock:
            r = self._db.execute("SELECT * FROM documents WHERE row = ?", (row,)).fetchone()
        if r is None:
            raise KeyError(row)
        _, doc_id, title, text, sha, publisher, date, source_path, blocks = r
        return Document(doc_id, title, text, [Block(s, e, tuple(sec), h) for s, e, sec, h in json.loads(blocks)],
                        sha, publisher, date, source_path)

    def vocabulary(self) -> dict[str, int]:
        """token -> id of every token the generation has seen (for a writer appending rows)."""
        with self._lock:
            return dict(self._db.execute("SELECT token, id FROM vocab"))

    def count(self, table: str) -> int:
        key = "id" if table == "vocab" else "row"
        with self._lock:
            top = self._db.execute(f"SELECT max({key}) FROM {table}").fetchone()[0]
        return 0 if top is None else top + 1

    # ------------------------------------------------------------------ writing (under the index lock)
    def truncate(self, rows: int, documents: int, vocab: int) -> None:
        """Forget what a killed build appended past the live version."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM chunks WHERE row >= ?", (rows,))
            self._db.execute("DELETE FROM documents WHERE row >= ?", (documents,))
            self._db.execute("DELETE FROM vocab WHERE id >= ?", (vocab,))

    def append(self, first_row: int, chunks: Iterable[Chunk], first_doc: int, documents: Iterable[Document],
               first_token: int, tokens: Iterable[str]) -> None:
        """Insert rows after the existing ones, in one transaction."""
        with self._lock, self._db:
            self._db.executemany(f"INSERT INTO chunks ({_CHUNK_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
                                 (_chunk_values(first_row + i, c) for i, c in enumerate(chunks)))
            self._db.executemany("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?)",
                                 (_document_values(first_doc + i, d) for i, d in enumerate(documents)))
            self._db.executemany("INSERT INTO vocab (id, token) VALUES (?, ?)",
                                 ((first_token + i, t) for i, t in enumerate(tokens)))
