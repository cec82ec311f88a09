"""Fit how much a follow-up leans on the previous turn (rag/prior.json), on data, never by hand.

A follow-up's retrieval (``rag.retrieval.PriorRetriever``) boosts the passage, the section and
the document the previous answer came from, and searches the previous question's key terms at
lower weight. How much each is worth is fitted here by coordinate descent over a grid: every
candidate is scored by running the dev conversations (eval/conversations.jsonl, split dev)
turn by turn through ``RagService.ask`` with the product's own earlier answers as history,
exactly as ``rag eval --conversations`` does. The objective is the follow-up turns' accuracy
(answerable ones right, unanswerable ones refused), with the evidence's hit@5 as a tie-break.
A move away from the current weights must gain more than one standard error of the follow-up
accuracy (sqrt(p(1-p)/n)): on a few dozen follow-ups a gain of one or two turns is noise, and
the weights stay where they are. The test split is never read. Query vectors are cached by text during the fit (the resolved
questions do not depend on the weights), so each candidate costs retrieval and answering only.

    python eval/fit_prior.py              # re-fit and write rag/prior.json
    python eval/fit_prior.py --dry-run    # print the figures only
"""
from __future__ import annotations

import json
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from eval import fitting  # noqa: E402
from eval.conversations import load_conversations, run_conversation  # noqa: E402
from rag.retrieval import PRIOR_FILE, PRIOR_WEIGHTS  # noqa: E402

GRID = {"chunk": [0.0, 0.2, 0.4, 0.8, 1.6], "section": [0.0, 0.15, 0.3, 0.6, 1.2],
        "doc": [0.0, 0.075, 0.15, 0.3, 0.6], "terms": [0.0, 0.1, 0.3, 0.6]}
PASSES = 2


def cache_queries(embedder) -> None:
    """Memoise the embedder's query vectors by text for the fit (the same questions recur)."""
    plain, memo = embedder.embed_queries, {}

    def embed_queries(texts):
        key = tuple(texts)
        if key not in memo:
            memo[key] = plain(texts)
        return memo[key]

    embedder.embed_queries = embed_queries


def score(service, conversations, weights: dict) -> dict:
    """Follow-up accuracy and evidence hit@5 of the dev conversations under ``weights``."""
    service.prior_weights = dict(weights)
    rows = [r for c in conversations for r in run_conversation(service, c) if r["kind"] == "followup"]
    answerable = [r for r in rows if not r["unanswerable"]]
    hits = [r["hit_rank"] is not None and r["hit_rank"] <= 5 for r in answerable]
    return {"followup_acc": float(np.mean([r["right"] for r in rows])), "hit@5": float(np.mean(hits)),
            "n": len(rows)}


def objective(figures: dict) -> float:
    return figures["followup_acc"] + 0.1 * figures["hit@5"]


def noise(figures: dict) -> float:
    """One standard error of the follow-up accuracy: what a move must gain to count."""
    p = figures["followup_acc"]
    return float(np.sqrt(p * (1 - p) / max(1, figures["n"])))


def fit(service, conversations, log=print) -> tuple[dict, dict, dict]:
    """(fitted weights, their figures, the figures of the defaults) by coordinate descent."""
    best = dict(PRIOR_WEIGHTS)
    default = best_figures = score(service, conversations, best)
    margin = noise(default)
    log(f"defaults {best}: {_fmt(default)}; a move must gain more than {margin:.3f}")
    for _ in range(PASSES):
        moved = False
        for name, values in GRID.items():
            for value in values:
                if value == best[name]:
                    continue
                trial = {**best, name: value}
                figures = score(service, conversations, trial)
                if objective(figures) > objective(best_figures) + margin:
                    best, best_figures, moved = trial, figures, True
                    log(f"  {name}={value}: {_fmt(figures)}")
        if not moved:
            break
    return best, best_figures, default


def _fmt(figures: dict) -> str:
    return f"follow-ups right {figures['followup_acc']:.3f}, hit@5 {figures['hit@5']:.3f} (n={figures['n']})"


def main(argv=None) -> int:
    args = fitting.parser(__doc__, PRIOR_FILE).parse_args(argv)
    t0 = time.perf_counter()
    service = fitting.open_service()
    cache_queries(service.embedder)
    conversations = load_conversations(split="dev")
    weights, figures, default = fit(service, conversations, log=lambda m: print(m, file=sys.stderr, flush=True))
    out = {"version": 1, "weights": weights,
           "meta": {"fitted": {k: round(v, 4) for k, v in figures.items()},
                    "defaults": {k: round(v, 4) for k, v in default.items()},
                    "conversations": len(conversations), "split": "dev", "grid": GRID,
                    "date": date.today().isoformat(), "command": "python eval/fit_prior.py"}}
    print(json.dumps(out, indent=1))
    fitting.write(out, args, t0)
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
