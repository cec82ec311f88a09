"""Serving an index past one machine: FAISS shards searched in parallel, results merged by score.

Why: one machine's memory bounds one FAISS index. Split the vectors into shards (each an
IVF-PQ index trained on a sample, on its own machine or process), send every query to all
shards at once, and keep the best k of their answers. Each shard returns its own top k, and
the global top k is necessarily among them, so for exact shards the merged list is the one a
single index over all vectors would give (``tests/test_shards.py`` checks it with real FAISS);
approximate shards (IVF, PQ) lose only what each loses alone. The README's "Past one
machine" section has the design; only the merge is code here.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np


def merge_topk(results: Sequence[tuple[np.ndarray, np.ndarray]], k: int, offsets: Sequence[int] | None = None,
               higher_is_better: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The global top-k (scores, ids), each of shape (queries, k), from every shard's
    ``index.search`` answer.

    ``offsets[i]`` turns shard i's row numbers into global ids (shards holding consecutive
    slices); None when the shards already return global ids (``IndexIDMap``). FAISS's -1
    padding (a shard with fewer than k vectors) is dropped; the answer is padded the same
    way. Equal scores are ordered by id, so the merge is deterministic."""
    if not results:
        raise ValueError("no shard results to merge")
    scores = np.concatenate([np.asarray(s, np.float32) for s, _ in results], axis=1)
    ids = np.concatenate([_global_ids(i, offsets[n] if offsets is not None else 0) for n, (_, i) in enumerate(results)],
                         axis=1)
    worst = -np.inf if higher_is_better else np.inf
    scores = np.where(ids < 0, worst, scores)
    order = np.lexsort((ids, -scores if higher_is_better else scores), axis=-1)[:, :k]
    top_scores, top_ids = np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)
    return _pad(top_scores, top_ids, k, worst)


def _global_ids(ids: np.ndarray, offset: int) -> np.ndarray:
    ids = np.asarray(ids, np.int64)
    return np.where(ids < 0, -1, ids + offset)


def _pad(scores: np.ndarray, ids: np.ndarray, k: int, worst: float) -> tuple[np.ndarray, np.ndarray]:
    """FAISS's convention for missing results: id -1 (and the worst score), up to k columns."""
    missing = ids < 0
    ids, scores = np.where(missing, -1, ids), np.where(missing, worst, scores)
    if ids.shape[1] < k:
        extra = k - ids.shape[1]
        ids = np.pad(ids, ((0, 0), (0, extra)), constant_values=-1)
        scores = np.pad(scores, ((0, 0), (0, extra)), constant_values=worst)
    return scores.astype(np.float32), ids


def search_shards(shards: Sequence, queries: np.ndarray, k: int, offsets: Sequence[int] | None = None,
                  workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Search every shard at once (FAISS releases the GIL, so threads run in parallel; remote
    shards would be the same calls over the network) and merge the answers.

    ``offsets`` default: the shards hold consecutive slices, in order; pass zeros for shards
    that return global ids."""
    import faiss

    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if offsets is None:
        offsets = np.cumsum([0] + [s.ntotal for s in shards[:-1]]).tolist()
    with ThreadPoolExecutor(max_workers=workers or len(shards)) as pool:
        results = list(pool.map(lambda shard: shard.search(queries, k), shards))
    higher = shards[0].metric_type == faiss.METRIC_INNER_PRODUCT
    return merge_topk(results, k, offsets, higher_is_better=higher)
