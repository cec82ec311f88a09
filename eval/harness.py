"""`rag eval`: run the evaluation set through RagService.ask (the `rag ask` code path) for
several configurations and score answers, citations, refusals and speed.

Library use (the CI gate does this with the test session's service):
    rows = evaluate(ServiceRunner(service), load_dataset(), "zh")
    summarize(rows)
"""
from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from .metrics import (concise_limit, good_citations, grounded, hit_rank, is_accurate, is_concise,
                      missing_facts, why_failed)

EVAL_DIR = Path(__file__).resolve().parent
DATASET = EVAL_DIR / "dataset.jsonl"
USER_SET = EVAL_DIR / "user_questions.jsonl"
# (file, split): the user-phrased test split comes first — the figure that says how the product
# does on questions nobody tuned it on; dev is what the scorer is fitted on; regression is the
# first set, written from the documents' own wording.
SETS = {"user-test": (USER_SET, "test"), "user-dev": (USER_SET, "dev"), "regression": (DATASET, None)}
HELD_OUT = "user-test"  # never tuned on: its report counts failures without listing them
REPORTS = EVAL_DIR / "reports"
RETRIEVE_K = 10  # ranks are measured to 10 (MRR@10) even when the answer sees only the config's k
SNIPPET = 300
SMALL_CHUNK = 160  # the second chunk size compared with the default (320 tokens)

CONFIGS = ("hybrid", "dense", "lexical", f"chunk{SMALL_CHUNK}", "langchain")
CONFIG_HELP = {
    "hybrid": "the default: dense + BM25 fused by RRF, default settings",
    "dense": "embedding search only",
    "lexical": "BM25 over jieba tokens only",
    f"chunk{SMALL_CHUNK}": f"hybrid over {SMALL_CHUNK}-token chunks (own index, built on first use)",
    "langchain": "textbook LangChain RAG (eval/baseline.py): top passage as the answer",
}


def load_dataset(path: Path | str = DATASET, split: str | None = None) -> list[dict]:
    """The items of a JSON-lines set; with split, only that split's items."""
    with open(path, encoding="utf-8") as f:
        items = [json.loads(line) for line in f if line.strip()]
    return [i for i in items if split is None or i.get("split") == split]


def load_set(name: str) -> list[dict]:
    path, split = SETS[name]
    return load_dataset(path, split)


class ServiceRunner:
    """Asks through RagService.ask; ranks beyond the answer's k come from RagService.retrieve(k=10)."""

    def __init__(self, service, name: str = "hybrid", mode: str | None = None, k: int | None = None,
                 answer_mode: str | None = None):
        self.service, self.name = service, name
        self.mode = mode or service.settings.retrieval_mode
        self.k = k or service.settings.top_k
        self.answer_mode = answer_mode

    def run(self, question: str) -> dict:
        a = self.service.ask(question, k=self.k, mode=self.mode, answer_mode=self.answer_mode)
        ranked = [h.chunk.text for h in a.hits]

        def deeper() -> list[str]:
            # ranks k+1..10 need their own (untimed) retrieval: asking with k=10 would change
            # what the answerer sees. Only called when the evidence is not in Answer.hits,
            # which halves the embedding work of a run.
            _, hits = self.service.retrieve(question, k=RETRIEVE_K, mode=self.mode)
            return [h.chunk.text for h in hits]

        return {
            "answer": a.text,
            "refused": a.refused,
            "cited": [c.chunk.text for c in a.citations],
            "cited_docs": [c.chunk.doc_id for c in a.citations],
            "cited_sentences": [c.sentence for c in a.citations],
            "ranked": ranked,
            "deeper": deeper if len(ranked) < RETRIEVE_K else None,
            "timings_ms": dict(a.timings_ms),
        }


def _clip(text: str, n: int = SNIPPET) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _rank(out: dict, evidence: str | None) -> int | None:
    rank = hit_rank(out["ranked"], evidence)
    if rank is None and evidence and out.get("deeper"):
        rank = hit_rank(out["deeper"](), evidence)
    return rank


