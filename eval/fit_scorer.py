"""Fit the answer scorer's weights (rag/answer/weights.json) on data, never by hand.

Training questions:
* the dev split of the user-phrased set (eval/user_questions.jsonl), in Chinese and English;
* pseudo-questions generated from the indexed corpus: a sentence holding a figure becomes
  a question made of some of its words with the figure removed; the spans holding the figure
  are positives and their neighbours negatives.
The test split and the regression set (eval/dataset.jsonl) are never read here.

Every candidate span of the retrieved passages is a row, labelled by whether it holds all of
the item's must_include facts. A logistic model gives each span a probability. Its loss is the
pointwise log-loss plus, at a weight chosen out of fold (--ranking), a listwise loss: the
softmax over one question's spans of picking an answering one. The answerer keeps one span per
question, which the listwise term judges; the pointwise term keeps the probability comparable
across questions, as the refusal threshold needs. That threshold per language is chosen on
out-of-fold probabilities of the dev questions so that at most TARGET_FALSE_REFUSAL of
answerable ones are refused.

    python eval/fit_scorer.py                 # re-fit and write rag/answer/weights.json
    python eval/fit_scorer.py --dry-run       # print the figures only
    python eval/fit_scorer.py --extend NAME   # fit one new feature's weight (a name in FEATURES), the others kept

``--extend`` fits only the named features' coefficients, on the same rows, with the fitted
model's score of every span as a fixed offset: a new signal gets its weight from data without
moving the weights (and refusal thresholds) the rest of the answer stage was fitted against.
It prints the out-of-fold share of dev questions whose best span holds the answer, without and
with the new features, so a signal that does not help is seen before it is written.
"""
from __future__ import annotations

import json
import random
import re
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
from rag.answer.features import FEATURES, has_figure, target_years  # noqa: E402
from rag.answer.scorer import WEIGHTS  # noqa: E402
from rag.embeddings import embedder_key  # noqa: E402
from rag.text import NUMBER_RE, content_terms, normalize, sentence_spans  # noqa: E402

USER_SET = ROOT / "eval" / "user_questions.jsonl"
TARGET_FALSE_REFUSAL = 0.05
GENERATED = 400  # pseudo-questions from the corpus
GENERATED_WEIGHT = 0.5  # a generated question counts half a real one
RANKINGS = (0.0, 0.3, 1.0, 3.0)  # weights of the listwise loss tried; the best out of fold is kept
SUFFIXES = ("是多少？", "有多少？", "达到了多少？", "多少？", "规模多大？")


def pseudo_questions(chunks, n: int, seed: int = 0) -> list[dict]:
    """Questions about figures, written from the corpus with the figure removed and some words dropped."""
    rng = random.Random(seed)
    pool = []
    for chunk in chunks:
        for s, e in sentence_spans(chunk.text):
            sentence = chunk.text[s:e]
            if 12 <= len(sentence) <= 150 and has_figure(sentence):
                pool.append((sentence, chunk.text))
    rng.shuffle(pool)
    out = []
    for sentence, passage in pool:
        figs = [m.group(0).strip() for m in NUMBER_RE.finditer(sentence)
                if not re.fullmatch(r"(19|20)\d{2}年?", m.group(0).strip())]
        if not figs:
            continue
        fig = figs[0]
        before = sentence[: sentence.find(fig)]
        words = [w for w in content_terms(before or sentence) if not re.search(r"\d", w)]
        if len(words) < 2:
            continue
        keep = [w for w in words if rng.random() < 0.7] or words[:2]
        body = "".join(keep[-6:]) + rng.choice(SUFFIXES)
        stated = target_years(sentence)
        if stated and rng.random() < 0.6:
            # the same question for a year the passage never states has no answer here
            absent = next(y for y in range(stated[0] + 5, stated[0] + 60, 5) if str(y) not in passage)
            out.append({"id": f"gen{len(out)}", "question": f"{absent}年{body}", "must_include": [],
                        "type": "unanswerable"})
            body = f"{stated[0]}年{body}"
        out.append({"id": f"gen{len(out)}", "question": body, "must_include": [fig], "type": "number"})
        if len(out) >= n:
            break
    return out


