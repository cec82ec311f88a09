"""Verification of LLM answers against the passages they were given, with deterministic repair.

An answer is split into claims: the text before each group of [n] markers, and any
sentence left without one. Every marker must name a supplied passage and every figure of
a claim must occur in one of the passages it cites. A claim that fails is re-attached to
the passage that does contain its figures when one exists (the model cited the wrong
one); otherwise it is marked unverified, and an answer with no verifiable claim at all is
rejected so the caller can fall back to the extractive answer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .prompts import REFUSAL
from ..text import bare_numbers, figures, normalize, sentence_spans
from ..types import Chunk, Citation
from .verify import markers, number_in

_GROUP = re.compile(r"(?:\s*\[\d{1,3}\])+")
_LEADING_GROUP = re.compile(r"\s*(?:\[\d{1,3}\]\s*)+")
# "1. …" / "（2）…" list numbering is layout, not a figure to verify
_ENUMERATOR = re.compile(r"(?m)^\s*(?:[-*•]\s*)?(?:\d{1,2}[.、)）]|[（(]\d{1,2}[)）])\s*")
_TRAILING = " \t\n。．.!！?？；;，,:：”’\"'）)"
UNVERIFIED_TAG = {"zh": "（未核实）", "en": " (unverified)"}
MIN_OVERLAP = 0.5  # share of a figure-less claim's bigrams a passage must contain to adopt it


@dataclass
class Claim:
    start: int  # claim text span in the answer (without its markers)
    end: int
    mark_start: int  # span of its marker group (empty when uncited: the insertion point)
    mark_end: int
    cited: list[int]
    new: list[int] | None = None  # markers after repair
    unverified: bool = False


@dataclass
class Verified:
    text: str
    citations: list[Citation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    refused: bool = False
    reject: str | None = None  # why the answer cannot be used (caller falls back)
    changed: bool = False


def is_refusal(text: str) -> bool:
    t = normalize(text)
    return any(t.startswith(normalize(r).rstrip("。.")) for r in REFUSAL.values())


def split_claims(text: str) -> list[Claim]:
    spans = sentence_spans(text)
    # a marker group written after the full stop ("… 12.7%. [2]") belongs to the sentence before
    fixed: list[list[int]] = []
    for s, e in spans:
        m = _LEADING_GROUP.match(text, s, e)
        if m and fixed:
            fixed[-1][1] = m.end()
            s = m.end()
        if text[s:e].strip():
            fixed.append([s, e])
    claims = []
    for s, e in fixed:
        pos = s
        for m in _GROUP.finditer(text, s, e):
            claims.append(Claim(pos, m.start(), m.start(), m.end(), markers(m.group())))
            pos = m.end()
        rest = text[pos:e]
        if re.search(r"\w", rest) and not _ENUMERATOR.fullmatch(rest.rstrip()):
            end = pos + len(rest.rstrip(_TRAILING))
            claims.append(Claim(pos, end, end, end, []))
    return claims


def claim_numbers(body: str) -> list[str]:
    return list(dict.fromkeys(bare_numbers(_ENUMERATOR.sub(" ", body))))


def shown(number: str, body: str) -> str:
    """The figure as the answer wrote it (12.7%), for messages."""
    for f in figures(body):
        if bare_numbers(f)[:1] == [number]:
            return f
    return number


def _bigrams(text: str) -> set[str]:
    t = re.sub(r"[\W_]+", "", normalize(text))
    return {t[i : i + 2] for i in range(len(t) - 1)}


def overlap(claim: str, passage: str) -> float:
    grams = _bigrams(claim)
    return len(grams & _bigrams(passage)) / len(grams) if grams else 0.0


def _marks(ns: list[int]) -> str:
    return "".join(f"[{n}]" for n in ns)


def verify_answer(text: str, chunks: list[Chunk], lang: str = "zh", terms: list[str] | None = None) -> Verified:
    """Check and repair an LLM answer whose passage n is chunks[n - 1]."""
    text = text.strip()
    if not text:
        return Verified(text, reject="the LLM returned an empty answer")
    if is_refusal(text):
        return Verified(text, refused=True)
    claims = split_claims(text)
    if not claims:
        return Verified(text, reject="the LLM answer has no content")
    total = len(chunks)
    notes: list[str] = []
    unverified: list[str] = []
    for claim in claims:
        body = text[claim.start : claim.end]
        valid = [n for n in dict.fromkeys(claim.cited) if 1 <= n <= total]
        bad = [n for n in dict.fromkeys(claim.cited) if not 1 <= n <= total]
        for n in bad:
            notes.append(f"repaired: removed citation [{n}] (only {total} passage(s) were provided)")
        nums = claim_numbers(body)
        if nums:
            _check_figures(claim, body, nums, valid, chunks, notes, unverified)
        elif valid:
            claim.new = valid
        else:
            _attach_by_wording(claim, body, bool(bad), chunks, notes, unverified)
        if claim.new is None:
            claim.new = valid
    good = [c for c in claims if c.new and not c.unverified]
    if not good:
        reason = "; ".join(n.replace("unverified: ", "") for n in notes if n.startswith("unverified")) \
            or "the LLM answer cites no passage"
        return Verified(text, notes=notes, unverified=unverified, reject=reason)
    out = text
    for claim in sorted(claims, key=lambda c: -c.mark_start):
        replacement = _marks(claim.new or [])
        if claim.unverified:
            replacement += UNVERIFIED_TAG.get(lang, UNVERIFIED_TAG["en"])
        old = text[claim.mark_start : claim.mark_end]
        if replacement != old.strip():
            out = out[: claim.mark_start] + replacement + out[claim.mark_end :]
    result = Verified(out, notes=notes, unverified=list(dict.fromkeys(unverified)), changed=out != text)
    result.citations = build_citations(out, claims, text, chunks, terms or [])
    return result


def _check_figures(claim: Claim, body: str, nums: list[str], valid: list[int], chunks: list[Chunk],
                   notes: list[str], unverified: list[str]) -> None:
    def has(n: int, num: str) -> bool:
        return number_in(num, chunks[n - 1].text)

    keep = [n for n in valid if any(has(n, num) for num in nums)]
    missing = [num for num in nums if not any(has(n, num) for n in keep)]
    added: dict[int, list[str]] = {}
    while missing:  # greedy cover, best-ranked passage first on ties
        best = max(range(1, len(chunks) + 1), key=lambda n: (sum(has(n, num) for num in missing), -n))
        covered = [num for num in missing if has(best, num)]
        if not covered:
            break
        added[best] = covered
        missing = [num for num in missing if num not in covered]
    for n, nums_moved in added.items():
        was = f" from {_marks(claim.cited)}" if claim.cited else ""
        figs = ", ".join(shown(num, body) for num in nums_moved)
        notes.append(f"repaired: figure {figs} re-attached{was} to [{n}]")
    # cited passages that support none of the figures are replaced by the ones that do
    claim.new = sorted(set(keep) | set(added)) or valid
    if missing:
        claim.unverified = True
        for num in missing:
            fig = shown(num, body)
            unverified.append(fig)
            notes.append(f"unverified: figure {fig} is in none of the provided passages")


def _attach_by_wording(claim: Claim, body: str, had_bad: bool, chunks: list[Chunk],
                       notes: list[str], unverified: list[str]) -> None:
    scores = [overlap(body, c.text) for c in chunks]
    best = max(range(len(chunks)), key=lambda i: (scores[i], -i)) if chunks else -1
    if best >= 0 and scores[best] >= MIN_OVERLAP:
        claim.new = [best + 1]
        notes.append(f"repaired: uncited statement attached to [{best + 1}], whose wording it follows")
        return
    stripped = re.sub(r"[\W_]+", "", body)
    if had_bad or len(stripped) > 12:  # short connectives ("具体如下") are not claims
        claim.unverified = True
        excerpt = body.strip(_TRAILING)[:40]
        unverified.append(excerpt)
        notes.append(f"unverified: “{excerpt}” cites no provided passage")


def build_citations(out: str, claims: list[Claim], original: str, chunks: list[Chunk],
                    terms: list[str]) -> list[Citation]:
    """One citation per cited passage; its span is the sentence that best supports the claims citing it."""
    cited = sorted(set(markers(out)))
    citations = []
    for n in cited:
        if not 1 <= n <= len(chunks):
            continue
        bodies = [original[c.start : c.end] for c in claims if c.new and n in c.new]
        nums = [num for b in bodies for num in claim_numbers(b)]
        start, end = best_sentence(chunks[n - 1].text, nums, terms, " ".join(bodies))
        citations.append(Citation(n, chunks[n - 1], start, end))
    return citations


def best_sentence(text: str, nums: list[str], terms: list[str], claim: str) -> tuple[int, int]:
    spans = sentence_spans(text) or [(0, len(text))]

    def score(span: tuple[int, int]) -> tuple[int, float]:
        s = text[span[0] : span[1]]
        sn = normalize(s)
        found = sum(1 for num in set(nums) if number_in(num, s))
        words = sum(1 for t in terms if t and normalize(t) in sn)
        return found, words + overlap(s, claim)

    return max(spans, key=score)
