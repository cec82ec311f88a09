"""Metric functions of the evaluation harness: pure, small, unit-tested on hand-made inputs.

Every comparison goes through ``rag.text.normalize`` (NFKC, lower case, no whitespace), so
full-/half-width forms ("12.7％" vs "12.7%"), PDF line breaks and "2021 年" spacing never
decide a score.
"""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Iterable, Sequence

from rag.text import normalize

MARKER_RE = re.compile(r"\[\d+\]")

# Concise = at most 3× the gold answer plus 60 characters. Gold answers are one clause
# (median 14 characters, longest 62), so the limit leaves room for the clause the fact
# sits in and its lead ("到2030年底，…"), typically 100–250 characters, but not for a
# pasted paragraph, which is what a reader would have to search through.
CONCISE_FACTOR = 3
CONCISE_SLACK = 60
# An answer that reproduces this share of a cited passage (of at least PASTE_MIN_CHARS)
# is the passage, not an answer, whatever its length.
PASTE_SHARE = 0.8
PASTE_MIN_CHARS = 120


def contains(haystack: str | None, needle: str | None) -> bool:
    if not haystack or not needle:
        return False
    return normalize(needle) in normalize(haystack)


def answer_body(text: str) -> str:
    """The answer without its [n] citation markers (they are not part of any fact)."""
    return MARKER_RE.sub("", text or "").strip()


def hit_rank(passages: Sequence[str], evidence: str | None) -> int | None:
    """1-based rank of the first passage containing the evidence, or None."""
    if not evidence:
        return None
    ev = normalize(evidence)
    for rank, passage in enumerate(passages, 1):
        if ev in normalize(passage):
            return rank
    return None


def hit_at(ranks: Iterable[int | None], k: int) -> float | None:
    ranks = list(ranks)
    if not ranks:
        return None
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def mrr(ranks: Iterable[int | None], k: int = 10) -> float | None:
    ranks = list(ranks)
    if not ranks:
        return None
    return sum(1 / r for r in ranks if r is not None and r <= k) / len(ranks)


def missing_facts(answer: str, must_include: Sequence[str]) -> list[str]:
    body = normalize(answer_body(answer))
    return [f for f in must_include if normalize(f) not in body]


def is_accurate(answer: str, must_include: Sequence[str], refused: bool) -> bool:
    return not refused and bool(must_include) and not missing_facts(answer, must_include)


def concise_limit(gold: str) -> int:
    return CONCISE_FACTOR * len(gold) + CONCISE_SLACK


def is_pasted(answer: str, passages: Sequence[str]) -> bool:
    body = normalize(answer_body(answer))
    for p in passages:
        pn = normalize(p)
        if len(pn) >= PASTE_MIN_CHARS and len(body) >= PASTE_SHARE * len(pn) and (pn in body or body in pn):
            return True
    return False


def is_concise(answer: str, gold: str, cited: Sequence[str]) -> bool:
    body = answer_body(answer)
    return len(body) <= concise_limit(gold) and not is_pasted(answer, cited)


def grounded(answer: str, must_include: Sequence[str], cited: Sequence[str]) -> bool | None:
    """Every must_include fact the answer states is in a cited passage; None when it states none."""
    body = normalize(answer_body(answer))
    stated = [f for f in must_include if normalize(f) in body]
    if not stated:
        return None
    cited_norm = [normalize(c) for c in cited]
    return all(any(normalize(f) in c for c in cited_norm) for f in stated)


def good_citations(cited: Sequence[str], evidence: str | None, must_include: Sequence[str]) -> int:
    """How many cited passages contain the evidence or at least one must_include fact."""
    good = 0
    for c in cited:
        cn = normalize(c)
        if (evidence and normalize(evidence) in cn) or any(normalize(f) in cn for f in must_include):
            good += 1
    return good


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    pos = (len(vals) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(vals) - 1)
    return vals[lo] + (vals[hi] - vals[lo]) * (pos - lo)


def why_failed(row: dict, k: int) -> str:
    """A one-line diagnosis for a developer; "" when the item passed."""
    if row["type"] == "unanswerable":
        return "" if row["refused"] else "answered an unanswerable question"
    rank = row["hit_rank"]
    if rank is None:
        retrieval = "retrieval miss: evidence not in top-10"
    elif rank > k:
        retrieval = f"evidence ranked {rank}, beyond k={k}"
    else:
        retrieval = ""
    if row["refused"]:
        return "false refusal" + (f" ({retrieval})" if retrieval else f" (evidence at rank {rank})")
    if row["accurate"]:
        if row["concise"]:
            return ""
        n = len(answer_body(row["answer"]))
        if n > row["concise_limit"]:
            return f"accurate but too long: {n} chars > {row['concise_limit']}"
        return "accurate but pastes the cited passage"
    missing = "missing facts: " + ", ".join(row["missing"])
    if retrieval:
        return f"{retrieval}; {missing}"
    if row["citations"] and row["good_citations"] == 0:
        return f"answered from wrong passage (evidence at rank {rank}); {missing}"
    return missing


def failure_kind(why: str) -> str:
    """The category of a why_failed string: its first clause, numbers and details dropped."""
    head = why.split(";")[0].split(" (")[0].split(":")[0]
    return re.sub(r"\d+", "N", head).strip()


def summarize(rows: Sequence[dict]) -> dict:
    """The headline metrics of a set of per-question rows (one config, any slice)."""
    answerable = [r for r in rows if r["type"] != "unanswerable"]
    unanswerable = [r for r in rows if r["type"] == "unanswerable"]
    with_evidence = [r for r in answerable if r.get("evidence")]
    ranks = [r["hit_rank"] for r in with_evidence]
    stated = [r["grounded"] for r in answerable if not r["refused"] and r["grounded"] is not None]
    n_cit = sum(len(r["citations"]) for r in answerable if not r["refused"])
    n_good = sum(r["good_citations"] for r in answerable if not r["refused"])

    def share(xs, pred):
        return sum(1 for x in xs if pred(x)) / len(xs) if xs else None

    out = {
        "n": len(rows),
        "n_answerable": len(answerable),
        "n_unanswerable": len(unanswerable),
        "hit@1": hit_at(ranks, 1),
        "hit@5": hit_at(ranks, 5),
        "mrr@10": mrr(ranks, 10),
        "accuracy": share(answerable, lambda r: r["accurate"]),
        "concise_accuracy": share(answerable, lambda r: r["accurate"] and r["concise"]),
        "groundedness": share(stated, bool),
        "citation_precision": n_good / n_cit if n_cit else None,
        "correct_refusal": share(unanswerable, lambda r: r["refused"]),
        "false_refusal": share(answerable, lambda r: r["refused"]),
    }
    for stage in ("embed_ms", "search_ms", "answer_ms", "total_ms"):
        vals = [r["timings_ms"].get(stage) for r in rows if r.get("timings_ms")]
        out[f"{stage}_p50"] = percentile(vals, 50)
        out[f"{stage}_p95"] = percentile(vals, 95)
    return out


def group(rows: Iterable[dict], *keys: str) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in keys)].append(r)
    return dict(groups)