def off_topic_questions(vocabulary: set[str], n: int, seed: int = 1) -> list[dict]:
    """Questions about things the corpus never mentions: CC-CEDICT words absent from the
    index's vocabulary, put into question shapes. Negative sampling, so that a question on
    another subject altogether learns to be refused (all its spans are negatives)."""
    from rag.translate import english_index

    rng = random.Random(seed)
    words = sorted({w for ws in english_index().values() for w in ws
                    if 2 <= len(w) <= 4 and re.fullmatch(r"[\u4e00-\u9fff]+", w) and w not in vocabulary})
    shapes = ("{a}的{b}是多少？", "谁{a}了{y}年的{b}？", "{a}{b}是哪家公司？", "{y}年{a}有多少{b}？",
              "为什么{a}要{b}？", "{a}是什么时候{b}的？", "{a}有哪些{b}？")
    out = []
    for i in range(n):
        a, b = rng.sample(words, 2)
        q = rng.choice(shapes).format(a=a, b=b, y=rng.randint(1990, 2030))
        out.append({"id": f"off{i}", "question": q, "must_include": [], "type": "unanswerable"})
    return out


def rows_for(service, item: dict, question: str, k: int):
    """Candidates of one question with labels: 1 when the span holds every must_include fact."""
    query, hits = service.retrieve(question, k=k)
    cands = service.answerer.builder.candidates(query, hits)
    must = [normalize(m) for m in item.get("must_include") or []]
    labels = [int(bool(must) and all(m in normalize(c.text) for m in must)) for c in cands]
    return cands, labels


def collect(service, items: list[tuple[dict, str, str, float]], k: int):
    X, y, w, groups, meta = [], [], [], [], []
    for qid, (item, question, lang, weight) in enumerate(items):
        cands, labels = rows_for(service, item, question, k)
        for c, label in zip(cands, labels):
            X.append([c.features[f] for f in FEATURES])
            y.append(label)
            w.append(weight / max(1, len(cands)) * 20)
            groups.append(qid)
        meta.append({"lang": lang, "answerable": bool(item.get("must_include")), "n": len(cands),
                     "has_positive": any(labels), "real": not str(item["id"]).startswith(("gen", "off"))})
    return np.array(X), np.array(y), np.array(w), np.array(groups), meta


def standardisation(X) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and spread (1 for a constant column), as the fitted files store them."""
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale < 1e-9] = 1.0
    return mean, scale


def fit(X, y, w, groups=None, ranking: float = 0.0, C: float = 1.0):
    """A logistic model of "this span answers", L2-penalised as scikit-learn's C.

    With ``groups`` (each row's question) and ``ranking`` > 0 the loss adds, at that weight, the
    listwise loss of each question: the softmax over its spans of picking one that answers. The
    answerer keeps one span per question, which only the listwise term judges; the pointwise term
    keeps the probability's level, which the refusal threshold reads, calibrated across questions."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = standardisation(X)
    Z = (X - mean) / scale
    if groups is None or ranking <= 0:
        model = LogisticRegression(C=C, max_iter=2000)
        model.fit(Z, y, sample_weight=w)
        return mean, scale, model.coef_[0], float(model.intercept_[0])
    coef, intercept = fit_ranked(Z, y.astype(float), w, groups, ranking, C)
    return mean, scale, coef, intercept


def fit_ranked(Z, y, w, groups, ranking: float, C: float):
    """Minimise the weighted pointwise log-loss + ranking x the listwise loss + the L2 penalty."""
    from scipy.optimize import minimize

    asked = np.isin(groups, groups[y == 1])  # a question with no answering span ranks nothing
    Zq, yq = Z[asked], y[asked]
    _, q = np.unique(groups[asked], return_inverse=True)
    nq = q.max() + 1
    weight = np.bincount(q, w[asked], nq)  # a question weighs as much as its rows together
    d = Z.shape[1]

    def loss(params):
        beta, b = params[:d], params[d]
        p = 1 / (1 + np.exp(-(Z @ beta + b)))
        point = -(w * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))).sum()
        s = Zq @ beta
        top = np.full(nq, -np.inf)
        np.maximum.at(top, q, s)
        e = np.exp(s - top[q])
        every, good = np.bincount(q, e, nq), np.bincount(q, e * yq, nq)
        listwise = -(weight * (np.log(good) - np.log(every))).sum()
        grad = Z.T @ (w * (p - y)) + ranking * (Zq.T @ ((e / every[q] - e * yq / good[q]) * weight[q])) + beta / C
        value = point + ranking * listwise + beta @ beta / (2 * C)
        return value, np.append(grad, (w * (p - y)).sum())

    x = minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B", options={"maxiter": 5000}).x
    return x[:d], float(x[d])


