"""Trimming the chosen span to the clauses that state the answer, by a fitted model.

The span scorer picks one to three sentences; an answer should be the part of them that
states the fact asked for: "17家碳积分为正值", not the scene-setting "园区首批30家试点工业企业中".
Each clause of the span gets a probability of holding an asked fact from a logistic model over
the signals below (weights fitted by ``eval/fit_trim.py`` on the dev split and corpus
pseudo-questions, stored in ``trim.json``). The answer is the contiguous run of clauses with
the largest total of (probability - margin): one clause when one says it all, several when
the facts are spread, the whole list when every item is wanted. The margin is fitted too, on
how often the trimmed answer keeps every fact and stays concise.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..query import _ASK_RE, Query
from ..text import clause_spans, content_terms, has_date, normalize, sentence_spans
from .features import _ENUM_RE, _EXPLAIN_RE, _NAME_RE, Candidate, contains, has_quantity, term_weight
from .units import asked_measures, states_asked_measure

TRIM_WEIGHTS = Path(__file__).resolve().parent / "trim.json"
KINDS = ("number", "date", "list", "explain", "entity")
TRIM_FEATURES = (
    "spec", "spec_share", "spec_top", "near", "quantity", "date", "enum", "explain", "name", "unit_ok",
    "year_asked", "first", "last", "log_len", "prev_spec", "next_spec", "is_en",
    *(f"kind_{k}" for k in KINDS), *(f"fit_{k}" for k in KINDS), "fit_spec", "fit_bare", "foreign",
)


def _nearness(query: Query):
    """Per question term: 1 + how close it stands to the question word (Chinese questions).
    In "首批试点里，碳积分为正的企业有几家" the count asked for is of 碳积分为正 companies."""
    m = _ASK_RE.search(query.text)
    if m is None or query.lang != "zh":
        return lambda term: 1.0

    def near(term: str) -> float:
        at = query.text.find(term)
        if at < 0:
            return 1.0
        gap = m.start() - (at + len(term)) if at < m.start() else at - m.end()
        return 1.0 + 4.0 / (4.0 + max(gap, 0))

    return near


def clause_features(query: Query, cand: Candidate, rarity) -> tuple[list[tuple[int, int]], list[dict]]:
    """The clauses of a candidate span (chunk-relative) and each one's signals."""
    text = cand.chunk.text
    clauses = clause_spans(text, cand.start, cand.end) or [(cand.start, cand.end)]
    near = _nearness(query)
    measures = asked_measures(query) if query.expects == "number" else set()
    specs, nears = [], []
    for s, e in clauses:
        c = normalize(text[s:e])
        matched = [t for t in cand.in_sentence if contains(c, t)]
        specs.append(sum(term_weight(t) * rarity(t) for t in matched))  # 达到, 目标: common, say little
        nears.append(max((near(t) * rarity(t) for t in matched), default=0.0))
    total, top = sum(specs) or 1.0, max(specs) or 1.0
    rows = []
    for i, (s, e) in enumerate(clauses):
        clause = text[s:e]
        f = {
            "spec": math.log1p(specs[i]), "spec_share": specs[i] / total, "spec_top": float(specs[i] >= top - 1e-9),
            "near": nears[i], "quantity": float(has_quantity(clause)), "date": float(has_date(clause)),
            "enum": min(len(_ENUM_RE.findall(clause)), 3) / 3, "explain": float(bool(_EXPLAIN_RE.search(clause))),
            "name": float(bool(_NAME_RE.search(clause))),
            "unit_ok": float(_in_asked_unit(query, clause) or states_asked_measure(measures, clause)),
            "year_asked": float(any(str(y) in clause for y in query.years)),
            "first": float(i == 0), "last": float(i == len(clauses) - 1), "log_len": math.log1p(len(clause)),
            "prev_spec": specs[i - 1] / top if i > 0 else 0.0,
            "next_spec": specs[i + 1] / top if i + 1 < len(clauses) else 0.0,
            "is_en": float(query.lang != "zh"),
        }
        kind_fit = {"number": f["quantity"], "date": f["date"], "list": f["enum"], "explain": f["explain"],
                    "entity": f["name"]}
        for k in KINDS:
            f[f"kind_{k}"] = float(query.expects == k)
            f[f"fit_{k}"] = f[f"kind_{k}"] * kind_fit[k]
        f["foreign"] = _foreign_share(clause, query)
        fits = kind_fit.get(query.expects, 0.0) > 0
        f["fit_spec"] = fits * f["spec_share"]  # the kind of answer asked for, next to the asked terms
        f["fit_bare"] = float(fits and specs[i] == 0)  # …or a figure about something else
        rows.append(f)
    return clauses, rows


