"""Append-only arrays on disk, read as memory maps of the prefix one index version knows.

Why: per-row data (sentence vectors, BM25 term bags) must neither be parsed whole when an index
opens (a million chunks hold several GB of sentence vectors) nor be rewritten by an update. A
version records how many records it uses; a writer truncates what an interrupted build left past
the live version's length, then appends. Readers of older versions only ever read their prefix.
"""
from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np


class RowArray:
    """A raw file of fixed-width records (``dtype`` × ``width``)."""

    def __init__(self, path: Path, dtype, width: int = 1):
        self.path, self.dtype, self.width = Path(path), np.dtype(dtype), width
        self.record = self.dtype.itemsize * width

    def count(self) -> int:
        """Records on disk (more than a version uses after an interrupted build)."""
        try:
            return self.path.stat().st_size // self.record
        except FileNotFoundError:
            return 0

    def truncate(self, n: int) -> None:
        """Drop records past ``n``: what a killed writer appended for a version never published."""
        if self.count() > n:
            os.truncate(self.path, n * self.record)
        elif not self.path.exists():
            self.path.touch()

    def append(self, values: np.ndarray) -> None:
        values = np.ascontiguousarray(values, dtype=self.dtype)
        if values.size:
            with open(self.path, "ab") as f:
                f.write(values.tobytes())

    def sync(self) -> None:
        """On disk before the manifest that counts these records is written."""
        with open(self.path, "ab") as f:
            os.fsync(f.fileno())

    def view(self, n: int) -> np.ndarray:
        """The first ``n`` records, memory-mapped (nothing is read until used)."""
        shape = (n, self.width) if self.width > 1 else (n,)
        if n == 0:
            return np.zeros(shape, self.dtype)
        if self.count() < n:
            raise ValueError(f"{self.path.name} holds {self.count()} records, the index uses {n}")
        return random_access(np.memmap(self.path, dtype=self.dtype, mode="r", shape=shape))


def random_access(array: np.memmap) -> np.memmap:
    """Tell the kernel these pages are read at random: a question reads a few rows, and read-around
    would map ~128 KB per row touched (a million-chunk index would end up resident for nothing)."""
    handle = getattr(array, "_mmap", None)
    if handle is not None and hasattr(mmap, "MADV_RANDOM"):
        handle.madvise(mmap.MADV_RANDOM)
    return array


class RaggedRows:
    """Variable-length rows: records in ``<name>.<ext>`` and each row's end offset in ``<name>.end``."""

    def __init__(self, folder: Path, name: str, dtype, width: int = 1):
        self.items = RowArray(folder / f"{name}.bin", dtype, width)
        self.ends = RowArray(folder / f"{name}.end", np.int64)

    def truncate(self, rows: int, items: int) -> None:
        self.ends.truncate(rows)
        self.items.truncate(items)

    def append(self, first_item: int, counts, values: np.ndarray) -> int:
        """Append rows of ``counts`` records each; returns the new item total."""
        ends = first_item + np.cumsum(np.asarray(counts, np.int64))
        self.items.append(values)
        self.ends.append(ends)
        return int(ends[-1]) if len(ends) else first_item

    def sync(self) -> None:
        self.items.sync()
        self.ends.sync()

    def open(self, rows: int, items: int) -> "RaggedView":
        return RaggedView(self.ends.view(rows), self.items.view(items))


class RaggedView:
    """Read side of ``RaggedRows``: ``row(i)`` is a memory-mapped slice."""

    def __init__(self, ends: np.ndarray, items: np.ndarray):
        self.ends, self.items = ends, items

    def bounds(self, row: int) -> tuple[int, int]:
        start = int(self.ends[row - 1]) if row > 0 else 0
        return start, int(self.ends[row])

    def row(self, row: int) -> np.ndarray:
        start, end = self.bounds(row)
        return self.items[start:end]

    def counts(self) -> np.ndarray:
        return np.diff(np.asarray(self.ends), prepend=0)


class RowReader:
    """Fixed-width records read with ``os.pread`` from a descriptor opened now.

    Why not a memory map: a question reads a few scattered rows (IVF candidates, the sentences of
    the passages it ranks), and every page fault on a map also maps the neighbouring cached pages
    (the kernel's fault-around), so a long-running process would end up with the whole file
    resident. A read copies just the rows; the open descriptor keeps working after a writer
    replaced and deleted the file."""

    def __init__(self, path: Path, dtype, width: int = 1, offset: int = 0):
        self.dtype, self.width, self.offset = np.dtype(dtype), width, offset
        self.record = self.dtype.itemsize * width
        self._fd = os.open(path, os.O_RDONLY)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Records start..stop-1."""
        n = max(0, stop - start)
        data = os.pread(self._fd, n * self.record, self.offset + start * self.record) if n else b""
        if len(data) != n * self.record:
            raise ValueError(f"short read: records {start}..{stop} are past the end of the file")
        return np.frombuffer(data, self.dtype).reshape(n, self.width) if self.width > 1 else np.frombuffer(data, self.dtype)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Records of ``rows`` (any order), one read per run of consecutive rows."""
        rows = np.asarray(rows, np.int64)
        out = np.empty((len(rows), self.width) if self.width > 1 else len(rows), self.dtype)
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        breaks = np.flatnonzero(np.diff(sorted_rows) != 1) + 1
        for run in np.split(np.arange(len(rows)), breaks):
            if len(run):
                first, last = int(sorted_rows[run[0]]), int(sorted_rows[run[-1]])
                block = self.read(first, last + 1)
                out[order[run]] = block[sorted_rows[run] - first]
        return out

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self):
        try:
            self.close()
        except OSError:
            pass