def predict(X, mean, scale, coef, intercept):
    return 1 / (1 + np.exp(-(((X - mean) / scale) @ coef + intercept)))


def out_of_fold(X, y, w, groups, ranking: float = 0.0, folds: int = 5):
    """Each question's span probabilities from a model that never saw that question."""
    probs = np.zeros(len(y))
    fold_of = groups % folds
    for f in range(folds):
        train = fold_of != f
        probs[~train] = predict(X[~train], *fit(X[train], y[train], w[train], groups[train], ranking))
    return probs


def choose_ranking(X, y, w, groups, meta, rankings) -> tuple[float, list]:
    """The listwise weight whose out-of-fold best span answers most real dev questions (zh and en
    together; the smaller weight on a tie), with its per-question tops."""
    best = None
    for ranking in rankings:
        tops = per_question(out_of_fold(X, y, w, groups, ranking), y, groups, meta)
        share = {lang: best_span_share(tops, meta, lang) for lang in ("zh", "en")}
        print(f"listwise weight {ranking}: out-of-fold best span right "
              + ", ".join(f"{lang} {v:.4f}" for lang, v in share.items()), file=sys.stderr, flush=True)
        if best is None or sum(share.values()) > best[0] + 1e-9:
            best = (sum(share.values()), ranking, tops)
    return best[1], best[2]


def per_question(probs, y, groups, meta):
    """(top probability, top span correct) per question."""
    out = []
    for qid, m in enumerate(meta):
        idx = np.flatnonzero(groups == qid)
        if len(idx) == 0:
            out.append((0.0, False))
            continue
        best = idx[np.argmax(probs[idx])]
        out.append((float(probs[best]), bool(y[best])))
    return out


def best_span_share(tops, meta, lang: str) -> float:
    """The share of answerable dev questions in ``lang`` whose highest-scored span holds the answer."""
    real = [ok for (_, ok), m in zip(tops, meta) if m["real"] and m["lang"] == lang and m["answerable"]]
    return sum(real) / max(1, len(real))


def choose_threshold(tops, meta, lang: str) -> tuple[float, dict]:
    """The highest threshold refusing at most TARGET_FALSE_REFUSAL of the answerable real questions."""
    ans = sorted(p for (p, _), m in zip(tops, meta) if m["real"] and m["lang"] == lang and m["answerable"])
    una = [p for (p, _), m in zip(tops, meta) if m["real"] and m["lang"] == lang and not m["answerable"]]
    allowed = int(TARGET_FALSE_REFUSAL * len(ans))
    threshold = ans[allowed] - 1e-6 if ans else 0.5
    stats = {"answerable": len(ans), "unanswerable": len(una),
             "false_refusal": sum(p < threshold for p in ans) / max(1, len(ans)),
             "correct_refusal": sum(p < threshold for p in una) / max(1, len(una))}
    return threshold, stats


def fit_offset(Z, y, w, offset, C: float = 1.0, steps: int = 50) -> np.ndarray:
    """Coefficients of standardised features Z in a logistic model with a fixed offset
    (Newton's method; L2 penalty as scikit-learn's C)."""
    beta = np.zeros(Z.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(offset + Z @ beta)))
        grad = Z.T @ (w * (y - p)) - beta / C
        hess = Z.T @ (Z * (w * p * (1 - p))[:, None]) + np.eye(len(beta)) / C
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def extend(X, y, w, groups, meta, new: list[str], path=WEIGHTS) -> dict:
    """The fitted weights with ``new`` features added, their coefficients fitted with the
    old model's score as offset; prints the out-of-fold best-span figures without and with them."""
    from rag.answer.scorer import read_fitted

    data = read_fitted(path, "scorer weights", "eval/fit_scorer.py")
    fitted = {f: i for i, f in enumerate(data["features"])}
    old = [f for f in data["features"] if f not in new]
    keep = [fitted[f] for f in old]
    col = {f: i for i, f in enumerate(FEATURES)}
    mean_old, scale_old, coef_old = (np.array(data[k])[keep] for k in ("mean", "scale", "coef"))
    offset = ((X[:, [col[f] for f in old]] - mean_old) / scale_old) @ coef_old + data["intercept"]
    raw = X[:, [col[f] for f in new]]
    mean, scale = standardisation(raw)
    Z = (raw - mean) / scale
    oof = np.zeros(len(y))
    for f in range(5):
        train = groups % 5 != f
        oof[~train] = offset[~train] + Z[~train] @ fit_offset(Z[train], y[train], w[train], offset[train])
    for name, scores in (("without", offset), ("with", oof)):
        tops = per_question(scores, y, groups, meta)
        for lang in ("zh", "en"):
            print(f"out of fold, {name} {new}: {lang} best span right {best_span_share(tops, meta, lang):.4f}",
                  file=sys.stderr)
    beta = fit_offset(Z, y, w, offset)
    data["features"] = old + new
    data["mean"] = mean_old.tolist() + mean.tolist()
    data["scale"] = scale_old.tolist() + scale.tolist()
    data["coef"] = coef_old.tolist() + beta.tolist()
    data["meta"]["extended"] = {"features": new, "fitted": date.today().isoformat(), "rows": int(len(y)),
                                "command": "python eval/fit_scorer.py --extend " + " ".join(new)}
    return data


