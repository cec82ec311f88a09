"""Candidate answer spans and the signals a fitted scorer judges them on.

A candidate is one sentence, or two (three for "why/how" and "which ones" questions)
adjacent sentences of a retrieved passage. Headings and titles are never candidates, nor are
sentences addressed to an assistant (``guard``).
Every signal is a number, none is a veto: place, organisation and year disagreements are
evidence the fitted weights trade against the model's similarity, not rules.
"""
from __future__ import annotations

import bisect
import itertools
import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..query import Query
from ..text import CN_FIGURE_RE, NUMBER_RE, has_date, is_attribution, normalize, sentence_spans, years
from ..types import Block, Chunk, Document, Hit
from .guard import is_instruction

FEATURES = (
    "sim", "sim_gap", "sim_top", "sim_terms", "cov", "cov_ctx", "bigram",
    "type_ok", "type_bad", "unit_ok", "unit_bad", "ent_sent", "ent_missing",
    "year_ok", "year_other", "year_none", "rank", "width", "log_len", "is_en", "en_sim", "en_cov",
    "idf_cov", "miss_idf", "oov",
)
_BASE_YEAR = re.compile(r"(较|比|相比|与|同比|自|从|截至|截止)\s*(19|20)\d{2}\s*年?|(19|20)\d{2}\s*年?\s*(以来|起)")
# A sentence dated by its own relative time words ("今年上半年", "目前") does not take the
# year an earlier sentence of its paragraph stated (general Chinese).
_OWN_TIME = re.compile(r"今年|去年|前年|明年|本年|当年|目前|当前|现阶段|近年|近期|截至目前")
_PLACE_SUFFIX = re.compile(r"(省|市|县|区|州|盟|旗|自治区|壮族自治区)$")
_HEADING_RE = re.compile(r"^\s*([（(]?[一二三四五六七八九十百\d]+[)）、.．]|第[一二三四五六七八九十\d]+[章节条部分])")
_ENUM_RE = re.compile(r"[、；;]|[一二三四五六七八九十]是|[①②③④⑤⑥]|（[一二三四五六]）")
# Words stating a cause or a method: what a "why / how" answer is made of (general Chinese).
_EXPLAIN_RE = re.compile(r"因为|由于|因此|所以|为了|通过|依托|依靠|采取|采用|利用|借助|坚持|推动|推进|实施|建立|构建|探索|创新|打造|以.{1,12}为|靠|得益于|导致|原因")
_NAME_RE = re.compile(r"[“《「][^”》」]{2,30}[”》」]|[\u4e00-\u9fff]{2,}(公司|集团|企业|银行|大学|研究院|研究所|中心|委员会|部|局|厅|办|协会|基地|园区|项目|山|湖|河|江|县|市|区|镇|村)")


@dataclass
class Candidate:
    chunk: Chunk
    start: int  # span inside chunk.text
    end: int
    rank: int  # retrieval rank of the passage (0 = first)
    sentences: int  # how many sentences the span holds
    features: dict[str, float] = field(default_factory=dict)
    in_sentence: list[str] = field(default_factory=list)  # question terms the span contains
    scope_years: list[int] = field(default_factory=list)
    scope_span: tuple[int, int] | None = None  # document span of the sentence that sets the year
    score: float = 0.0  # the scorer's probability that this span answers the question

    @property
    def text(self) -> str:
        return self.chunk.text[self.start : self.end]


@lru_cache(maxsize=8192)
def term_variants(term: str) -> tuple[str, ...]:
    """The term and its stem without a place suffix (甘肃省 -> 甘肃), normalised for matching."""
    variants = [term]
    stem = _PLACE_SUFFIX.sub("", term)
    if stem != term and len(stem) >= 2:
        variants.append(stem)
    return tuple(normalize(v) for v in variants)


def contains(text_norm: str, term: str) -> bool:
    return any(v in text_norm for v in term_variants(term))


def term_weight(term: str) -> float:
    """Longer words are more specific; single characters say little."""
    return min(len(term), 4) ** 1.2 if re.search(r"[\u4e00-\u9fff]", term) else 1.5


def target_years(sentence: str) -> list[int]:
    """Years the sentence is about (base years such as 较2020年 are not)."""
    return years(_BASE_YEAR.sub("", sentence))


def _strays(text: str, asked: list[int]) -> bool:
    """A window of sentences one of which is about another year only ("到2027年，…。到2035年，…"
    when 2035 is asked): the part about the asked year is a span of its own."""
    spans = sentence_spans(text)
    return len(spans) > 1 and any((ys := target_years(text[s:e])) and not set(ys) & set(asked) for s, e in spans)


