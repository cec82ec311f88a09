"""Throughput of ``rag batch``: questions per second for 1, 2 and 4 workers, and peak RSS.

    python eval/bench_batch.py [--n 1000] [--workers 1 2 4] [--mode hybrid] [--index-dir DIR]

The questions are the evaluation set's (Chinese and English), repeated with small
variations up to --n. The service is loaded once, as ``rag batch`` does; each worker
count answers all questions into a fresh output file through the same code path.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's code, not whichever copy is installed
DATASET = ROOT / "eval" / "dataset.jsonl"
ZH_VARIANTS = ("{q}", "请问，{q}", "{q}（请给出处）", "想了解一下：{q}")
EN_VARIANTS = ("{q}", "Please tell me: {q}", "{q} (with sources)", "Quick question: {q}")


def varied_questions(n: int) -> list[dict]:
    """``n`` question rows {id, question, source_id, lang} cycling through the dataset in both languages."""
    items = [json.loads(line) for line in DATASET.read_text(encoding="utf-8").splitlines() if line.strip()]
    pool = [(it["id"], "zh", it["question"]) for it in items]
    pool += [(it["id"], "en", it["question_en"]) for it in items if it.get("question_en")]
    rows = []
    for i in range(n):
        source_id, lang, q = pool[i % len(pool)]
        variants = ZH_VARIANTS if lang == "zh" else EN_VARIANTS
        rows.append({"id": f"b{i + 1:05d}", "question": variants[(i // len(pool)) % len(variants)].format(q=q),
                     "source_id": source_id, "lang": lang})
    return rows


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--mode", choices=["hybrid", "dense", "lexical"], default=None, help="retrieval mode (default: settings)")
    ap.add_argument("--index-dir", default=None)
    args = ap.parse_args(argv)

    from rag.batch import run_batch
    from rag.batch_io import AnswerWriter, Row
    from rag.service import RagService
    from rag.settings import get_settings

    settings = get_settings(index_dir=args.index_dir, answer_mode="extractive")
    service = RagService.open(settings)
    rows = [Row(i, r["id"], r["question"], {"source_id": r["source_id"]}) for i, r in enumerate(varied_questions(args.n), 1)]
    print(f"{args.n} questions, extractive answers, retrieval {args.mode or settings.retrieval_mode}, "
          f"top-k {settings.top_k}; index {settings.resolved_index_dir()}; after loading: peak RSS {peak_rss_mb():.0f} MB")
    print(f"{'workers':>7}  {'seconds':>8}  {'q/s':>7}  {'ms/q':>6}  {'answered':>8}  {'refused':>7}  {'failed':>6}  {'peak RSS MB':>11}  {'cores used':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        # Warm-up (jieba, dictionaries, first-call allocations) so the first timed run is not penalised.
        warm = AnswerWriter(Path(tmp) / "warm.jsonl", overwrite=True)
        run_batch(service, rows[:20], warm, ask_kwargs={"mode": args.mode})
        warm.close()
        for workers in args.workers:
            writer = AnswerWriter(Path(tmp) / f"w{workers}.jsonl", overwrite=True)
            cpu = time.process_time()
            s = run_batch(service, rows, writer, workers=workers, ask_kwargs={"mode": args.mode})
            writer.close()
            print(f"{workers:>7}  {s.seconds:>8.1f}  {s.rate:>7.2f}  {1000 * s.seconds / max(s.done, 1):>6.1f}  "
                  f"{s.answered:>8}  {s.refused:>7}  {s.failed:>6}  {peak_rss_mb():>11.0f}  "
                  f"{(time.process_time() - cpu) / max(s.seconds, 1e-9):>10.2f}", flush=True)
    print(f"load average after the runs: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs); 'cores used' is this "
          "process's CPU time over wall time: below the worker count, other processes or the GIL held it back")
    return 0


if __name__ == "__main__":
    sys.exit(main())