def _in_asked_unit(query: Query, clause: str) -> bool:
    return bool(query.unit) and bool(re.search(rf"\d\s*[万亿千百]*{re.escape(query.unit)}", clause))


def _foreign_share(clause: str, query: Query) -> float:
    """The share of the clause's content words the question never mentions: a clause about
    something else ("草原综合植被盖度达到53.5%" when the wetland rate was asked)."""
    words = [w for w in content_terms(clause) if not re.search(r"\d", w)]
    if not words:
        return 0.0
    asked = normalize(query.text + " " + " ".join(query.terms))
    return sum(1 for w in words if normalize(w) not in asked) / len(words)


def best_run(probs: list[float], margin: float, figures: list[bool] | None = None,
             max_figures: int | None = None, informative: list[bool] | None = None) -> tuple[int, int]:
    """(first, last) clause of the contiguous run with the largest sum of (p - margin);
    the single most likely clause when every clause is under the margin. With ``max_figures``,
    a run holds at most that many clauses with a figure: a question asking for one figure
    gets it and its companion, not the whole list of targets around it. With ``informative``,
    a run must hold a clause that says more than the question ("到2027年" alone answers nothing)."""
    says = informative or [True] * len(probs)
    fallback = max(range(len(probs)), key=lambda i: (says[i], probs[i]))
    best, best_sum = (fallback, fallback), -math.inf
    for i in range(len(probs)):
        run, held, said = 0.0, 0, False
        for j in range(i, len(probs)):
            held += bool(figures and figures[j])
            said = said or says[j]
            if max_figures is not None and held > max_figures:
                break
            run += probs[j] - margin
            if said and run > best_sum:
                best, best_sum = (i, j), run
    return best


@dataclass
class ClauseTrimmer:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    margins: dict[str, float]  # per expected kind of answer ("default" for the rest)
    meta: dict

    @classmethod
    def load(cls, path: Path | str = TRIM_WEIGHTS) -> "ClauseTrimmer":
        from .scorer import ScorerError, read_fitted

        data = read_fitted(path, "trimming weights", "eval/fit_trim.py")
        if tuple(data["features"]) != TRIM_FEATURES:
            raise ScorerError(f"{path} was fitted on other features; re-fit with `python eval/fit_trim.py`")
        return cls(np.array(data["mean"]), np.array(data["scale"]), np.array(data["coef"]),
                   float(data["intercept"]), {k: float(v) for k, v in data["margin"].items()}, data.get("meta", {}))

    def probabilities(self, rows: list[dict]) -> list[float]:
        x = np.array([[r[n] for n in TRIM_FEATURES] for r in rows], dtype=np.float64)
        z = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        return [1.0 / (1.0 + math.exp(-float(v))) for v in z]

    def span(self, query: Query, cand: Candidate, rarity) -> tuple[int, int]:
        """The chunk-relative span of the clauses that state the answer."""
        if query.expects == "explain":  # a reason or a method takes its whole sentence(s)
            return cand.start, cand.end
        clauses, rows = clause_features(query, cand, rarity)
        if len(clauses) == 1:
            return cand.start, cand.end
        margin = self.margins.get(query.expects, self.margins["default"])
        figures = [r["quantity"] > 0 for r in rows]
        cap = query.asks + 1 if query.expects == "number" else None
        informative = [r["foreign"] > 0 or r["quantity"] > 0 for r in rows]
        lo, hi = best_run(self.probabilities(rows), margin, figures, cap, informative)
        return clauses[lo][0], past_colon(cand, clauses[hi])


def past_colon(cand: Candidate, clause: tuple[int, int]) -> int:
    """Where an answer ending with ``clause`` ends: a clause announcing what follows (…工程是指：,
    …包括：) runs on to the end of its sentence, since what it announces is the answer."""
    text = cand.chunk.text
    if text[clause[1] : clause[1] + 1] not in ("：", ":"):
        return clause[1]
    return next((e for s, e in sentence_spans(text, cand.start, cand.end) if s <= clause[0] < e), clause[1])
