"""Scale benchmark: synthetic indexes of 10k, 100k and 1M chunks written through the real store code.

    python eval/bench_scale.py [--sizes 10000 100000 1000000] [--dir DIR] [--queries 200] [--keep]

Each synthetic index is written by ``index.writer.StoreWriter`` (what ``rag index`` uses) in
batches: documents of 100 chunks whose texts, sections, BM25 tokens and sentence spans are the
bundled corpus's real chunks drawn at random (permuted), with precomputed random unit vectors of
the model's dimension (384) for the chunks and their sentences. Per size it prints:

  write s       writing the index (SQLite rows, vector segments, IVF training on a sample for big
                segments, term bags, BM25, sentence vectors): the store code only, not making the data
  append s      an update adding one more 100-chunk document (appended; BM25 recomputed)
  load s        ``RagService.open`` of the index in a fresh process (the embedder included)
  disk MB       the index folder
  RSS MB        of that process: after opening, and after all the queries below (peak in brackets)
  dense ms      ``store.search`` of a question vector, top 30, p50/p95
  lexical ms    BM25 top 30 of a question's tokens, p50/p95
  ask ms        ``RagService.ask`` of a Chinese question (hybrid, extractive; the question's
                embedding included), p50/p95; in brackets the same less the ``embed_ms`` the
                service reports (analysing and embedding the question): the index's share
  doc ms        the ``--doc`` filter: dense search within one random document, p50/p95; and
                ``RagService.retrieve(question, docs=[doc])`` (hybrid, embedding included; in
                brackets less ``embed_ms``)

Questions: the Chinese questions of eval/dataset.jsonl and eval/user_questions.jsonl; the first 5
of each kind warm up and are not counted. Dense scores on random vectors say nothing about
recall: this measures time and memory. The machine is shared; the load average is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DOC_CHUNKS = 100
BATCH_DOCS = 50
WARMUP = 5


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))] if values else float("nan")


def unit(rng, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def questions() -> list[str]:
    out = []
    for name in ("dataset.jsonl", "user_questions.jsonl"):
        for line in (ROOT / "eval" / name).read_text(encoding="utf-8").splitlines():
            out.append(json.loads(line)["question"])
    random.Random(0).shuffle(out)
    return out


# ---------------------------------------------------------------------------- synthetic data
class Material:
    """The bundled corpus's chunks with their BM25 tokens and sentence spans, and its mined names."""

    def __init__(self):
        from rag.chunking import chunk_document
        from rag.documents import load_corpus
        from rag.gazetteer import mine_corpus
        from rag.settings import BUNDLED_CORPUS
        from rag.text import search_tokens, sentence_spans

        docs, _ = load_corpus(BUNDLED_CORPUS)
        self.real = min(docs, key=lambda d: len(d.text))  # a corpus file: opening checks the folder
        self.real_path = BUNDLED_CORPUS / self.real.doc_id
        self.chunks = [c for d in docs for c in chunk_document(d)]
        self.tokens = [search_tokens(c.context_text()) for c in self.chunks]
        self.spans = [np.array(sentence_spans(c.text), np.int32).reshape(-1, 2) for c in self.chunks]
        self.names = list(mine_corpus(docs).values())
        self.dim = 384

    def documents(self, rng, first: int, count: int, total_chunks: int):
        """Documents first..first+count-1 with their chunks, tokens and sentence arrays."""
        from rag.types import Block, Chunk, Document

        docs, chunks, tokens, counts, spans = [], [], [], [], []
        for i in range(first, first + count):
            n = min(DOC_CHUNKS, total_chunks - i * DOC_CHUNKS)
            sources = rng.integers(0, len(self.chunks), n)
            doc_id, pos, blocks, parts = f"syn/{i:07d}.txt", 0, [], []
            for j, s in enumerate(sources.tolist()):
                src = self.chunks[s]
                chunks.append(Chunk(f"syn{i:07d}-{j:03d}", doc_id, src.title, src.section, pos, pos + len(src.text),
                                    src.text))
                blocks.append(Block(pos, pos + len(src.text), src.section))
                parts.append(src.text)
                tokens.append(self.tokens[s])
                counts.append(len(self.spans[s]))
                spans.append(self.spans[s])
                pos += len(src.text) + 1
            title = f"{self.chunks[int(sources[0])].title}（合成 {i}）"
            docs.append(Document(doc_id, title, "\n".join(parts), blocks, f"{i:064x}", "bench", "2025-01-01"))
        sentences = {"counts": np.array(counts, np.int32), "spans": np.concatenate(spans),
                     "vectors": unit(rng, int(sum(counts)), self.dim)}
        return docs, chunks, tokens, sentences

    def real_document(self, rng):
        """The one real corpus document, as the synthetic corpus folder holds it (random vectors)."""
        rows = [i for i, c in enumerate(self.chunks) if c.doc_id == self.real.doc_id]
        counts = [len(self.spans[i]) for i in rows]
        sentences = {"counts": np.array(counts, np.int32), "spans": np.concatenate([self.spans[i] for i in rows]),
                     "vectors": unit(rng, sum(counts), self.dim)}
        return [self.real], [self.chunks[i] for i in rows], [self.tokens[i] for i in rows], sentences