def score(item: dict, question: str, lang: str, config: str, k: int, out: dict) -> dict:
    """One result row: what was asked, what came back, and every per-question metric."""
    must = item.get("must_include") or []
    answer = "" if out["refused"] else out["answer"]
    row = {
        "config": config, "lang": lang, "k": k, "id": item["id"], "question": question,
        "type": item["type"], "doc": item["doc"], "gold": item["answer"],
        "answer": answer, "message": out["answer"] if out["refused"] else "", "refused": out["refused"],
        "must_include": must, "evidence": item.get("evidence"),
        "missing": missing_facts(answer, must) if not out["refused"] else list(must),
        "hit_rank": _rank(out, item.get("evidence")),
        "accurate": is_accurate(answer, must, out["refused"]),
        "concise": is_concise(answer, item["answer"], out["cited"]),
        "concise_limit": concise_limit(item["answer"]),
        "grounded": None if out["refused"] else grounded(answer, must, out["cited"]),
        "good_citations": good_citations(out["cited"], item.get("evidence"), must),
        "citations": [
            {"doc": d, "sentence": _clip(s), "passage": _clip(t)}
            for d, s, t in zip(out.get("cited_docs", []), out.get("cited_sentences", out["cited"]), out["cited"])
        ],
        "passages": [_clip(t) for t in out["ranked"][:5]],
        "timings_ms": {key: round(v, 2) for key, v in out["timings_ms"].items()},
    }
    row["why_failed"] = why_failed(row, k)
    return row


def questions(items: Sequence[dict], lang: str) -> list[tuple[dict, str]]:
    if lang == "en":
        return [(it, it["question_en"]) for it in items if it.get("question_en")]
    return [(it, it["question"]) for it in items]


def evaluate(runner, items: Sequence[dict], lang: str = "zh", log: Callable[[str], None] | None = None) -> list[dict]:
    pairs = questions(items, lang)
    if not pairs:
        return []
    runner.run(pairs[0][1])  # warm-up: lazy loads (jieba, model session) must not count as latency
    t0 = time.perf_counter()
    rows = [score(item, q, lang, runner.name, runner.k, runner.run(q)) for item, q in pairs]
    if log:
        log(f"  {runner.name:<10} {lang}: {len(rows)} questions in {time.perf_counter() - t0:.1f} s")
    return rows


def make_runners(settings, names: Sequence[str], answer_mode: str | None, log: Callable[[str], None]):
    """Yield one runner per configuration, opening (and building) each index only when needed."""
    from rag.service import RagService

    default = None
    for name in names:
        if name in ("hybrid", "dense", "lexical"):
            default = default or RagService.open(settings, log=log)
            yield ServiceRunner(default, name, mode=name, answer_mode=answer_mode)
        elif name == f"chunk{SMALL_CHUNK}":
            small = settings.model_copy(update={
                "chunk_size": SMALL_CHUNK,
                # keep the default overlap/size ratio (48/320)
                "chunk_overlap": round(settings.chunk_overlap * SMALL_CHUNK / settings.chunk_size),
                "index_dir": settings.cache_dir / "eval-indexes" / f"{settings.resolved_index_dir().name}-cs{SMALL_CHUNK}",
            })
            yield ServiceRunner(RagService.open(small, log=log), name, mode="hybrid", answer_mode=answer_mode)
        elif name == "langchain":
            from .baseline import LangChainBaseline

            yield LangChainBaseline(settings, log=log)
        else:
            raise ValueError(f"unknown configuration {name!r}; choose from {', '.join(CONFIGS)}")


def run(settings, names: Sequence[str], langs: Sequence[str], items: Sequence[dict],
        answer_mode: str | None = None, log: Callable[[str], None] | None = None) -> list[dict]:
    log = log or (lambda msg: print(msg, file=sys.stderr))
    rows: list[dict] = []
    for runner in make_runners(settings, names, answer_mode, log):
        for lang in langs:
            rows += evaluate(runner, items, lang, log)
    return rows


def eval_settings(settings, log: Callable[[str], None] | None = None):
    """The settings an evaluation or a fit runs on: the bundled corpus only.

    The sets' questions are about the bundled documents; documents a user added with `rag add`
    or the browser would change the figures and what is fitted. When the user folder holds any,
    the run uses an empty user folder and its own index folder (the embedding cache is shared,
    so only the index files are rewritten) and says so; the user's index is left alone."""
    user_dir = Path(settings.resolved_user_corpus_dir())
    if not user_dir.is_dir() or not any(p.is_file() for p in user_dir.rglob("*")):
        return settings
    base = Path(settings.cache_dir) / "eval"
    (base / "empty-user-corpus").mkdir(parents=True, exist_ok=True)
    if log:
        log(f"Documents added in {user_dir} are left out: this run uses the bundled corpus only "
            f"(index in {base / 'index'}).")
    return settings.model_copy(update={"user_corpus_dir": base / "empty-user-corpus", "index_dir": base / "index"})


