"""Shard merging: top-k lists of several FAISS shards, merged by score, are the answer of one
index over all the vectors (real FAISS, random unit vectors)."""
import faiss
import numpy as np
import pytest

from index.shards import merge_topk, search_shards

SIZES = (400, 350, 247, 3)  # uneven, and one shard smaller than k


def _vectors(n, dim=32, seed=0):
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _split(vectors, make):
    shards, start = [], 0
    for size in SIZES:
        shard = make(vectors.shape[1])
        shard.add(vectors[start : start + size])
        shards.append(shard)
        start += size
    return shards


@pytest.mark.parametrize("make", [faiss.IndexFlatIP, faiss.IndexFlatL2], ids=["inner-product", "l2"])
def test_flat_shards_merge_to_the_single_index(make):
    vectors, queries, k = _vectors(sum(SIZES)), _vectors(7, seed=1), 10
    whole = make(vectors.shape[1])
    whole.add(vectors)
    expected_scores, expected_ids = whole.search(queries, k)
    scores, ids = search_shards(_split(vectors, make), queries, k)
    assert np.array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=1e-5)


def test_shards_with_global_ids_and_exhaustive_ivf():
    """IVF shards probing every list are exact too; IndexIDMap shards return global ids (offsets 0)."""
    vectors, queries, k = _vectors(sum(SIZES)), _vectors(5, seed=2), 8
    whole = faiss.IndexFlatIP(vectors.shape[1])
    whole.add(vectors)
    expected_scores, expected_ids = whole.search(queries, k)
    shards, start = [], 0
    for size in SIZES[:3]:
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(32), 32, 4, faiss.METRIC_INNER_PRODUCT)
        part = vectors[start : start + size]
        ivf.train(part)
        ivf.nprobe = 4
        shard = faiss.IndexIDMap(ivf)
        shard.add_with_ids(part, np.arange(start, start + size, dtype=np.int64))
        shards.append(shard)
        start += size
    tail = faiss.IndexIDMap(faiss.IndexFlatIP(32))
    tail.add_with_ids(vectors[start:], np.arange(start, len(vectors), dtype=np.int64))
    scores, ids = search_shards(shards + [tail], queries, k, offsets=[0] * 4)
    assert np.array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=1e-5)


def test_merge_pads_drops_missing_and_orders_ties_by_id():
    a = (np.array([[0.9, 0.5, -np.inf]], np.float32), np.array([[0, 1, -1]]))
    b = (np.array([[0.5, 0.7]], np.float32), np.array([[0, 1]]))
    scores, ids = merge_topk([a, b], 6, offsets=[0, 10])
    assert ids.tolist() == [[0, 11, 1, 10, -1, -1]]
    assert scores[0, :4].tolist() == pytest.approx([0.9, 0.7, 0.5, 0.5]) and np.isneginf(scores[0, 4:]).all()
    with pytest.raises(ValueError):
        merge_topk([], 3)
