"""`rag eval --conversations`: the conversation set run turn by turn through RagService.ask
with the conversation so far as history, exactly as the UI and `rag ask --history` do.

A turn is *right* when an answerable turn's answer holds every ``must_include`` fact, or an
unanswerable turn is refused. The history a turn sees is the product's own earlier answers,
never the gold ones: a wrong turn can mislead the next, as it would for a user.

Scores per split (``dev`` is what resolution is tuned on; ``test`` is only read as totals):
turn, first-turn, follow-up and new-topic accuracy; new-topic turns rewritten (must be 0);
follow-ups resolved (rewritten); unanswerable follow-ups refused.
"""
from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from .metrics import hit_rank, is_accurate, missing_facts

EVAL_DIR = Path(__file__).resolve().parent
CONVERSATIONS = EVAL_DIR / "conversations.jsonl"
REPORTS = EVAL_DIR / "reports" / "conversations"
SPLITS = ("dev", "test")


def load_conversations(path: Path | str = CONVERSATIONS, split: str | None = None) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        convs = [json.loads(line) for line in f if line.strip()]
    return [c for c in convs if split is None or c.get("split") == split]


def run_conversation(service, conv: dict, k: int | None = None) -> list[dict]:
    """Ask every turn in order with the answers so far as history; one scored row per turn."""
    history: list[dict] = []
    rows = []
    for i, turn in enumerate(conv["turns"]):
        t0 = time.perf_counter()
        answer = service.ask(turn["question"], k=k, history=list(history) or None)
        ms = (time.perf_counter() - t0) * 1000
        rows.append(score_turn(conv, i, turn, answer, ms))
        history.append(answer.as_turn())
    return rows


def score_turn(conv: dict, index: int, turn: dict, answer, ms: float) -> dict:
    must = turn.get("must_include") or []
    text = "" if answer.refused else answer.text
    right = answer.refused if turn["unanswerable"] else is_accurate(text, must, answer.refused)
    return {
        "conversation": conv["id"], "split": conv.get("split"), "turn": index + 1, "kind": turn["kind"],
        "lang": turn["lang"], "question": turn["question"], "gold_resolved": turn.get("resolved"),
        "search_question": answer.search_question, "rewritten": answer.search_question is not None,
        "unanswerable": turn["unanswerable"], "must_include": must, "answer": text, "refused": answer.refused,
        "missing": [] if turn["unanswerable"] else (missing_facts(text, must) if text else list(must)),
        "right": bool(right), "cited_docs": [c.chunk.doc_id for c in answer.citations],
        "hit_rank": hit_rank([h.chunk.text for h in answer.hits], turn.get("evidence")),
        "doc": turn.get("doc"), "latency_ms": round(ms, 1),
    }


