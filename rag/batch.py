"""``rag batch``: answer a file of questions — resumable, optionally parallel.

The service (index, embedder, retrievers) is loaded once and shared by all worker
threads. Every finished row is written and flushed at once, and a re-run skips the ids
already in the output, so an interrupted run is continued by running it again. Rows with a
``conversation_id`` are answered in turn order with their history (``batch_units``).
The output schema is documented in README ("Batch answering").
"""
from __future__ import annotations

import sys
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from .batch_io import AnswerWriter, Row, read_rows
from .batch_units import answer_unit, check_turns, make_units
from .cli import UserError, settings_from
from .query import QuestionError

LOG_EVERY_S = 10.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- one row
def answer_row(service, row: Row, ask_kwargs: dict, history: list | None = None) -> dict:
    """The output record for one row; never raises for a bad row or a failed answer."""
    if row.error:
        return make_record(row, error=row.error)
    t0 = time.perf_counter()
    try:
        answer = service.ask(row.question, history=history, **ask_kwargs)
    except QuestionError as exc:
        return make_record(row, error=str(exc), latency_ms=(time.perf_counter() - t0) * 1000)
    except Exception as exc:  # one failing row must not stop the batch; the message goes in the row
        return make_record(row, error=f"{type(exc).__name__}: {exc}", latency_ms=(time.perf_counter() - t0) * 1000)
    d = answer.to_dict()
    return make_record(
        row,
        search_question=d["search_question"],
        answer=d["answer"],
        refused=d["refused"],
        citations=d["citations"],
        contexts=[{"doc": h.chunk.doc_id, "title": h.chunk.title, "section": " > ".join(h.chunk.section),
                   "text": h.chunk.text, "score": round(h.score, 6), "chunk_id": h.chunk.chunk_id}
                  for h in answer.hits],
        latency_ms=(time.perf_counter() - t0) * 1000,
    )


def make_record(row: Row, *, answer: str = "", refused: bool = False, citations=(), contexts=(),
                latency_ms: float = 0.0, error: str | None = None, search_question: str | None = None) -> dict:
    return {
        "id": row.id,
        "row": row.row,
        "question": row.question,
        "search_question": search_question,
        "answer": answer,
        "refused": refused,
        "citations": list(citations),
        "contexts": list(contexts),
        "latency_ms": round(latency_ms, 1),
        "error": error,
        **row.extra,
    }


# ---------------------------------------------------------------------------- the run
@dataclass
class Summary:
    answered: int = 0
    refused: int = 0
    failed: int = 0
    skipped: int = 0  # already in the output from an earlier run
    seconds: float = 0.0

    @property
    def done(self) -> int:
        return self.answered + self.refused + self.failed

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def count(self, record: dict) -> None:
        if record["error"]:
            self.failed += 1
        elif record["refused"]:
            self.refused += 1
        else:
            self.answered += 1

    def text(self, output: Path) -> str:
        line = (f"Done: {self.done} rows in {self.seconds:.1f} s ({self.rate:.2f} questions/s): "
                f"{self.answered} answered, {self.refused} refused, {self.failed} failed")
        if self.skipped:
            line += f"; {self.skipped} already in the output, skipped"
        return f"{line}.\nOutput: {output}"


class Progress:
    """A tqdm bar on a terminal; otherwise a log line every LOG_EVERY_S seconds."""

    def __init__(self, total: int, summary: Summary, bar: bool):
        self.total, self.summary = total, summary
        self.t0 = self.last_log = time.monotonic()
        self.bar = None
        if bar:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="q", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)

    def update(self) -> None:
        s = self.summary
        if self.bar is not None:
            self.bar.update(1)
            if s.done % 10 == 0 or s.done == self.total:
                self.bar.set_postfix(ok=s.answered, refused=s.refused, failed=s.failed, refresh=False)
            return
        now = time.monotonic()
        if now - self.last_log >= LOG_EVERY_S:
            self.last_log = now
            rate = s.done / (now - self.t0)
            eta = (self.total - s.done) / rate if rate else float("inf")
            log(f"batch: {s.done}/{self.total} rows ({100 * s.done / max(self.total, 1):.0f}%), "
                f"{rate:.2f} q/s, ETA {eta:.0f} s; {s.failed} failed so far")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_batch(service, todo: list[Row], writer: AnswerWriter, *, workers: int = 1, ordered: bool = False,
              ask_kwargs: dict | None = None, tail: list[Row] = (), progress: bool = False,
              summary: Summary | None = None, rows: list[Row] | None = None) -> Summary:
    """Answer ``todo`` with ``workers`` threads, writing each record as it completes.

    ``tail``: rows written (as error rows) only after every row of ``todo`` is in the file —
    duplicate ids, which must never reach the file before the row they duplicate.
    ``rows``: every input row, so that a conversation's turns already done are replayed as history.
    A conversation is one task (its turns in order); --ordered writes conversations at their first row.
    """
    summary = summary or Summary()
    ask_kwargs = ask_kwargs or {}
    bar = Progress(len(todo) + len(tail), summary, progress)
    t0 = time.perf_counter()

    def emit(record: dict) -> None:
        writer.write(record)
        summary.count(record)
        bar.update()

    # A bounded window keeps memory flat for huge files and lets --ordered hold back little.
    window = max(8, 4 * workers)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rag-batch")
    units = make_units(todo, rows if rows is not None else todo)

    def submit(unit):
        return pool.submit(answer_unit, service, unit, ask_kwargs, answer_row)

    try:
        if ordered:
            queue: deque = deque()
            for unit in units:
                queue.append(submit(unit))
                if len(queue) >= window:
                    for record in queue.popleft().result():
                        emit(record)
            while queue:
                for record in queue.popleft().result():
                    emit(record)
        else:
            inflight: set = set()
            for unit in units:
                inflight.add(submit(unit))
                if len(inflight) >= window:
                    finished, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                    for f in finished:
                        for record in f.result():
                            emit(record)
            while inflight:
                finished, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                for f in finished:
                    for record in f.result():
                        emit(record)
        for row in tail:
            emit(answer_row(service, row, ask_kwargs))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
        summary.seconds = time.perf_counter() - t0
    return summary


