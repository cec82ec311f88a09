"""BM25 built when the index is written, saved in bm25s's format and memory-mapped when it opens.

Why: rebuilding BM25 from every chunk's tokens at each start took minutes at a million chunks.
Each row's tokens are kept as a bag of (token id, count) in an append-only file
(``terms.bin`` / ``terms.end``), so a version's BM25 is computed from those bags with numpy, never
by re-tokenising, and written with ``bm25s.BM25.save``; opening it is ``BM25.load(mmap=True)``.
The arithmetic is bm25s's own (Lucene variant, k1=1.5, b=0.75, float32 scores), so scores equal
those of ``bm25s.BM25().index(tokens)`` over the live chunks bit for bit; a test checks it.
An update rebuilds the BM25 arrays (idf and the average length change with every chunk added)
from the stored bags, which costs seconds, not a re-tokenisation.
"""
from __future__ import annotations

import math
from itertools import islice
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .rowarrays import RaggedRows, RaggedView

K1, B = 1.5, 0.75
PLACEHOLDER = "\u2400"  # the one token of a chunk without any, as bm25s was always given
TERMS = "terms"


def term_rows(folder: Path) -> RaggedRows:
    """Per row: (token id, count) pairs."""
    return RaggedRows(folder, TERMS, np.int32, 2)