def summarize_turns(rows: Sequence[dict]) -> dict:
    """The conversation metrics of a set of turn rows (shares in 0..1; None when there are none)."""
    def share(xs, pred=lambda r: r["right"]):
        return (sum(1 for r in xs if pred(r)) / len(xs)) if xs else None

    by_kind = {k: [r for r in rows if r["kind"] == k] for k in ("first", "followup", "new_topic")}
    follow = by_kind["followup"]
    unans = [r for r in follow if r["unanswerable"]]
    return {
        "turns": len(rows), "conversations": len({r["conversation"] for r in rows}),
        "turn_acc": share(rows), "first_acc": share(by_kind["first"]),
        "followup_acc": share(follow), "followup_n": len(follow),
        "followup_answerable_acc": share([r for r in follow if not r["unanswerable"]]),
        "new_topic_acc": share(by_kind["new_topic"]), "new_topic_n": len(by_kind["new_topic"]),
        "new_topic_rewritten": sum(r["rewritten"] for r in by_kind["new_topic"]),
        "followup_resolved": share(follow, lambda r: r["rewritten"]),
        "unanswerable_followups": len(unans), "unanswerable_refused": sum(r["refused"] for r in unans),
        "false_refusal": share([r for r in rows if not r["unanswerable"]], lambda r: r["refused"]),
        "latency_ms_p50": sorted(r["latency_ms"] for r in rows)[len(rows) // 2] if rows else None,
    }


def evaluate_conversations(service, convs: Sequence[dict], k: int | None = None,
                           log: Callable[[str], None] | None = None) -> list[dict]:
    rows: list[dict] = []
    t0 = time.perf_counter()
    for conv in convs:
        rows += run_conversation(service, conv, k)
    if log:
        log(f"  {len(convs)} conversations, {len(rows)} turns in {time.perf_counter() - t0:.1f} s")
    return rows


# ---------------------------------------------------------------------------- report
def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def totals_table(summaries: dict[str, dict]) -> str:
    head = ("split", "conv", "turns", "turn acc", "first", "follow-up", "answerable f-u", "new topic",
            "new topic rewritten", "f-u resolved", "unanswerable f-u refused", "false ref", "p50 ms")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for split, s in summaries.items():
        cells = (split, str(s["conversations"]), str(s["turns"]), _pct(s["turn_acc"]), _pct(s["first_acc"]),
                 f"{_pct(s['followup_acc'])} (n={s['followup_n']})", _pct(s["followup_answerable_acc"]),
                 f"{_pct(s['new_topic_acc'])} (n={s['new_topic_n']})", f"{s['new_topic_rewritten']}",
                 _pct(s["followup_resolved"]), f"{s['unanswerable_refused']} of {s['unanswerable_followups']}",
                 _pct(s["false_refusal"]), f"{s['latency_ms_p50']:.0f}" if s["latency_ms_p50"] else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def turn_lines(rows: Sequence[dict]) -> list[str]:
    """Every turn: the question, what it was searched as (every rewrite is shown), the verdict."""
    out, current = [], None
    for r in rows:
        if r["conversation"] != current:
            current = r["conversation"]
            out += ["", f"### {current} ({r['split']})"]
        verdict = "✓" if r["right"] else "✗"
        shown = r["answer"] or "(refused)"
        shown = shown if len(shown) <= 120 else shown[:119] + "…"
        out.append(f"- {verdict} turn {r['turn']} [{r['kind']}{', unanswerable' if r['unanswerable'] else ''}] "
                   f"{r['question']}")
        if r["search_question"]:
            out.append(f"  - searched as: {r['search_question']}")
        out.append(f"  - answer: {shown}" + (f" — missing {', '.join(r['missing'])}" if r["missing"] and not r["right"] else ""))
    return out


def write_report(out: Path, rows: Sequence[dict], summaries: dict[str, dict], meta: dict) -> Path:
    folder = out / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "results.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    text = "\n".join(["# Conversation evaluation", "", f"`{meta['command']}` — {meta['seconds']} s", "",
                      totals_table(summaries), "", "Rates in %. A turn is right when it states every must_include "
                      "fact, or refuses an unanswerable turn.", "", "## Every turn", *turn_lines(rows), ""])
    (folder / "summary.md").write_text(text, encoding="utf-8")
    (out / "latest.md").write_text(text, encoding="utf-8")
    return folder


def cmd_conversations(args, settings) -> int:
    from rag.service import RagService

    splits = [args.split] if args.split else list(SPLITS)
    service = RagService.open(settings)
    t0 = time.perf_counter()
    rows, summaries = [], {}
    for split in splits:
        convs = load_conversations(split=split)[: args.limit] if args.limit else load_conversations(split=split)
        split_rows = evaluate_conversations(service, convs, log=lambda m: print(f"{split}:{m}", file=sys.stderr))
        rows += split_rows
        summaries[split] = summarize_turns(split_rows)
    print(totals_table(summaries))
    if not args.no_report:
        meta = {"command": "rag " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
                "seconds": round(time.perf_counter() - t0, 1)}
        folder = write_report(Path(args.out) / "conversations", rows, summaries, meta)
        print(f"\nReport: {folder / 'summary.md'} (every turn with its rewritten question)")
    return 0