# A list item's number ("(7) 处理工艺:", "1、开源：", "3. …") labels the item, and an official
# document's number ("某政办发〔2025〕30号") names it: neither is a figure.
_ITEM_LABEL = re.compile(r"(?:^|(?<=[\s：:。；;]))(?:[（(]\s*\d{1,2}\s*[)）]|\d{1,2}\s*[、．]|\d{1,2}\.(?!\d))"
                         r"|[〔\[［]\s*(?:19|20)\d{2}\s*[〕\]］]\s*\d+\s*号")


def _figures(text: str):
    """The figures of a text, in digits or in Chinese numerals (七家, 突破万亿元); not item labels."""
    text = _ITEM_LABEL.sub(lambda m: " " * len(m.group(0)), text)
    return itertools.chain(NUMBER_RE.finditer(text), CN_FIGURE_RE.finditer(text))


def _non_year_figures(text: str):
    """The figures of a text that are not a bare year (2020年 sets a scene, it states no amount)."""
    return (m for m in _figures(text) if not re.fullmatch(r"(19|20)\d{2}年?", m.group(0).strip()))


def has_figure(text: str) -> bool:
    return any(True for _ in _non_year_figures(text))


# Dates are not quantities: "2016年5月" answers "when", never "how many".
_DATE_FIGURE = re.compile(r"(19|20)\d{2}年?|\d{1,2}\s*[月日]")


def has_quantity(text: str) -> bool:
    """A figure that is not a date: what a "how many" answer clause must hold."""
    return any(not _DATE_FIGURE.fullmatch(m.group(0).strip()) for m in _figures(text))


def figure_count(text: str) -> int:
    return sum(1 for _ in _non_year_figures(text))


def is_heading_text(text: str, doc: Document | None = None) -> bool:
    """A heading, title or caption line: short, numbered or unpunctuated, never an answer."""
    t = text.strip()
    if doc is not None and normalize(t) == normalize(doc.title):
        return True
    if len(t) <= 40 and not re.search(r"[。！？；;!?]$", t) and (_HEADING_RE.match(t) or "，" not in t):
        return True
    return False


def _bigrams(text_norm: str) -> set[str]:
    cjk = re.sub(r"[^\u4e00-\u9fff0-9a-z.%]", "", text_norm)
    return {cjk[i : i + 2] for i in range(len(cjk) - 1)}


class DocumentContext:
    """For a position in a document: its block, the year scope in force and the lead context."""

    def __init__(self, doc: Document):
        self.doc = doc
        self._starts = [b.start for b in doc.blocks]
        self._sentences: dict[int, list[tuple[int, int]]] = {}
        self._leads: dict[int, str] = {}

    def block_at(self, pos: int) -> Block:
        return self.doc.blocks[max(0, bisect.bisect_right(self._starts, pos) - 1)]

    def sentences(self, block: Block) -> list[tuple[int, int]]:
        if block.start not in self._sentences:
            self._sentences[block.start] = sentence_spans(self.doc.text, block.start, block.end)
        return self._sentences[block.start]

    def scope(self, pos: int) -> tuple[list[int], tuple[int, int] | None]:
        """Years stated by the sentence at pos, else by the nearest earlier sentence of its paragraph."""
        found: tuple[list[int], tuple[int, int] | None] = ([], None)
        for s, e in self.sentences(self.block_at(pos)):
            if s > pos:
                break
            ys = target_years(self.doc.text[s:e])
            if s <= pos < e or s == pos:
                return (ys, None) if ys or _OWN_TIME.search(self.doc.text[s:e]) else found
            if ys:
                found = (ys, (s, e))
        return found

    def lead_norm(self, pos: int) -> str:
        """Title, section path and recent headings above pos (normalised): where a place or
        subject is named when the sentence itself does not repeat it."""
        i = max(0, bisect.bisect_right(self._starts, pos) - 1)
        if i not in self._leads:
            block = self.doc.blocks[i]
            recent = [self.doc.text[b.start : b.end] for b in self.doc.blocks[max(0, i - 12) : i] if b.is_heading][-3:]
            self._leads[i] = normalize(" ".join((self.doc.title, *block.section, *recent)))
        return self._leads[i]


def windows(n_sentences: int, expects: str) -> list[tuple[int, int]]:
    """(first, last) sentence indices of the candidate spans of a passage."""
    widest = 3 if expects in ("explain", "list") else 2
    return [(i, i + w - 1) for w in range(1, widest + 1) for i in range(n_sentences - w + 1)]


