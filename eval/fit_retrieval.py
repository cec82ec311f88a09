"""Fit how retrieval lists are fused (rag/fusion.json) on data, never by hand.

Per language, a grid over the ``Fusion`` parameters (weight of an English question's
translated-terms vector, of the lexical list, the reciprocal-rank constant, the year bonus, the
sentence re-ranking pool and weight) is scored by running the real ``HybridRetriever`` and
``SentenceRerank`` on every training question, with the dense, lexical and sentence lookups of
each question computed once. The objective is hit@5 plus half the mean reciprocal rank of the
evidence passage, on the user dev split (weight 1) and the regression set (weight 0.5: its
questions reuse the documents' words, so it counts less). The user test split is never read.

    python eval/fit_retrieval.py              # re-fit and write rag/fusion.json
    python eval/fit_retrieval.py --dry-run    # print the figures only

Re-fit the answer scorer and the trimmer afterwards (their features include the passage rank):
    python eval/fit_scorer.py && python eval/fit_trim.py
"""
from __future__ import annotations

import itertools
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from eval import fitting  # noqa: E402
from eval.harness import load_dataset  # noqa: E402
from eval.metrics import hit_rank  # noqa: E402
from rag.retrieval import FUSION_FILE, Fusion, HybridRetriever, SentenceRerank  # noqa: E402

USER_SET = ROOT / "eval" / "user_questions.jsonl"
SET_WEIGHTS = {"dev": 1.0, "regression": 0.5}
GRID = {"w_terms": [0.5, 1.0, 1.5], "w_lexical": [0.4, 0.8, 1.2, 1.6, 2.4], "rrf_k": [3, 5, 10, 30, 60],
        "year_bonus": [0.0, 0.25, 0.5], "pool": [20, 30], "w_sentence": [0.0, 0.5, 1.0]}


class _Memo:
    """A retriever part whose answer for one query object is computed once (the grid reuses it)."""

    def __init__(self, part, method: str):
        self.part, self.method, self.memo = part, method, {}
        setattr(self, method, self._call)

    def _call(self, query, k, docs=None):
        key = (id(query), k)
        if key not in self.memo:
            self.memo[key] = getattr(self.part, self.method)(query, k, docs)
        return self.memo[key]


class _MemoSentences:
    def __init__(self, sentences):
        self.sentences, self.memo = sentences, {}

    def get(self, chunk):
        if chunk.chunk_id not in self.memo:
            self.memo[chunk.chunk_id] = self.sentences.get(chunk)
        return self.memo[chunk.chunk_id]


def questions(service, lang: str) -> list[tuple[object, str, float]]:
    """(analysed query, evidence, weight, set name) of every answerable training question in ``lang``."""
    dev = [(i, "dev") for i in load_dataset(USER_SET) if i["split"] == "dev"]
    regression = [(i, "regression") for i in load_dataset()]
    out = []
    for item, name in dev + regression:
        text = item["question"] if lang == "zh" else item.get("question_en")
        if text and item.get("evidence") and item.get("must_include"):
            out.append((service.analyze(text), item["evidence"], SET_WEIGHTS[name], name))
    return out


def objective(retriever, qs) -> dict[str, float]:
    """Weighted hit@5 + MRR/2 over all questions, with hit@5 per set for the report."""
    total, per = 0.0, {}
    for query, evidence, weight, name in qs:
        rank = hit_rank([h.chunk.text for h in retriever.retrieve(query, 5)], evidence)
        total += weight * ((rank is not None) + 0.5 * (1.0 / rank if rank else 0.0))
        per.setdefault(name, []).append(rank is not None)
    return {"objective": total / sum(q[2] for q in qs), **{f"hit@5 {n}": float(np.mean(v)) for n, v in per.items()}}


def fit_language(service, lang: str) -> tuple[Fusion, dict, dict]:
    """The best grid point for ``lang`` with its figures, and the defaults' figures."""
    live = service.live
    dense, lexical = _Memo(live.dense, "retrieve_rows"), _Memo(live.lexical, "retrieve")
    sentences = _MemoSentences(live.sentences)
    qs = questions(service, lang)
    if lang == "zh":  # one query row: the terms weight changes nothing
        grid = dict(GRID, w_terms=[1.0])
    else:
        grid = GRID

    def run(f: Fusion) -> dict:
        table = {"zh": f, "en": f}
        return objective(SentenceRerank(HybridRetriever(dense, lexical, table), sentences, table), qs)

    best, best_figures = None, None
    for values in itertools.product(*grid.values()):
        f = Fusion(**dict(zip(grid, values)))
        figures = run(f)
        if best_figures is None or figures["objective"] > best_figures["objective"] + 1e-9:
            best, best_figures = f, figures
    return best, best_figures, run(Fusion())


def main(argv=None) -> int:
    args = fitting.parser(__doc__, FUSION_FILE).parse_args(argv)
    t0 = time.perf_counter()
    service = fitting.open_service()
    out = {"version": 1}
    for lang in ("zh", "en"):
        fusion, figures, default = fit_language(service, lang)
        print(f"{lang}: fitted {fusion.to_dict()}\n    {_fmt(figures)}\n    defaults: {_fmt(default)}")
        out[lang] = fusion.to_dict()
        out.setdefault("meta", {})[lang] = {"fitted": {k: round(v, 4) for k, v in figures.items()},
                                            "defaults": {k: round(v, 4) for k, v in default.items()}}
    out["meta"].update({"date": date.today().isoformat(), "sets": SET_WEIGHTS, "grid": GRID})
    print(f"fitted in {time.perf_counter() - t0:.0f} s")
    fitting.write(out, args, t0)
    return 0


def _fmt(figures: dict) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in figures.items())


if __name__ == "__main__":
    raise SystemExit(main())
