"""Load test for the UI's /ask endpoint: N concurrent gradio_client clients × M questions.

    python -m ui.loadtest                      # starts its own server on a free 127.0.0.1 port
    python -m ui.loadtest --url http://127.0.0.1:7860/   # targets a running `rag ui`

Prints the error count (must be 0) and latency p50/p95. Questions are a mix from
eval/dataset.jsonl (Chinese and English).
"""
import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

DATASET = Path(__file__).resolve().parents[1] / "eval" / "dataset.jsonl"


def questions(n: int, seed: int = 0) -> list[str]:
    rows = [json.loads(line) for line in DATASET.read_text(encoding="utf-8").splitlines() if line.strip()]
    pool = [r["question"] for r in rows] + [r["question_en"] for r in rows if r.get("question_en")]
    return random.Random(seed).sample(pool, min(n, len(pool)))


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))]


def run(url: str, clients: int, per_client: int) -> dict:
    from gradio_client import Client

    pool = questions(clients * per_client)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(i: int):
        try:
            client = Client(url, verbose=False, download_files=False)
        except Exception as exc:
            with lock:
                errors.extend([f"client {i}: connect: {exc}"] * per_client)
            return
        for j in range(per_client):
            q = pool[(i * per_client + j) % len(pool)]
            t0 = time.perf_counter()
            try:
                result = client.predict(q, api_name="/ask")
                problem = result.get("error") if isinstance(result, dict) else f"unexpected result {result!r}"
            except Exception as exc:  # a transport or server failure
                problem = f"{type(exc).__name__}: {exc}"
            with lock:
                latencies.append(time.perf_counter() - t0)
                if problem:
                    errors.append(f"client {i} q{j} {q!r}: {problem}")

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"requests": clients * per_client, "errors": errors, "wall_s": wall,
            "p50_s": statistics.median(latencies) if latencies else float("nan"),
            "p95_s": percentile(latencies, 95) if latencies else float("nan")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running server (default: start one on a free 127.0.0.1 port)")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--questions", type=int, default=10, help="questions per client")
    ap.add_argument("--concurrency", type=int, default=4, help="queue concurrency of the server this script starts")
    args = ap.parse_args(argv)
    demo = None
    url = args.url
    if not url:
        from rag.service import RagService
        from ui.app import serve

        demo, url = serve(RagService.open(), concurrency=args.concurrency)
    try:
        r = run(url, args.clients, args.questions)
    finally:
        if demo is not None:
            demo.close()
    for e in r["errors"][:20]:
        print("error:", e)
    print(f"{r['requests']} requests from {args.clients} clients in {r['wall_s']:.1f} s: errors {len(r['errors'])}, "
          f"p50 {r['p50_s']:.2f} s, p95 {r['p95_s']:.2f} s, throughput {r['requests'] / r['wall_s']:.1f}/s")
    return 1 if r["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