def plan(rows: list[Row], done) -> tuple[list[Row], list[Row], int]:
    """(rows to answer, duplicate-id rows to report, rows already done) given ``done``: id -> records in the output."""
    first: dict[str, int] = {}
    todo, dups, seen_dups = [], [], {}
    for row in rows:
        if row.id not in first:
            first[row.id] = row.row
            if not done[row.id]:
                todo.append(row)
            continue
        seen_dups[row.id] = seen_dups.get(row.id, 0) + 1
        # The file holds the original plus the duplicate rows an earlier run already reported.
        if seen_dups[row.id] >= done[row.id]:
            dups.append(Row(row.row, row.id, row.question, row.extra,
                            f"duplicate id {row.id!r}: row {row.row} repeats the id of row {first[row.id]}; not answered"))
    if seen_dups:
        shown = ", ".join(f"{i!r} ({n + 1}×)" for i, n in list(seen_dups.items())[:5])
        more = f" and {len(seen_dups) - 5} more" if len(seen_dups) > 5 else ""
        log(f"warning: duplicate ids in the input: {shown}{more}; each repeat is written as an error row")
    skipped = len(first) - len(todo)
    return todo, dups, skipped


# ---------------------------------------------------------------------------- CLI
def cmd_batch(args) -> int:
    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    settings = settings_from(args)
    source = Path(args.input).expanduser()
    output = Path(args.output).expanduser() if args.output else source.with_name(source.stem + ".answers.jsonl")
    if output.resolve() == source.resolve():
        raise UserError("the output file must not be the input file")
    rows = check_turns(read_rows(source, args.question_column))
    extras = list(dict.fromkeys(k for r in rows for k in r.extra))
    writer = AnswerWriter(output, extras, overwrite=args.overwrite, warn=log)
    try:
        todo, dups, skipped = plan(rows, writer.done)
        if not todo and not dups:
            log(f"Nothing to do: all {len(rows)} rows are already in {output} (use --overwrite to start over).")
            return 0
        if (args.answer_mode or settings.answer_mode) == "llm" and not settings.llm_configured:
            raise UserError("--answer llm needs RAG_LLM_BASE_URL and RAG_LLM_MODEL (see README); or use --answer extractive")
        from .service import RagService

        service = RagService.open(settings)
        unknown = set(args.doc or ()) - set(service.documents)
        if unknown:
            raise UserError(f"unknown document(s): {', '.join(sorted(unknown))}; indexed: {', '.join(service.documents)}")
        resumed = f" (resuming: {skipped} rows already done)" if skipped else ""
        log(f"Answering {len(todo) + len(dups)} rows from {source} with {args.workers} worker(s) → {output}{resumed}")
        ask_kwargs = dict(k=args.top_k, mode=args.mode, docs=args.doc, answer_mode=args.answer_mode)
        summary = Summary(skipped=skipped)
        try:
            run_batch(service, todo, writer, workers=args.workers, ordered=args.ordered, ask_kwargs=ask_kwargs,
                      tail=dups, progress=sys.stderr.isatty() and not args.no_progress, summary=summary, rows=rows)
        except KeyboardInterrupt:
            log(f"Interrupted after {summary.done} rows; run the same command again to resume.")
            raise
    finally:
        writer.close()
    log(summary.text(output))
    return 0


def register(sub, common, query) -> None:
    p = sub.add_parser(
        "batch", parents=[common, query], help="answer a file of questions (resumable, parallel)",
        description="Answer every question of a .txt (one per line), .csv (a 'question' column, optional 'id') "
                    "or .jsonl file (objects with 'question', optional 'id'; other fields are carried through) "
                    "into a .jsonl or .csv file, one record per question. Rows with a 'conversation_id' (and an "
                    "optional 'turn') are a conversation: answered in turn order, each with the earlier turns as "
                    "history; conversations run in parallel. Re-running the same command resumes: "
                    "ids already in OUTPUT are skipped. Rows that fail get an 'error' and the batch goes on.",
        epilog="example: rag batch questions.csv --output answers.jsonl --workers 2")
    p.add_argument("input", metavar="INPUT", help="questions: .txt, .csv or .jsonl (UTF-8 or GBK)")
    p.add_argument("-o", "--output", metavar="OUTPUT",
                   help="answers: .jsonl (default) or .csv (default: INPUT's name + .answers.jsonl)")
    p.add_argument("--question-column", default="question", metavar="NAME",
                   help="the CSV column or JSONL field holding the question (default: question)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="answer N questions at a time (threads; default 1)")
    p.add_argument("--ordered", action="store_true", help="write rows in input order (default: as they complete)")
    p.add_argument("--overwrite", action="store_true", help="start over instead of resuming an existing OUTPUT")
    p.add_argument("--no-progress", action="store_true", help="log lines instead of a progress bar")
    p.set_defaults(func=cmd_batch)
