"""Dense vectors in immutable segments: a memory-mapped flat FAISS file per run of rows, and an IVF
index beside the big ones.

Why segments: an update appends its rows as a new segment instead of rewriting the vectors, and
a document's rows lie in one segment, contiguous, so the ``--doc`` filter is an
``IDSelectorRange`` over that segment's flat index: FAISS computes only that range's products.
Flat files are read with ``IO_FLAG_MMAP_IFC`` (zero copy: opening a million vectors reads
nothing). A segment of ``FLAT_MAX`` rows or more also gets an IVF index trained on a sample:
SQ8 codes while they fit ``ann_budget()`` bytes, PQ beyond; its candidates are re-scored exactly
from the flat vectors, so every score is the exact inner product. Small segments are searched
exactly, as before. Trailing small segments are merged once there are more than ``MAX_SMALL``.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .rowarrays import RowReader

FLAT_MAX = 50_000  # below this, exact search is fast enough (a few ms) and exact
MAX_SMALL = 4  # flat-only segments after the last IVF one before they are merged into one
ANN_CANDIDATES = 4  # IVF candidates re-scored exactly, per result wanted
_BATCH = 100_000


def ann_budget() -> int:
    """Bytes of IVF codes held in memory before PQ replaces SQ8: an eighth of RAM, at most 2 GiB."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = 8 << 30
    return min(2 << 30, ram // 8)


def describe(specs: list[dict]) -> str:
    """What ``rag info`` shows as the FAISS index."""
    kinds = sorted({s.get("ann_kind") or "IndexFlatIP" for s in specs}) or ["IndexFlatIP"]
    return " + ".join(kinds) + (f" ({len(specs)} segments)" if len(specs) > 1 else "")


class FlatWriter:
    """Streams vectors into a FAISS ``IndexFlatIP`` file, so that a million vectors are never held
    in memory at once. The header is FAISS's own (an empty index serialised by FAISS); its two
    counts are patched when the file is closed, and the file is then read back by FAISS."""

    def __init__(self, path: Path, dim: int):
        import faiss

        self.path, self.dim, self.n = Path(path), dim, 0
        self._head = bytes(faiss.serialize_index(faiss.IndexFlatIP(dim)))
        self._file = open(self.path, "wb")
        self._file.write(self._head)

    def add(self, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        self._file.write(vectors.tobytes())
        self.n += len(vectors)

    def close(self) -> None:
        f = self._file
        f.seek(8)  # ntotal, after the fourcc and the dimension
        f.write(np.int64(self.n).tobytes())
        f.seek(len(self._head) - 8)  # the code vector's length, in floats
        f.write(np.uint64(self.n * self.dim).tobytes())
        f.flush()
        os.fsync(f.fileno())
        f.close()

    def abort(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


def new_name(kind: str, lo: int) -> str:
    """Unique: a file a reader has open is never overwritten, only left unreferenced."""
    return f"{kind}-{lo}-{secrets.token_hex(4)}.faiss"


def open_flat(path: Path):
    """The flat index memory-mapped, and a numpy view of its vectors (valid while the index lives)."""
    import faiss

    index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
    view = faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d) if index.ntotal else np.zeros(0, np.float32)
    return index, np.asarray(view).reshape(index.ntotal, index.d)


def build_ann(vectors: np.ndarray, seed: int = 0):
    """An IVF index of ``vectors`` trained on a sample: SQ8 codes when they fit the budget, else PQ."""
    import faiss

    n, dim = vectors.shape
    nlist = int(min(4096, max(64, 2 ** round(np.log2(2 * np.sqrt(n))))))
    quantizer = faiss.IndexFlatIP(dim)
    if n * dim <= ann_budget():
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
    else:
        m = max(d for d in range(1, dim // 8 + 1) if dim % d == 0)
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
    sample = np.sort(np.random.default_rng(seed).choice(n, min(n, 40 * nlist), replace=False))
    index.train(np.ascontiguousarray(vectors[sample]))
    for start in range(0, n, _BATCH):
        index.add(np.ascontiguousarray(vectors[start : start + _BATCH]))
    index.nprobe = max(16, nlist // 64)
    return index


def write_ann(folder: Path, spec: dict, vectors: np.ndarray) -> dict:
    """Build and write a segment's IVF index; the spec with its file, kind and nprobe."""
    import faiss

    index = build_ann(vectors)
    name = new_name("ann", spec["lo"])
    faiss.write_index(index, str(folder / name))
    return {**spec, "ann": name, "ann_kind": type(index).__name__, "nprobe": int(index.nprobe)}


@dataclass
class Segment:
    """Rows lo..hi-1: their flat index (mmap), their IVF index if any, and a selector of live rows."""

    lo: int
    hi: int
    flat: object
    vectors: RowReader
    ann: object = None
    nprobe: int = 16
    live: object = None  # faiss.IDSelectorBitmap over local ids when some rows are dead
    _keep: list = field(default_factory=list)  # what the selector points into

    def params(self, sel=None):
        import faiss

        sel = sel if sel is not None else self.live
        if self.ann is not None and sel is None:
            return faiss.SearchParametersIVF(nprobe=self.nprobe)
        if self.ann is not None:
            return faiss.SearchParametersIVF(nprobe=self.nprobe, sel=sel)
        return faiss.SearchParameters(sel=sel) if sel is not None else None


def close_segment(folder: Path, writer: FlatWriter, lo: int, hi: int) -> dict:
    """The spec of a segment just written, with an IVF index when it is big."""
    writer.close()
    spec = {"name": writer.path.name, "lo": lo, "hi": hi}
    if hi - lo >= FLAT_MAX:
        index, vectors = open_flat(writer.path)
        spec = write_ann(folder, spec, vectors)
        del index  # only now: ``vectors`` points into it
    return spec


def merge_tail(folder: Path, specs: list[dict], dim: int) -> list[dict]:
    """Join the flat-only segments after the last IVF one when there are more than ``MAX_SMALL``
    or they reach ``FLAT_MAX`` rows (then the joined one gets an IVF index): searches stay few and
    exact ones small. Only those small segments are rewritten."""
    tail: list[dict] = []
    for spec in reversed(specs):
        if spec.get("ann"):
            break
        tail.insert(0, spec)
    rows = sum(s["hi"] - s["lo"] for s in tail)
    if len(tail) < 2 or (len(tail) <= MAX_SMALL and rows < FLAT_MAX):
        return specs
    writer = FlatWriter(folder / new_name("vec", tail[0]["lo"]), dim)
    for spec in tail:
        index, vectors = open_flat(folder / spec["name"])
        writer.add(vectors)
        del index
    return specs[: len(specs) - len(tail)] + [close_segment(folder, writer, tail[0]["lo"], tail[-1]["hi"])]


def _bitmap_selector(mask: np.ndarray):
    """A FAISS selector of the True positions of ``mask`` (the bitmap must outlive it)."""
    import faiss

    bits = np.packbits(mask, bitorder="little")
    return faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits)), bits


def vector_reader(path: Path, dim: int) -> RowReader:
    """The rows of a flat file read by ``pread`` (IVF candidates are re-scored from it: a few
    scattered rows per question)."""
    import faiss

    return RowReader(path, np.float32, dim, offset=len(faiss.serialize_index(faiss.IndexFlatIP(dim))))


def open_segment(folder: Path, spec: dict, live: np.ndarray) -> Segment:
    import faiss

    flat = faiss.read_index(str(folder / spec["name"]), faiss.IO_FLAG_MMAP_IFC)
    vectors = vector_reader(folder / spec["name"], flat.d)
    if flat.ntotal != spec["hi"] - spec["lo"]:
        raise ValueError(f"{spec['name']} holds {flat.ntotal} vectors, not {spec['hi'] - spec['lo']}")
    ann = faiss.read_index(str(folder / spec["ann"])) if spec.get("ann") else None
    seg = Segment(spec["lo"], spec["hi"], flat, vectors, ann, int(spec.get("nprobe", 16)))
    mask = live[spec["lo"] : spec["hi"]]
    if not mask.all():
        seg.live, bits = _bitmap_selector(mask)
        seg._keep.append(bits)
    return seg


class Segments:
    """A version's vectors: every segment open, searched together."""

    def __init__(self, folder: Path, specs: list[dict], live: np.ndarray, dim: int):
        self.dim = dim
        self.items = [open_segment(folder, s, live) for s in specs]
        self.ntotal = sum(s.hi - s.lo for s in self.items)

    def search(self, vector: np.ndarray, k: int, ranges: list[tuple[int, int]] | None = None):
        """Top-k (scores, rows) by inner product over the live rows, or only over ``ranges`` (documents)."""
        q = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        parts = ([self._in_range(q, k, lo, hi) for lo, hi in ranges] if ranges is not None
                 else [self._in_segment(q, k, s) for s in self.items])
        scores = np.concatenate([p[0] for p in parts] or [np.zeros(0, np.float32)])
        rows = np.concatenate([p[1] for p in parts] or [np.zeros(0, np.int64)])
        order = np.argsort(-scores, kind="stable")[:k]
        return scores[order], rows[order]

    def _in_segment(self, q: np.ndarray, k: int, seg: Segment):
        if seg.ann is None:
            scores, ids = seg.flat.search(q, min(k, seg.hi - seg.lo), params=seg.params())
            keep = ids[0] >= 0
            return scores[0][keep], ids[0][keep] + seg.lo
        _, ids = seg.ann.search(q, k * ANN_CANDIDATES, params=seg.params())
        ids = ids[0][ids[0] >= 0]
        exact = seg.vectors.take(ids) @ q[0]  # the IVF's codes are approximate; the flat vectors are not
        order = np.argsort(-exact, kind="stable")[:k]
        return exact[order].astype(np.float32), ids[order] + seg.lo

    def _in_range(self, q: np.ndarray, k: int, lo: int, hi: int):
        """Exact search of rows lo..hi-1 (one document): FAISS scans only that range of the flat index."""
        import faiss

        seg = self.segment_of(lo)
        sel = faiss.IDSelectorRange(lo - seg.lo, hi - seg.lo)
        scores, ids = seg.flat.search(q, min(k, hi - lo), params=faiss.SearchParameters(sel=sel))
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep] + seg.lo

    def segment_of(self, row: int) -> Segment:
        for seg in self.items:
            if seg.lo <= row < seg.hi:
                return seg
        raise KeyError(row)

    def vectors_of(self, rows: np.ndarray) -> np.ndarray:
        """Stored vectors of ``rows`` (copies), for updates and exports."""
        out = np.zeros((len(rows), self.dim), np.float32)
        for seg in self.items:
            inside = (rows >= seg.lo) & (rows < seg.hi)
            if inside.any():
                out[inside] = seg.vectors.take(rows[inside] - seg.lo)
        return out
