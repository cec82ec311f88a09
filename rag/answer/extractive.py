"""The offline extractive answerer: the shortest sufficient passage span, cited.

It reads the retrieved passages sentence by sentence, keeps the sentences that speak of
the asked topic, place and year (a year stated at the head of a paragraph — "到2030年底，…"
— governs the sentences after it), and answers with the clause that states the fact.
When no sentence qualifies it refuses and names what the documents do give.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from index.store import IndexStore

from ..query import Query
from ..text import NUMBER_RE, clause_spans, has_date, normalize, sentence_spans, years
from ..types import Answer, Chunk, Citation, Document, Hit
from .verify import unsupported_numbers

MIN_COVERAGE = 0.6  # share of the question's topic weight a sentence must cover
# Dictionary translation loses words, so an English question's terms cover less; the
# multilingual model then judges the shortlisted sentences against the question itself.
EN_MIN_COVERAGE = 0.35
RERANK_TOP = 8
SIM_WEIGHT = 4.0
EN_MIN_SIMILARITY = 0.74  # below it the best sentence is as likely wrong as right (measured on eval/)
_BASE_YEAR = re.compile(r"(较|比|相比|与|同比|自|从|截至|截止)\s*(19|20)\d{2}\s*年?")
_PLACE_SUFFIX = re.compile(r"(省|市|县|区|州|盟|旗|自治区|壮族自治区)$")


@dataclass
class Candidate:
    chunk: Chunk
    start: int  # sentence span inside chunk.text
    end: int
    score: float
    coverage: float
    in_sentence: list[str]
    scope_years: list[int]
    similarity: float | None = None
    scope: tuple[Chunk, int, int] | None = None  # sentence that sets the year, when it is another sentence

    @property
    def text(self) -> str:
        return self.chunk.text[self.start : self.end]


@lru_cache(maxsize=4096)
def _term_variants(term: str) -> tuple[str, ...]:
    """The term and its stem without a place suffix (甘肃省 -> 甘肃), normalised for matching."""
    variants = [term]
    stem = _PLACE_SUFFIX.sub("", term)
    if stem != term and len(stem) >= 2:
        variants.append(stem)
    return tuple(normalize(v) for v in variants)


def _contains(text_norm: str, term: str) -> bool:
    return any(v in text_norm for v in _term_variants(term))


def _term_weight(term: str) -> float:
    # longer words are more specific; single characters say little
    return min(len(term), 4) ** 1.2 if re.search(r"[\u4e00-\u9fff]", term) else 1.5


def target_years(sentence: str) -> list[int]:
    """Years the sentence is about (base years such as 较2020年 are not)."""
    cleaned = _BASE_YEAR.sub("", sentence)
    return years(cleaned)


class DocumentContext:
    """Finds, for a position in a document, its block and the year scope in force."""

    def __init__(self, doc: Document):
        self.doc = doc
        self._starts = [b.start for b in doc.blocks]
        self._sentences: dict[int, list[tuple[int, int]]] = {}

    def block_at(self, pos: int):
        i = max(0, bisect.bisect_right(self._starts, pos) - 1)
        return self.doc.blocks[i]

    def sentences(self, block) -> list[tuple[int, int]]:
        if block.start not in self._sentences:
            self._sentences[block.start] = sentence_spans(self.doc.text, block.start, block.end)
        return self._sentences[block.start]

    def scope(self, pos: int) -> tuple[list[int], tuple[int, int] | None]:
        """Years stated by the sentence at pos, else by the nearest earlier sentence of its paragraph."""
        block = self.block_at(pos)
        found: tuple[list[int], tuple[int, int] | None] = ([], None)
        for s, e in self.sentences(block):
            if s > pos:
                break
            ys = target_years(self.doc.text[s:e])
            if s <= pos < e or s == pos:
                return (ys, None) if ys else found
            if ys:
                found = (ys, (s, e))
        return found

    def lead(self, pos: int) -> str:
        """Title, section path, the last headings and the paragraph text before pos: where a
        place or subject is named. Un-numbered PDF headings have no known level, so the path
        alone can lose the outer one ("立足广西" above "好生态激发林业…")."""
        block = self.block_at(pos)
        i = max(0, bisect.bisect_right(self._starts, pos) - 1)
        recent = [self.doc.text[b.start : b.end] for b in self.doc.blocks[max(0, i - 12) : i] if b.is_heading][-3:]
        return " ".join((self.doc.title, *block.section, *recent, self.doc.text[block.start : pos]))


class ExtractiveAnswerer:
    def __init__(self, store: IndexStore, min_coverage: float = MIN_COVERAGE, embedder=None):
        self.store = store
        self.min_coverage = min_coverage
        self.embedder = embedder
        self._contexts: dict[str, DocumentContext] = {}

    def _context(self, doc_id: str) -> DocumentContext:
        if doc_id not in self._contexts:
            self._contexts[doc_id] = DocumentContext(self.store.documents[doc_id])
        return self._contexts[doc_id]

    # ------------------------------------------------------------------ scoring
    def candidates(self, query: Query, hits: list[Hit]) -> tuple[list[Candidate], list[int]]:
        """Qualifying sentence windows, best first, and the years of topical sentences rejected for their year."""
        groups = [g for g in (query.groups or [[t] for t in query.terms]) if g]
        weights = [max(_term_weight(t) for t in g) for g in groups]
        total = sum(weights) or 1.0
        found, other_years = [], []
        for rank, hit in enumerate(hits):
            chunk = hit.chunk
            if chunk.doc_id not in self.store.documents:
                continue
            ctx = self._context(chunk.doc_id)
            passage_norm = normalize(chunk.text)  # once per passage, not per sentence window
            spans = sentence_spans(chunk.text)
            # a sentence alone, or with the next one: the subject and the figure are often split by 。
            windows = [(i, i) for i in range(len(spans))] + [(i, i + 1) for i in range(len(spans) - 1)]
            for first, last in windows:
                s, e = spans[first][0], spans[last][1]
                cand = self._score(query, groups, weights, total, rank, chunk, passage_norm, ctx, s, e, other_years)
                if cand is not None:
                    cand.score -= 0.04 * (last - first)  # prefer the shorter window on a tie
                    found.append(cand)
        found.sort(key=lambda c: -c.score)
        return found, sorted(set(other_years))

    def _score(self, query, groups, weights, total, rank, chunk, passage_norm, ctx, s, e, other_years) -> Candidate | None:
        sentence = chunk.text[s:e]
        sent_norm = normalize(sentence)
        lead_norm = normalize(ctx.lead(chunk.start + s))
        entities = set(query.entities)
        for group in groups:
            if entities.intersection(group) and not any(
                _contains(sent_norm, t) or _contains(lead_norm, t) or _contains(passage_norm, t) for t in group
            ):
                return None  # about another place, person or organisation
        in_sentence = [t for g in groups for t in g if _contains(sent_norm, t)]
        if not any(t not in entities for t in in_sentence):
            return None  # naming the place is not enough: the sentence must speak of the topic
        covered = 0.0
        for group, weight in zip(groups, weights):
            if any(t in in_sentence for t in group):
                covered += weight
            elif any(_contains(lead_norm, t) for t in group):
                covered += 0.8 * weight
            elif any(_contains(passage_norm, t) for t in group):
                covered += 0.5 * weight  # said elsewhere in the same passage
            else:  # a paraphrase shares characters (建成/建设, 五年/5年来)
                covered += 0.5 * weight * max(_char_overlap(t, sent_norm) for t in group)
        coverage = covered / total
        scope_years, scope_span = ctx.scope(chunk.start + s)
        cand = Candidate(chunk, s, e, coverage, coverage, in_sentence, scope_years)
        if query.years:
            if any(y in scope_years for y in query.years):
                cand.score += 0.2
                if scope_span is not None:
                    cand.scope = self._scope_source(chunk, scope_span)
            elif scope_years:
                if coverage >= self._threshold(query):
                    other_years.extend(scope_years)
                return None
            elif not any(str(y) in sent_norm for y in query.years):
                return None  # nothing ties this sentence to the asked year
        if query.expects == "number":
            if not _has_figure(sentence):
                return None  # a "how much" question is not answered without a figure
            if query.unit and not re.search(rf"\d\s*[万亿千百]*{re.escape(query.unit)}", sentence, re.I):
                return None  # asked in 亿元, the figure must be in 亿元
            cand.score += 0.25 * min(query.asks, _figure_count(sentence))
        if query.expects == "date" and not has_date(sentence):
            cand.score -= 0.3
        cand.score -= 0.02 * rank
        return cand if coverage >= self._threshold(query) else None

    def _threshold(self, query: Query) -> float:
        return EN_MIN_COVERAGE if query.lang != "zh" and self.embedder is not None else self.min_coverage

    def rerank(self, query: Query, found: list[Candidate]) -> list[Candidate]:
        """Cross-language: score the best sentence windows by embedding similarity to the question."""
        if query.lang == "zh" or self.embedder is None or not found or query.vector is None:
            return found
        top = found[:RERANK_TOP]
        vectors = self.embedder.embed_passages([c.text for c in top])
        question = np.atleast_2d(query.vector)[0]
        for cand, sim in zip(top, vectors @ question):
            cand.similarity = float(sim)
            cand.score += SIM_WEIGHT * float(sim)
        ranked = sorted(top, key=lambda c: -c.score)
        return [c for c in ranked if c.similarity >= EN_MIN_SIMILARITY]

    def _scope_source(self, chunk: Chunk, span: tuple[int, int]) -> tuple[Chunk, int, int]:
        """The chunk and chunk-relative span of the year-setting sentence (another chunk if need be)."""
        s, e = span
        if chunk.start <= s and e <= chunk.end:
            return chunk, s - chunk.start, e - chunk.start
        for other in self.store.chunks:
            if other.doc_id == chunk.doc_id and other.start <= s and e <= other.end:
                return other, s - other.start, e - other.start
        return chunk, 0, 0

    # ------------------------------------------------------------------ answering
    def answer(self, query: Query, hits: list[Hit]) -> Answer:
        found, other_years = self.candidates(query, hits)
        found = self.rerank(query, found)
        if not found:
            return self.refusal(query, hits, other_years)
        best = found[0]
        span_start, span_end = self.shortest_span(query, best)
        citations = [Citation(1, best.chunk, *_sentences_around(best.chunk.text, span_start, span_end))]
        lead = ""
        if best.scope is not None and best.scope[2] > best.scope[1]:
            scope_chunk, ss, se = best.scope
            lead = _year_phrase(scope_chunk.text[ss:se], query.years)
            if lead and scope_chunk.chunk_id != best.chunk.chunk_id:
                citations.append(Citation(2, scope_chunk, ss, se))
        elif query.years:  # the window's first sentence names the year the answer clause needs
            lead = _year_phrase(best.chunk.text[best.start : span_start], query.years)
        body = best.chunk.text[span_start:span_end].strip(" ，,；;。")
        text = self._format(query, lead, body, citations)
        answer = Answer(query.text, text, False, citations, hits, lang=query.lang)
        missing = unsupported_numbers(text, citations)
        if missing:  # cannot happen for verbatim spans; guard the invariant all the same
            answer.unverified = missing
            answer.notes.append("figures not found in the cited passages: " + ", ".join(missing))
        return answer

    def shortest_span(self, query: Query, cand: Candidate) -> tuple[int, int]:
        """The clauses that state the asked fact(s): the best-matching clause, extended to the
        figure(s) asked for, and to the next clause when it continues the same subject."""
        text = cand.chunk.text
        if cand.end - cand.start <= 40 or query.expects in ("list", "explain"):
            return cand.start, cand.end
        clauses = clause_spans(text, cand.start, cand.end)
        if len(clauses) <= 1:
            return cand.start, cand.end

        def term_score(span):
            c = normalize(text[span[0] : span[1]])
            return sum(_term_weight(t) for t in cand.in_sentence if _contains(c, t))

        scores = [term_score(c) for c in clauses]
        best = max(range(len(clauses)), key=lambda i: (scores[i], -i))
        if scores[best] == 0:
            return cand.start, cand.end
        if query.expects not in ("number", "date"):
            lo, hi = max(0, best - 1), min(len(clauses) - 1, best + 1)  # an entity sits next to its predicate
            return clauses[lo][0], clauses[hi][1]
        has = _has_figure if query.expects == "number" else has_date
        with_figure = [i for i, c in enumerate(clauses) if has(text[c[0] : c[1]])]
        if not with_figure:
            return cand.start, cand.end
        after = [i for i in with_figure if i >= best]
        first = after[0] if after and after[0] - best <= 2 else min(with_figure, key=lambda i: abs(i - best))
        lo, hi = min(best, first), max(best, first)
        wanted = query.asks - 1
        for i in with_figure:  # one figure per thing asked: "多少家，产值多少"
            if i > hi and wanted > 0 and i - hi <= 2:
                hi, wanted = i, wanted - 1
        for i in reversed(with_figure):  # …or the other figure comes first
            if i < lo and wanted > 0 and lo - i <= 2:
                lo, wanted = i, wanted - 1
        # the neighbouring clause on the same subject (森林覆盖率… , 森林蓄积量…) completes the picture
        if hi + 1 < len(clauses):
            head = _subject_head(text[clauses[hi][0] : clauses[hi][1]])
            nxt = clauses[hi + 1]
            if head and text[nxt[0] : nxt[1]].startswith(head) and nxt[1] - clauses[lo][0] <= 60:
                hi += 1
        return clauses[lo][0], clauses[hi][1]

    def _format(self, query: Query, lead: str, body: str, citations: list[Citation]) -> str:
        marks = "".join(f"[{c.n}]" for c in citations)
        if query.lang == "zh":
            prefix = f"{lead}，" if lead and lead not in body else ""
            return f"{prefix}{body}{marks}。"
        figure = _key_figure(body, query) if query.expects in ("number", "date") else None
        quote = (f"{lead}，" if lead and lead not in body else "") + body
        head = f"{figure}. " if figure else ""
        return f"{head}The document states: “{quote}”{marks}"

    def refusal(self, query: Query, hits: list[Hit], other_years: list[int]) -> Answer:
        asked = "、".join(f"{y}年" for y in query.years)
        if query.lang == "zh":
            text = "资料中没有找到这个问题的答案。"
            if asked and other_years:
                given = "、".join(f"{y}年" for y in other_years[:4])
                text = f"资料中没有找到{asked}的相关数据（资料只给出了{given}的情况）。"
            text += "以下是最接近的段落，供参考。"
        else:
            text = "The documents do not answer this question."
            if query.years and other_years:
                text = (f"The documents give no figure for {', '.join(map(str, query.years))} "
                        f"(they only cover {', '.join(map(str, other_years[:4]))}).")
            text += " The closest passages are listed below."
        return Answer(query.text, text, True, [], hits, lang=query.lang)


def _sentences_around(text: str, start: int, end: int) -> tuple[int, int]:
    """The span of the whole sentence(s) holding text[start:end]: what a citation highlights."""
    spans = [(s, e) for s, e in sentence_spans(text) if s < end and e > start]
    return (spans[0][0], spans[-1][1]) if spans else (start, end)


def _char_overlap(term: str, text_norm: str) -> float:
    chars = set(normalize(term))
    if len(chars) < 2:
        return 0.0
    share = sum(1 for ch in chars if ch in text_norm) / len(chars)
    return share if share >= 0.5 else 0.0


def _figure_count(text: str) -> int:
    return sum(1 for m in NUMBER_RE.finditer(text) if not re.fullmatch(r"(19|20)\d{2}年?", m.group(0).strip()))


def _has_figure(text: str) -> bool:
    return any(not re.fullmatch(r"(19|20)\d{2}年?", m.group(0).strip()) for m in NUMBER_RE.finditer(text))


def _year_phrase(sentence: str, asked: list[int]) -> str:
    """The leading clause naming the year ("到2030年底"), verbatim."""
    for s, e in clause_spans(sentence, 0, len(sentence)):
        clause = sentence[s:e]
        if any(str(y) in clause for y in asked):
            return clause.strip()[:30]
    return ""


def _subject_head(clause: str) -> str:
    """The first two characters of a clause's subject (森林覆盖率… -> 森林)."""
    m = re.match(r"[\u4e00-\u9fff]{2}", clause.strip())
    return m.group(0) if m else ""


def _key_figure(body: str, query: Query) -> str | None:
    for m in NUMBER_RE.finditer(body):
        value = re.sub(r"\s+", "", m.group(0))
        if query.expects == "date" or not re.fullmatch(r"(19|20)\d{2}年?", value):
            return value
    return None