def type_signals(query: Query, text: str) -> tuple[float, float, float, float]:
    """(type_ok, type_bad, unit_ok, unit_bad): does the span hold the kind of answer asked for?"""
    kind = query.expects
    if kind == "number":
        ok = has_figure(text)
    elif kind == "date":
        ok = has_date(text)
    elif kind == "list":
        ok = len(_ENUM_RE.findall(text)) >= 2
    elif kind == "explain":
        ok = bool(_EXPLAIN_RE.search(text))
    elif kind == "entity":
        ok = bool(_NAME_RE.search(text))
    else:
        return 0.0, 0.0, 0.0, 0.0
    unit_ok = unit_bad = 0.0
    if query.unit:
        if re.search(rf"\d\s*[万亿千百]*{re.escape(query.unit)}", text, re.I):
            unit_ok = 1.0
        else:
            unit_bad = 1.0
    return float(ok), float(not ok), unit_ok, unit_bad


def coverage(groups: list[list[str]], weights: list[float], sent_norm: str, ctx_norm: str) -> tuple[float, float, list[str]]:
    """Weighted share of the question's concepts found in the span, and in span + context."""
    total = sum(weights) or 1.0
    found, in_ctx, terms = 0.0, 0.0, []
    for group, w in zip(groups, weights):
        hit = [t for t in group if contains(sent_norm, t)]
        if hit:
            found += w
            in_ctx += w
            terms += hit
        elif any(contains(ctx_norm, t) for t in group):
            in_ctx += w
    return found / total, in_ctx / total, terms


class TermRarity:
    """How rare a question term is in the indexed corpus (inverse chunk frequency, 0..1).

    Mined from the index at load time: a rare term the question asks about ("5A景区") that no
    span or context mentions is the mark of a question the documents do not answer.
    """

    def __init__(self, chunk_tokens: list[list[str]]):
        from collections import Counter

        self.n = max(1, len(chunk_tokens))
        self.df = Counter(t for toks in chunk_tokens for t in set(toks))

    @classmethod
    def from_counts(cls, n_chunks: int, doc_freq) -> "TermRarity":
        """From counts the index already holds (``doc_freq``: token -> chunks holding it, a mapping
        read from the stored BM25), instead of every chunk's tokens."""
        rarity = cls([])
        rarity.n, rarity.df = max(1, n_chunks), doc_freq
        return rarity

    @lru_cache(maxsize=8192)
    def of(self, term: str) -> tuple[float, bool]:
        """(rarity in 0..1, known): a term whose parts are not all in the corpus is unknown (rarity 1)."""
        from ..text import search_tokens

        parts = [t for t in search_tokens(term) if len(t) > 1] or search_tokens(term)
        if not parts or not self.df:
            return 0.5, True
        if any(t not in self.df for t in parts):
            return 1.0, False
        top = math.log(self.n + 1)
        return max(math.log((self.n + 1) / self.df[t]) for t in parts) / top, True