# ---------------------------------------------------------------------------- CLI
def cmd_eval(args) -> int:
    from rag.cli import UserError, settings_from

    from .report import terminal_table, write_report

    if args.conversations:
        from .conversations import cmd_conversations

        return cmd_conversations(args, eval_settings(settings_from(args, answer_mode=args.answer_mode), log=to_stderr))
    if args.dataset:
        path = Path(args.dataset)
        if not path.is_file():
            raise UserError(f"no dataset at {path}; pass --dataset FILE (JSON lines, see eval/dataset.jsonl)")
        sets = {path.stem: load_dataset(path)}
    else:
        sets = {name: load_set(name) for name in (args.set or list(SETS))}
    names = list(dict.fromkeys(args.config or CONFIGS))
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise UserError(f"unknown configuration(s) {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    langs = ["zh", "en"] if args.lang == "both" else [args.lang]
    settings = eval_settings(settings_from(args, answer_mode=args.answer_mode), log=to_stderr)
    for set_name, items in sets.items():
        items = items[: args.limit] if args.limit else items
        print(f"\n### {set_name}: {len(items)} items ({', '.join(langs)}) with {', '.join(names)} …", file=sys.stderr)
        t0 = time.perf_counter()
        rows = run(settings, names, langs, items, args.answer_mode)
        meta = {
            "command": "rag " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["eval"] else "rag eval",
            "dataset": set_name, "items": len(items), "configs": names, "langs": langs,
            "answer_mode": args.answer_mode or settings.answer_mode, "top_k": settings.top_k,
            "seconds": round(time.perf_counter() - t0, 1), "corpus": str(settings.corpus_dir),
            "held_out": set_name == HELD_OUT,
        }
        print(f"\n{set_name}\n" + terminal_table(rows, names, langs))
        if not args.no_report:
            out = Path(args.out) / set_name
            folder = write_report(out, rows, meta)
            print(f"\nReport: {folder / 'summary.md'}  (per question: {folder / 'results.jsonl'}; "
                  f"latest summary copied to {out / 'latest.md'})")
    return 0


def to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def register(sub, common, query) -> None:
    p = sub.add_parser(
        "eval", parents=[common], help="measure answers, citations, refusals and speed on the evaluation set",
        description="Run the evaluation set through the same code path as `rag ask` for each configuration "
                    "and report retrieval hit@1/hit@5/MRR@10, accuracy, concise accuracy, groundedness, "
                    "citation precision, refusals and latency, by type, document and language. Configurations: "
                    + "; ".join(f"{k}: {v}" for k, v in CONFIG_HELP.items()) + ".",
        epilog="example: rag eval --config hybrid --config langchain --lang both")
    p.add_argument("--set", action="extend", nargs="+", choices=list(SETS), metavar="NAME",
                   help="evaluation sets (default all, in this order: user-test, user-dev, regression). "
                        "user-test: user-phrased questions never tuned on; user-dev: the split the scorer is "
                        "fitted on; regression: eval/dataset.jsonl, written from the documents' wording")
    p.add_argument("--dataset", metavar="FILE", help="evaluate this JSON-lines file instead of the bundled sets")
    p.add_argument("--conversations", action="store_true",
                   help="score the conversation set (eval/conversations.jsonl) turn by turn with history: turn, "
                        "first-turn, follow-up and new-topic accuracy, unanswerable follow-ups refused; the report "
                        "shows every rewritten question")
    p.add_argument("--split", choices=["dev", "test"],
                   help="with --conversations: only this split (default both; tune on dev, read only test totals)")
    p.add_argument("--lang", choices=["zh", "en", "both"], default="both", help="question language (default both)")
    p.add_argument("--config", action="extend", nargs="+", metavar="NAME", choices=CONFIGS,
                   help=f"configurations to compare (repeatable; default all: {', '.join(CONFIGS)})")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N items (a quick look)")
    p.add_argument("--answer", choices=["extractive", "llm"], dest="answer_mode",
                   help="answer mode for the product configurations (default extractive)")
    p.add_argument("--out", default=str(REPORTS), metavar="DIR", help="report folder (default eval/reports)")
    p.add_argument("--no-report", action="store_true", help="print the table only")
    p.set_defaults(func=cmd_eval)