def bags(token_lists: list[list[str]], vocab: dict[str, int]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(pairs per row, (token id, count) pairs, tokens new to ``vocab``) of ``token_lists``; the new
    tokens are added to ``vocab`` with the next ids."""
    before = len(vocab)
    lists = [toks or [PLACEHOLDER] for toks in token_lists]
    lengths = np.fromiter((len(t) for t in lists), np.int64, len(lists))
    ids = np.fromiter((vocab.setdefault(t, len(vocab)) for toks in lists for t in toks), np.int64, int(lengths.sum()))
    rows = np.repeat(np.arange(len(lists), dtype=np.int64), lengths)
    keys, counts = np.unique((rows << 32) | ids, return_counts=True)
    per_row = np.bincount(keys >> 32, minlength=len(lists))
    new = list(islice(reversed(vocab), len(vocab) - before))[::-1]
    return per_row, np.stack([keys & 0xFFFFFFFF, counts], axis=1).astype(np.int32), new


def build_bm25(view: RaggedView, live: np.ndarray, n_vocab: int) -> dict:
    """bm25s's score arrays over the ``live`` rows (a bool mask of every row; dead rows score 0)."""
    n_rows = len(live)
    pairs = np.asarray(view.items)
    counts = np.where(live, view.counts()[:n_rows], 0)
    keep = None if live.all() else np.repeat(live, view.counts()[:n_rows])
    ids = np.ascontiguousarray(pairs[:, 0] if keep is None else pairs[keep, 0])
    tf = np.ascontiguousarray(pairs[:, 1] if keep is None else pairs[keep, 1])
    ends = np.cumsum(counts)
    totals = np.concatenate([[0], np.cumsum(tf, dtype=np.int64)])
    lengths = totals[ends] - totals[ends - counts]  # each row's token count (bm25s's len(doc))
    n_live = int(live.sum())
    avg = lengths[live].mean() if n_live else 1.0
    df = np.bincount(ids, minlength=n_vocab)
    # bm25s's _score_tfc_robertson, tf / (k1 * ((1 - b) + b * l_d / l_avg) + tf), in the same
    # operation order and in float64 as bm25s's mixed float32/float64 arithmetic promotes to
    # (exactly); the part that depends on the row alone is computed once per row
    per_row = K1 * ((1 - B) + B * lengths / avg)
    tf = tf.astype(np.float64)
    tfc = tf / (np.repeat(per_row, counts) + tf)
    idf = _idf(df, n_live).astype(np.float64)  # the float32 idf bm25s multiplies by, widened exactly
    data = (idf[ids] * tfc).astype(np.float32)
    order = _column_order(ids, n_vocab)  # column-major, rows ascending within a column: bm25s's CSC
    indptr = np.zeros(n_vocab + 1, np.int64)
    np.cumsum(df, out=indptr[1:])
    rows = np.repeat(np.arange(n_rows, dtype=np.int32), counts)
    return {"data": data[order], "indices": rows[order], "indptr": indptr, "num_docs": n_rows}


def _column_order(ids: np.ndarray, n_vocab: int) -> np.ndarray:
    """A stable sort by token id (numpy sorts 16-bit keys by radix, several times faster)."""
    if n_vocab <= 1 << 16:
        return np.argsort(ids.astype(np.uint16), kind="stable")
    return np.argsort(ids, kind="stable")


def _idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    """bm25s's Lucene idf, computed with ``math.log`` as it does (once per distinct count), in float32."""
    values, inverse = np.unique(df, return_inverse=True)
    logs = [math.log(1 + (n_docs - v + 0.5) / (v + 0.5)) if v > 0 else 0.0 for v in values.tolist()]
    return np.asarray(logs, np.float64)[inverse].astype(np.float32)


def save_bm25(folder: Path, scores: dict, vocab: dict[str, int]) -> None:
    """Write through bm25s itself, with the tokens that occur in a live row."""
    import bm25s

    counts = np.diff(scores["indptr"])
    model = bm25s.BM25(k1=K1, b=B)
    model.scores = scores
    model.vocab_dict = {t: i for t, i in vocab.items() if i < len(counts) and counts[i] > 0}
    model.nonoccurrence_array = None
    model.save(str(folder), show_progress=False)


class DocFreq(Mapping):
    """token -> number of live chunks holding it, read from the BM25 column lengths."""

    def __init__(self, vocab: dict[str, int], indptr: np.ndarray):
        self._vocab, self._indptr = vocab, indptr

    def __getitem__(self, token: str) -> int:
        i = self._vocab[token]
        return int(self._indptr[i + 1] - self._indptr[i])

    def __contains__(self, token) -> bool:
        return token in self._vocab

    def __iter__(self):
        return iter(self._vocab)

    def __len__(self) -> int:
        return len(self._vocab)


class LexicalIndex:
    """A version's BM25, memory-mapped: scores of a query over every row, top-k by argpartition."""

    def __init__(self, folder: Path, n_live: int):
        import bm25s

        model = bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
        self.n_live = n_live
        self.num_docs = int(model.scores["num_docs"])
        self._data, self._indices = model.scores["data"], model.scores["indices"]
        self._indptr = np.asarray(model.scores["indptr"])
        vocab = model.vocab_dict
        vocab.pop(PLACEHOLDER, None)
        vocab.pop("", None)
        self.vocab = vocab
        self.vocabulary = set(vocab)
        self.doc_freq = DocFreq(vocab, self._indptr)

    def scores(self, tokens: list[str], lo: int = 0, hi: int | None = None) -> np.ndarray:
        """bm25s's ``get_scores`` for rows lo..hi-1: float32 sums in query-token order, with
        ``np.add.at`` as bm25s does (a token's rows are ascending, so a range of rows is a binary
        search into each token's postings)."""
        hi = self.num_docs if hi is None else hi
        scores = np.zeros(hi - lo, np.float32)
        for t in tokens:
            i = self.vocab.get(t)
            if i is None:
                continue
            start, end = int(self._indptr[i]), int(self._indptr[i + 1])
            if lo > 0 or hi < self.num_docs:
                rows = self._indices[start:end]
                start, end = start + np.searchsorted(rows, lo), start + np.searchsorted(rows, hi)
            rows = self._indices[start:end]
            np.add.at(scores, rows - lo if lo else rows, self._data[start:end])
        return scores

    def top(self, tokens: list[str], k: int, ranges: list[tuple[int, int]] | None = None) -> list[tuple[int, float]]:
        """(row, score) of the k best rows with a positive score, ties in row order (a stable
        sort's); with ``ranges`` (documents), only their rows are scored."""
        if ranges is None:
            scores, rows = self.scores(tokens), None
        else:
            parts = [(self.scores(tokens, lo, hi), np.arange(lo, hi)) for lo, hi in sorted(ranges)]
            scores = np.concatenate([p[0] for p in parts] or [np.zeros(0, np.float32)])
            rows = np.concatenate([p[1] for p in parts] or [np.zeros(0, np.int64)])
        best = top_k(scores, k)
        found = best if rows is None else rows[best]
        return [(int(r), float(s)) for r, s in zip(found, scores[best])]


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k highest positive scores, as ``np.argsort(-scores, kind="stable")`` orders
    them, without sorting every score. A bound at or under the k-th highest comes from a sample
    (the k-th highest of a subset is never above the whole's), argpartition finds it, and only the
    scores at or above it (ties included) are sorted."""
    if k <= 0:
        return np.zeros(0, np.int64)
    bound = np.float32(0)
    step = len(scores) // (64 * k)
    if step > 1:
        sample = scores[::step]
        if np.count_nonzero(sample > 0) >= k:
            bound = -np.partition(-sample, k - 1)[k - 1]
    candidates = np.flatnonzero(scores >= bound) if bound > 0 else np.flatnonzero(scores > 0)
    if len(candidates) > k:
        kth = scores[candidates[np.argpartition(-scores[candidates], k - 1)[:k]]].min()
        candidates = candidates[scores[candidates] >= kth]
    order = np.argsort(-scores[candidates], kind="stable")[:k]
    return candidates[order]