class FeatureBuilder:
    """Makes the candidates of a question over its retrieved passages, with their features."""

    def __init__(self, documents: dict[str, Document], sentence_vectors=None, chunk_tokens=None,
                 rarity: "TermRarity | None" = None, keep: int = 256):
        self.documents = documents
        self.sentence_vectors = sentence_vectors
        self._contexts: OrderedDict[str, DocumentContext] = OrderedDict()
        self._keep = keep  # documents whose context is kept: a corpus of thousands never is, whole
        self._lock = threading.Lock()
        self.idf = rarity or TermRarity(chunk_tokens or [])

    def context(self, doc_id: str) -> DocumentContext:
        with self._lock:
            ctx = self._contexts.get(doc_id)
            if ctx is not None:
                self._contexts.move_to_end(doc_id)
                return ctx
        ctx = DocumentContext(self.documents[doc_id])
        with self._lock:
            self._contexts[doc_id] = ctx
            if len(self._contexts) > self._keep:
                self._contexts.popitem(last=False)
        return ctx

    def candidates(self, query: Query, hits: list[Hit]) -> list[Candidate]:
        groups = query.concepts
        weights = [max(term_weight(t) for t in g) for g in groups]
        entity_groups = [g for g in groups if set(g) & set(query.entities)]
        qvec = None if query.vector is None else np.atleast_2d(query.vector)
        q_bigrams = _bigrams(normalize(query.text if query.lang == "zh" else " ".join(query.terms)))
        out: list[Candidate] = []
        for rank, hit in enumerate(hits):
            chunk = hit.chunk
            if chunk.doc_id not in self.documents:
                continue
            ctx = self.context(chunk.doc_id)
            spans, vectors = (self.sentence_vectors.get(chunk) if self.sentence_vectors
                              else (sentence_spans(chunk.text), None))
            passage_norm = normalize(chunk.text)
            usable = [not (self._is_heading(ctx, chunk, s, e) or is_instruction(chunk.text[s:e])) for s, e in spans]
            said = [is_attribution(chunk.text[s:e]) for s, e in spans]  # "赵明说。" only closes a quote
            for first, last in windows(len(spans), query.expects):
                if not all(usable[first : last + 1]) or said[first]:
                    continue
                s, e = spans[first][0], spans[last][1]
                cand = Candidate(chunk, s, e, rank, last - first + 1)
                self._features(cand, query, groups, weights, entity_groups, ctx, passage_norm, q_bigrams,
                               qvec, None if vectors is None else vectors[first : last + 1])
                out.append(cand)
        self._relative(out)
        return out

    @staticmethod
    def _is_heading(ctx: DocumentContext, chunk: Chunk, s: int, e: int) -> bool:
        if len(ctx.doc.blocks) <= 1:  # a one-paragraph document: its only line is content, not a title
            return False
        block = ctx.block_at(chunk.start + s)
        return block.is_heading or is_heading_text(chunk.text[s:e], ctx.doc)

    def _features(self, cand, query, groups, weights, entity_groups, ctx, passage_norm, q_bigrams, qvec, vecs):
        text = cand.text
        sent_norm = normalize(text)
        lead = ctx.lead_norm(cand.chunk.start + cand.start)
        cov, cov_ctx, terms = coverage(groups, weights, sent_norm, lead + passage_norm)
        cand.in_sentence = terms
        ent_sent = (sum(1 for g in entity_groups if any(contains(sent_norm, t) for t in g)) / len(entity_groups)
                    if entity_groups else 0.0)
        ent_missing = float(any(not any(contains(sent_norm, t) or contains(lead, t) or contains(passage_norm, t)
                                        for t in g) for g in entity_groups))
        scope_years, scope_span = ctx.scope(cand.chunk.start + cand.start)
        in_text = target_years(text)
        cand.scope_years = list(dict.fromkeys(in_text + scope_years))
        cand.scope_span = None if in_text else scope_span
        year_ok = year_other = year_none = 0.0
        if query.years:
            about = in_text or cand.scope_years  # a span naming its own year is about that year,
            if any(y in about for y in query.years) and not _strays(text, query.years):
                year_ok = 1.0  # whatever years the paragraph goes on to
            elif about:
                year_other = 1.0
            else:
                year_none = 1.0
        type_ok, type_bad, unit_ok, unit_bad = type_signals(query, text)
        sim = sim_terms = 0.0
        if qvec is not None and vecs is not None and len(vecs):
            v = vecs.sum(axis=0)
            v = v / max(float(np.linalg.norm(v)), 1e-9)
            sims = qvec @ v
            sim = float(sims[0])
            sim_terms = float(sims[1]) if len(sims) > 1 else sim
        bigram = len(q_bigrams & _bigrams(sent_norm)) / len(q_bigrams) if q_bigrams else 0.0
        is_en = float(query.lang != "zh")
        idf_cov, miss_idf, oov = self._rarity(groups, sent_norm, lead + passage_norm)
        cand.features = {
            "sim": sim, "sim_terms": sim_terms, "cov": cov, "cov_ctx": cov_ctx, "bigram": bigram,
            "type_ok": type_ok, "type_bad": type_bad, "unit_ok": unit_ok, "unit_bad": unit_bad,
            "ent_sent": ent_sent, "ent_missing": ent_missing,
            "year_ok": year_ok, "year_other": year_other, "year_none": year_none,
            "rank": 1.0 / (1 + cand.rank), "width": float(cand.sentences - 1),
            "log_len": math.log(1 + len(text)), "is_en": is_en, "en_cov": is_en * cov,
            "idf_cov": idf_cov, "miss_idf": miss_idf, "oov": oov,
        }

    def _rarity(self, groups, sent_norm: str, ctx_norm: str) -> tuple[float, float, float]:
        """(rarity-weighted coverage in span + context, rarest uncovered concept, share of unknown concepts)."""
        if not groups:
            return 0.0, 0.0, 0.0
        total = covered = miss = 0.0
        unknown = 0
        for group in groups:
            rated = [self.idf.of(t) for t in group]
            rarity = max(r for r, _ in rated)
            unknown += not any(known for _, known in rated)
            total += rarity
            if any(contains(sent_norm, t) or contains(ctx_norm, t) for t in group):
                covered += rarity
            else:
                miss = max(miss, rarity)
        return covered / (total or 1.0), miss, unknown / len(groups)

    @staticmethod
    def _relative(cands: list[Candidate]) -> None:
        """Signals relative to the question's best candidate: scores differ in scale between questions."""
        if not cands:
            return
        best = max(c.features["sim"] for c in cands)
        for c in cands:
            f = c.features
            f["sim_gap"] = f["sim"] - best
            f["sim_top"] = float(f["sim"] >= best - 1e-6)
            f["en_sim"] = f["is_en"] * f["sim"]
