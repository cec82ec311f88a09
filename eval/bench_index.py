"""Benchmark of the spine: index build (cold and warm), embedding throughput, query latency.

    python eval/bench_index.py [--questions N] [--corpus DIR]

Prints: cold build (empty embedding cache), warm rebuild (cache filled, new index folder),
no-op update; chunks per second of the build against the backend's raw passages per second;
query latency p50/p95 over N questions (eval/dataset.jsonl, Chinese and English, repeated
as needed) split into embedding / search / answer stages; peak RSS.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=240)
    parser.add_argument("--corpus", type=Path, default=ROOT / "rag" / "corpus")
    args = parser.parse_args()

    from index.builder import build_index
    from rag.chunking import ChunkSettings, chunk_documents
    from rag.documents import load_corpus
    from rag.embeddings import load_embedder
    from rag.service import RagService
    from rag.settings import get_settings

    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    settings = get_settings(corpus_dir=args.corpus, index_dir=tmp / "index", cache_dir=tmp / "cache")
    embedder = load_embedder(settings)

    docs, _ = load_corpus(args.corpus)
    chunks = chunk_documents(docs, ChunkSettings(settings.chunk_size, settings.chunk_overlap))
    sample = [c.context_text() for c in chunks[:32]]
    t = time.perf_counter()
    embedder.embed_passages(sample)
    raw_rate = len(sample) / (time.perf_counter() - t)
    chars = sum(map(len, sample)) / len(sample)

    cold = build_index(settings, embedder, progress=False)
    warm_settings = settings.model_copy(update={"index_dir": tmp / "index2"})
    warm = build_index(warm_settings, embedder, progress=False)
    t = time.perf_counter()
    noop = build_index(settings, embedder, progress=False)
    noop_s = time.perf_counter() - t

    print(f"corpus: {len(docs)} documents, {cold.chunks} chunks "
          f"({settings.chunk_size} tokens, overlap {settings.chunk_overlap}), backend {embedder.backend}:{embedder.model}")
    print(f"raw embedding:   {raw_rate:6.2f} passages/s  (batch of 32 passages, {chars:.0f} chars each on average)")
    print(f"cold build:      {cold.seconds:6.1f} s  = {cold.chunks / cold.seconds:6.2f} chunks/s (all {cold.embedded} embedded)")
    print(f"warm rebuild:    {warm.seconds:6.2f} s  ({warm.embedded} embedded, {warm.reused} from cache)")
    print(f"no-op update:    {noop_s:6.2f} s  (up to date: {noop.up_to_date})")

    service = RagService.open(settings, log=lambda m: None)
    items = [json.loads(line) for line in (ROOT / "eval" / "dataset.jsonl").read_text(encoding="utf-8").splitlines()]
    questions = [it["question"] for it in items] + [it["question_en"] for it in items if it.get("question_en")]
    random.Random(0).shuffle(questions)
    questions = (questions * (args.questions // len(questions) + 1))[: args.questions]
    stages: dict[str, list[float]] = {"embed_ms": [], "search_ms": [], "answer_ms": [], "total_ms": []}
    for q in questions:
        answer = service.ask(q)
        for key in stages:
            stages[key].append(answer.timings_ms.get(key, 0.0))
    print(f"queries: {len(questions)} (Chinese and English)")
    for key, values in stages.items():
        print(f"  {key[:-3]:7s} p50 {pct(values, 50):7.1f} ms   p95 {pct(values, 95):7.1f} ms   mean {statistics.mean(values):7.1f} ms")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