def manifest_for(settings, embedder) -> dict:
    """What ``rag index`` would record for the synthetic corpus folder (its one real file), so that
    opening the index finds it up to date."""
    from index.builder import corpus_state, settings_fingerprint
    from rag.embeddings import embedder_key
    from rag.gazetteer import MINER_VERSION
    from rag.sources import Sources

    state, _ = corpus_state(Sources.from_settings(settings), None)
    return {"created_at": time.time(), "corpus_dir": str(settings.corpus_dir.resolve()),
            "user_corpus_dir": str(settings.resolved_user_corpus_dir().resolve()),
            "embedding": embedder_key(embedder), "settings": settings_fingerprint(settings),
            "documents": state, "indexed_at": {d: time.time() for d in state}, "skipped": {}, "conflicts": {},
            "gazetteer": MINER_VERSION, "synthetic": True}


def write_index(settings, material: Material, manifest: dict, n: int) -> float:
    """Seconds spent in the store code writing n chunks (making the data is not counted)."""
    from index.versions import index_lock
    from index.writer import StoreWriter

    rng = np.random.default_rng(n)
    names = {}
    spent = 0.0
    with index_lock(settings.index_dir):
        t = time.perf_counter()
        writer = StoreWriter(settings.index_dir, material.dim)
        docs, chunks, tokens, sentences = material.real_document(rng)
        writer.append(chunks, unit(rng, len(chunks), material.dim), tokens, sentences, docs)
        names[docs[0].doc_id] = material.names[0]
        spent += time.perf_counter() - t
        n -= len(chunks)
        n_docs = -(-n // DOC_CHUNKS)
        for first in range(0, n_docs, BATCH_DOCS):
            docs, chunks, tokens, sentences = material.documents(rng, first, min(BATCH_DOCS, n_docs - first), n)
            vectors = unit(rng, len(chunks), material.dim)
            names.update({d.doc_id: material.names[i % len(material.names)] for i, d in enumerate(docs, first)})
            t = time.perf_counter()
            writer.append(chunks, vectors, tokens, sentences, docs)
            spent += time.perf_counter() - t
        t = time.perf_counter()
        writer.publish(manifest, names)
    return spent + time.perf_counter() - t


def append_document(settings, material: Material, manifest: dict, n: int) -> float:
    """Seconds to add one 100-chunk document as ``rag add`` does: appended to the live generation."""
    from index.store import load_store
    from index.versions import index_lock
    from index.writer import StoreWriter

    rng = np.random.default_rng(n + 1)
    docs, chunks, tokens, sentences = material.documents(rng, -(-n // DOC_CHUNKS), 1, n + DOC_CHUNKS * 2)
    with index_lock(settings.index_dir):
        t = time.perf_counter()
        previous = load_store(settings.index_dir)
        writer = StoreWriter(settings.index_dir, material.dim, previous)
        writer.append(chunks, unit(rng, len(chunks), material.dim), tokens, sentences, docs)
        names = {**previous.names, docs[0].doc_id: material.names[0]}
        writer.publish({**manifest, "created_at": time.time()}, names)
        return time.perf_counter() - t


# ---------------------------------------------------------------------------- measuring (own process)
def rss_mb() -> tuple[float, float, float]:
    """(current, peak, anonymous) resident set size in MB; the rest of the current figure is
    file-backed: mapped index files and shared libraries, which the kernel may drop."""
    status = Path("/proc/self/status").read_text()
    keys = ("VmRSS", "VmHWM", "RssAnon")
    value = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines() if line.startswith(keys)}
    return value["VmRSS"] / 1024, value["VmHWM"] / 1024, value["RssAnon"] / 1024


def timings(fn, items, parts: dict | None = None) -> list[float]:
    """Milliseconds of fn(item) per item after the warm-up; ``parts`` collects, per item, the
    time not spent embedding the question (from the timings the service reports)."""
    out = []
    for i, item in enumerate(items):
        t = time.perf_counter()
        result = fn(item)
        if i >= WARMUP:
            out.append((time.perf_counter() - t) * 1000)
            if parts is not None:
                parts.setdefault("rest", []).append(out[-1] - result["embed_ms"])
    return out


def measure(folder: Path, n_questions: int) -> dict:
    from rag.service import RagService

    settings = bench_settings(folder)
    t = time.perf_counter()
    service = RagService.open(settings, update=False, log=lambda m: None)
    load = time.perf_counter() - t
    rss_open = rss_mb()[0]
    qs = (questions() * (n_questions // 100 + 1))[: n_questions + WARMUP]
    vectors = service.embedder.embed_queries(qs)
    docs = random.Random(1).choices(service.documents, k=len(qs))
    store = service.store
    out = {"load_s": load, "rss_open": rss_open, "faiss": store.manifest.get("faiss"), "chunks": len(store.chunks)}
    out["dense"] = timings(lambda v: store.search(v, 30), vectors)
    out["lexical"] = timings(lambda q: service.lexical.retrieve(service.analyze(q), 30), qs)
    ask_parts, doc_parts = {}, {}
    out["ask"] = timings(lambda q: service.ask(q).timings_ms, qs, ask_parts)
    out["doc_search"] = timings(lambda i: store.search(vectors[i], 30, [docs[i]]), range(len(qs)))
    out["doc_retrieve"] = timings(lambda i: _retrieve_timed(service, qs[i], docs[i]), range(len(qs)), doc_parts)
    out["ask_rest"], out["doc_rest"] = ask_parts["rest"], doc_parts["rest"]
    out["rss_end"], out["rss_peak"], out["rss_anon"] = rss_mb()
    return out


def _retrieve_timed(service, question: str, doc: str) -> dict:
    timings: dict = {}
    service.retrieve(question, docs=[doc], timings=timings)
    return timings


def bench_settings(folder: Path, material: "Material | None" = None):
    from rag.settings import get_settings

    for sub in ("corpus", "user"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    if material is not None:
        shutil.copy2(material.real_path, folder / "corpus" / material.real.doc_id)
    return get_settings(corpus_dir=folder / "corpus", user_corpus_dir=folder / "user", index_dir=folder / "index")


def disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


# ---------------------------------------------------------------------------- main
def run_size(n: int, root: Path, material: Material, embedder, n_questions: int) -> dict:
    folder = root / f"n{n}"
    shutil.rmtree(folder, ignore_errors=True)
    settings = bench_settings(folder, material)
    manifest = manifest_for(settings, embedder)
    load_before = os.getloadavg()[0]
    write_s = write_index(settings, material, manifest, n)
    disk = disk_mb(folder / "index")
    child = subprocess.run([sys.executable, __file__, "--measure", str(folder), "--queries", str(n_questions)],
                           capture_output=True, text=True, cwd=ROOT)
    if child.returncode != 0:
        raise SystemExit(child.stderr)
    row = json.loads(child.stdout.strip().splitlines()[-1])
    append_s = append_document(settings, material, manifest, n)
    return {"n": n, "write_s": write_s, "append_s": append_s, "disk_mb": disk,
            "load_avg": (load_before, os.getloadavg()[0]), **row}


def print_row(r: dict) -> None:
    def pp(key):
        return f"{pct(r[key], 50):.2f} / {pct(r[key], 95):.2f}"

    print(f"| {r['n']:,} | {r['write_s']:.1f} | {r['append_s']:.2f} | {r['load_s']:.2f} | {r['disk_mb']:,.0f} | "
          f"{r['rss_open']:,.0f} / {r['rss_end']:,.0f} ({r['rss_peak']:,.0f}; anon {r['rss_anon']:,.0f}) | {pp('dense')} | {pp('lexical')} | "
          f"{pp('ask')} ({pp('ask_rest')}) | {pp('doc_search')} | {pp('doc_retrieve')} ({pp('doc_rest')}) | "
          f"{r['faiss']} | "
          f"{r['load_avg'][0]:.1f} → {r['load_avg'][1]:.1f} |", flush=True)


HEADER = ("| chunks | write s | append s | load s | disk MB | RSS MB open / end (peak; anonymous) | dense ms p50/p95 | "
          "lexical ms p50/p95 | ask ms p50/p95 (less embed_ms) | doc search ms p50/p95 | "
          "doc retrieve ms p50/p95 (less embed_ms) | FAISS | load avg |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--dir", type=Path, default=None, help="where the indexes are written (default: a temporary folder)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--keep", action="store_true", help="keep the indexes")
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.queries)))
        return 0
    from rag.embeddings import load_embedder
    from rag.settings import get_settings

    root = args.dir or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    material, embedder = Material(), load_embedder(get_settings())
    print(f"{len(material.chunks)} real chunks permuted; indexes in {root}; {os.cpu_count()} cores", flush=True)
    print(HEADER, flush=True)
    try:
        for n in args.sizes:
            print_row(run_size(n, root, material, embedder, args.queries))
            if not args.keep:
                shutil.rmtree(root / f"n{n}", ignore_errors=True)
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
