"""How much of a question's wording its evidence repeats: the share of the question's content
words (jieba words minus stopwords and question words) found in the evidence sentence.

A set written from the documents scores high (its questions quote them); questions phrased as
users ask score low. The test suite keeps the user-phrased set at a median of at most 0.5.
"""
from __future__ import annotations

import statistics

from rag.text import content_terms, normalize


def word_overlap(question: str, evidence: str) -> float | None:
    """Share of the question's content words that occur in the evidence (None: no content words)."""
    terms = list(dict.fromkeys(content_terms(question)))
    if not terms:
        return None
    ev = normalize(evidence)
    return sum(1 for t in terms if normalize(t) in ev) / len(terms)


def median_overlap(items: list[dict]) -> float:
    shares = [word_overlap(i["question"], i["evidence"]) for i in items if i.get("evidence")]
    return statistics.median(s for s in shares if s is not None)