def main(argv=None) -> int:
    ap = fitting.parser(__doc__, WEIGHTS)
    ap.add_argument("--ranking", type=float, default=None,
                    help="weight of the listwise loss beside the pointwise one (0: pointwise only); "
                         f"default: whichever of {RANKINGS} picks the answering span most often out of fold")
    ap.add_argument("--generated", type=int, default=GENERATED, help="pseudo-questions from the corpus")
    ap.add_argument("--extend", nargs="+", metavar="FEATURE", choices=FEATURES,
                    help="fit only these features' weights, keeping the fitted ones (see above)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    service = fitting.open_service()
    k = service.settings.top_k
    dev = [i for i in load_dataset(USER_SET) if i["split"] == "dev"]
    items = [(i, i["question"], "zh", 1.0) for i in dev]
    items += [(i, i["question_en"], "en", 1.0) for i in dev if i.get("question_en")]
    # a year twin with no answer states a fact (the year is not covered) as plainly as a real
    # question does, so it weighs as much; the generated answerable questions weigh less
    items += [(g, g["question"], "zh", 1.0 if g["type"] == "unanswerable" else GENERATED_WEIGHT)
              for g in pseudo_questions(service.store.chunks, args.generated)]
    items += [(g, g["question"], "zh", GENERATED_WEIGHT)
              for g in off_topic_questions(service.lexical.vocabulary, args.generated // 4)]
    print(f"{len(items)} training questions ({len(dev)} dev items in zh+en, the rest generated) …", file=sys.stderr)
    X, y, w, groups, meta = collect(service, items, k)
    if args.extend:
        weights = extend(X, y, w, groups, meta, list(dict.fromkeys(args.extend)))
        return report_and_write(weights, weights["features"], args, t0)
    ranking, tops = choose_ranking(X, y, w, groups, meta, RANKINGS if args.ranking is None else (args.ranking,))
    thresholds, stats = {}, {}
    for lang in ("zh", "en"):
        thresholds[lang], stats[lang] = choose_threshold(tops, meta, lang)
        stats[lang]["top_span_correct"] = best_span_share(tops, meta, lang)
        stats[lang]["threshold"] = round(thresholds[lang], 4)
    mean, scale, coef, intercept = fit(X, y, w, groups, ranking)
    weights = {
        "version": 1, "features": list(FEATURES), "mean": mean.tolist(), "scale": scale.tolist(),
        "coef": coef.tolist(), "intercept": intercept, "thresholds": thresholds,
        "meta": {"fitted": date.today().isoformat(), "rows": int(len(y)), "positives": int(y.sum()),
                 "questions": len(items), "dev_items": len(dev), "generated": args.generated,
                 "top_k": k, "ranking": ranking, "embedding": embedder_key(service.embedder), "target_false_refusal": TARGET_FALSE_REFUSAL,
                 "out_of_fold_dev": stats, "command": "python eval/fit_scorer.py"},
    }
    return report_and_write(weights, FEATURES, args, t0)


def report_and_write(weights: dict, features, args, t0: float) -> int:
    """Print what was fitted (its meta, each feature's coefficient) and write it unless --dry-run."""
    print(json.dumps(weights["meta"], indent=1))
    print("weights:", {f: round(c, 3) for f, c in zip(features, weights["coef"])})
    fitting.write(weights, args, t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
