"""Fit the clause trimmer (rag/answer/trim.json) on data, never by hand.

For every training question whose best span (by the fitted span scorer) holds the answer, each
clause of that span is a row, labelled by whether it holds one of the item's must_include
facts. Training questions: the dev split of eval/user_questions.jsonl (zh and en) and corpus
pseudo-questions (as in fit_scorer.py). A logistic regression gives each clause a probability;
the margin of the run selection (rag.answer.trim.best_run) is the one under which the most dev
answers, from out-of-fold probabilities, keep every fact and stay within the concise limit.
The test split and the regression set are never read here.

    python eval/fit_trim.py              # re-fit and write rag/answer/trim.json
    python eval/fit_trim.py --dry-run    # print the figures only
"""
from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from eval import fitting  # noqa: E402
from eval.fit_scorer import GENERATED_WEIGHT, USER_SET, fit, predict, pseudo_questions, report_and_write  # noqa: E402
from eval.harness import load_dataset  # noqa: E402
from eval.metrics import concise_limit  # noqa: E402
from rag.answer.trim import TRIM_FEATURES, TRIM_WEIGHTS, best_run, clause_features  # noqa: E402
from rag.text import normalize  # noqa: E402

MIN_PER_KIND = 15
MARGINS = [round(m, 3) for m in (0.0, 0.01, 0.02, 0.03, 0.04, *np.arange(0.05, 0.96, 0.05))]


def collect(service, items):
    """Rows of clause features with labels, and per real question what the margin is chosen on."""
    rarity = lambda t: service.answerer.builder.idf.of(t)[0]  # noqa: E731
    X, y, w, groups, questions = [], [], [], [], []
    for qid, (item, question, weight) in enumerate(items):
        query, hits = service.retrieve(question)
        ranked = service.answerer.ranked(query, hits)
        must = [normalize(m) for m in item.get("must_include") or []]
        if query.expects == "explain" or not ranked or not must or not all(m in normalize(ranked[0].text) for m in must):
            continue
        cand = ranked[0]
        clauses, rows = clause_features(query, cand, rarity)
        text = cand.chunk.text
        for (s, e), row in zip(clauses, rows):
            X.append([row[n] for n in TRIM_FEATURES])
            y.append(int(any(m in normalize(text[s:e]) for m in must)))
            w.append(weight)
            groups.append(qid)
        if not str(item["id"]).startswith("gen"):
            questions.append({"qid": qid, "clauses": clauses, "text": text, "must": must, "kind": query.expects,
                              "asks": query.asks, "figures": [r["quantity"] > 0 for r in rows],
                              "informative": [r["foreign"] > 0 or r["quantity"] > 0 for r in rows],
                              "limit": concise_limit(item["answer"])})
    return np.array(X), np.array(y), np.array(w), np.array(groups), questions


def out_of_fold(X, y, w, groups, folds: int = 5):
    probs = np.zeros(len(y))
    for f in range(folds):
        test = groups % folds == f
        probs[test] = predict(X[test], *fit(X[~test], y[~test], w[~test]))
    return probs


def margin_figures(probs, groups, questions) -> dict[float, float]:
    """Per margin: the share of dev answers that keep every fact and stay concise."""
    out = {}
    if not questions:
        return {m: 0.0 for m in MARGINS}
    for margin in MARGINS:
        good = 0
        for q in questions:
            p = probs[groups == q["qid"]]
            cap = q["asks"] + 1 if q["kind"] == "number" else None
            lo, hi = best_run(list(p), margin, q["figures"], cap, q["informative"]) if len(p) > 1 else (0, 0)
            answer = normalize(q["text"][q["clauses"][lo][0] : q["clauses"][hi][1]])
            good += all(m in answer for m in q["must"]) and len(answer) <= q["limit"]
        out[margin] = good / max(1, len(questions))
    return out


def main(argv=None) -> int:
    ap = fitting.parser(__doc__, TRIM_WEIGHTS)
    ap.add_argument("--generated", type=int, default=400, help="pseudo-questions from the corpus")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    service = fitting.open_service()
    dev = [i for i in load_dataset(USER_SET) if i["split"] == "dev"]
    items = [(i, i["question"], 1.0) for i in dev] + [(i, i["question_en"], 1.0) for i in dev if i.get("question_en")]
    items += [(g, g["question"], GENERATED_WEIGHT) for g in pseudo_questions(service.store.chunks, args.generated)
              if g["must_include"]]
    X, y, w, groups, questions = collect(service, items)
    figures = margin_figures(out_of_fold(X, y, w, groups), groups, questions)

    margin = max(figures, key=lambda m: (figures[m], m))  # ties: the larger margin, shorter answers
    margins = {"default": margin}
    oof = out_of_fold(X, y, w, groups)
    for kind in sorted({q["kind"] for q in questions}):
        mine = [q for q in questions if q["kind"] == kind]
        if len(mine) >= MIN_PER_KIND:  # enough answers of this kind to choose its own margin
            f = margin_figures(oof, groups, mine)
            margins[kind] = max(f, key=lambda m: (f[m], m))
            print(kind, len(mine), {m: round(v, 3) for m, v in f.items()}, file=sys.stderr)
    mean, scale, coef, intercept = fit(X, y, w)
    weights = {"version": 1, "features": list(TRIM_FEATURES), "mean": mean.tolist(), "scale": scale.tolist(),
               "coef": coef.tolist(), "intercept": intercept, "margin": margins,
               "meta": {"fitted": date.today().isoformat(), "rows": int(len(y)), "positives": int(y.sum()),
                        "dev_answers": len(questions), "kept_and_concise_out_of_fold": round(figures[margin], 4),
                        "by_margin": {str(m): round(v, 4) for m, v in figures.items()},
                        "command": "python eval/fit_trim.py"}}
    return report_and_write(weights, TRIM_FEATURES, args, t0)


if __name__ == "__main__":
    raise SystemExit(main())
