"""The offline extractive answerer: the shortest sufficient passage span, cited.

Candidate spans (a sentence, or two or three adjacent ones) of the retrieved passages are
judged by a fitted scorer (``scorer.SpanScorer``) on the signals of ``features``: the
multilingual model's similarity, lexical coverage, the kind of answer asked for, place and
year agreement, retrieval rank. The best span is trimmed to the clauses that state the fact
by a second fitted model (``trim.ClauseTrimmer``).
When even the best span is unlikely to answer (its probability is under the threshold
fitted on the dev split), it refuses and says what the documents do give.
"""
from __future__ import annotations

import re
from pathlib import Path

from index.store import IndexStore

from ..embeddings import model_identity
from ..query import Query
from ..text import NUMBER_RE, SPEECH_VERB, clause_spans, sentence_spans
from ..types import Answer, Chunk, Citation, Hit
from .guard import is_instruction
from .features import Candidate, FeatureBuilder, TermRarity
from .scorer import SpanScorer, read_fitted
from .trim import ClauseTrimmer
from .units import asked_measures, measure_note, states_asked_measure
from .verify import unsupported_numbers


WINDOW_RATIOS = Path(__file__).resolve().parent / "window.json"


class ExtractiveAnswerer:
    def __init__(self, store: IndexStore, sentence_vectors=None, scorer: SpanScorer | None = None,
                 embedding: dict | None = None):
        self.store = store
        self.embedding = embedding  # the index's vector space: the thresholds hold only for the one fitted on
        rarity = TermRarity.from_counts(len(store.chunks), store.lexical.doc_freq)
        self.builder = FeatureBuilder(store.documents, sentence_vectors, rarity=rarity)
        self._scorer = scorer
        self._trimmer = None
        self._window_ratios: dict[str, float] | None = None

    @property
    def scorer(self) -> SpanScorer:
        """Loaded on first use, so that fitting new weights never needs old ones."""
        if self._scorer is None:
            self._scorer = SpanScorer.load()
        return self._scorer

    @property
    def window_ratios(self) -> dict[str, float]:
        """Per language, how close a narrower window must score to the best to be answered
        instead (``shortest_sufficient``); fitted by ``eval/fit_window.py``."""
        if self._window_ratios is None:
            self._window_ratios = {k: float(v) for k, v in read_fitted(WINDOW_RATIOS, "window ratios",
                                                                       "eval/fit_window.py")["ratio"].items()}
        return self._window_ratios

    @property
    def trimmer(self) -> ClauseTrimmer:
        if self._trimmer is None:
            self._trimmer = ClauseTrimmer.load()
        return self._trimmer

    def ranked(self, query: Query, hits: list[Hit]) -> list[Candidate]:
        """Every candidate span, scored, best first."""
        cands = self.builder.candidates(query, hits)
        self.scorer.score(cands)
        cands.sort(key=lambda c: (-c.score, c.sentences, c.rank))
        return cands

    def _scope_source(self, chunk: Chunk, span: tuple[int, int], hits: list[Hit]) -> tuple[Chunk, int, int]:
        """The chunk and chunk-relative span of the year-setting sentence (another retrieved chunk if
        need be: a citation always points at a passage the answer lists)."""
        s, e = span
        if chunk.start <= s and e <= chunk.end:
            return chunk, s - chunk.start, e - chunk.start
        for other in (h.chunk for h in hits):
            if other.doc_id == chunk.doc_id and other.start <= s and e <= other.end:
                return other, s - other.start, e - other.start
        return chunk, 0, 0

    # ------------------------------------------------------------------ answering
    def answer(self, query: Query, hits: list[Hit]) -> Answer:
        found = self.ranked(query, hits)
        calibrated = self._calibrated()
        threshold = self.scorer.threshold_for(query.lang) if calibrated else 0.0
        if not found or found[0].score < threshold:
            return self.refusal(query, hits, self._other_years(query, found))
        best = _speaker_span(query, found, threshold)
        why = measure_note(query, best.text, query.answer_lang)  # another measure or rate than asked
        if why:
            best = _better_covered(query, best, found, threshold)
            why = why if best is found[0] else None  # the lower span passed the measure check
        if why:
            refusal = self.refusal(query, hits, self._other_years(query, found))
            refusal.notes.append(why)
            return refusal
        best = shortest_sufficient(best, found, self.window_ratios.get(query.lang, 1.0))
        span_start, span_end = self.trimmer.span(query, best, lambda t: self.builder.idf.of(t)[0])
        if query.expects == "explain":
            span_start, span_end = _with_antecedent(best.chunk.text, span_start, span_end)
        span_end = _with_speech(best.chunk.text, span_start, span_end)
        citations = [Citation(1, best.chunk, *_sentences_around(best.chunk.text, span_start, span_end))]
        lead = ""
        scope = self._scope_source(best.chunk, best.scope_span, hits) if best.scope_span and query.years else None
        if scope is not None and scope[2] > scope[1]:
            scope_chunk, ss, se = scope
            lead = _year_phrase(scope_chunk.text[ss:se], query.years)
            if lead and scope_chunk.chunk_id != best.chunk.chunk_id:
                citations.append(Citation(2, scope_chunk, ss, se))
        elif query.years:  # the window's first sentence names the year the answer clause needs
            lead = _year_phrase(best.chunk.text[best.start : span_start], query.years)
        body = _unquoted_ends(best.chunk.text[span_start:span_end].strip(" ，,；;。"))
        text = self._format(query, lead, body, citations)
        answer = Answer(query.text, text, False, citations, hits, lang=query.answer_lang)
        if not calibrated:
            answer.notes.append("the answer scorer was fitted for another embedding model, so it does not refuse; "
                                "re-fit it with `python eval/fit_scorer.py`")
        missing = unsupported_numbers(text, citations)
        if missing:  # cannot happen for verbatim spans; guard the invariant all the same
            answer.unverified = missing
            answer.notes.append("figures not found in the cited passages: " + ", ".join(missing))
        return answer

    def _format(self, query: Query, lead: str, body: str, citations: list[Citation]) -> str:
        marks = "".join(f"[{c.n}]" for c in citations)
        if query.answer_lang == "zh":
            prefix = f"{lead}，" if lead and lead not in body else ""
            return f"{prefix}{body}{marks}。"
        figure = _key_figure(body, query) if query.expects in ("number", "date") else None
        quote = (f"{lead}，" if lead and lead not in body else "") + body
        head = f"{figure}. " if figure else ""
        return f"{head}The document states: “{quote}”{marks}"

    def _calibrated(self) -> bool:
        """Whether the thresholds hold: the scorer was fitted on this model's similarities
        (through any backend of it; see ``model_identity``)."""
        fitted = self.scorer.meta.get("embedding")
        return not (fitted and self.embedding and model_identity(fitted) != model_identity(self.embedding))

    def other_years(self, query: Query, hits: list[Hit]) -> list[int]:
        """The years the passages closest to a question about another year speak of."""
        return self._other_years(query, self.ranked(query, hits))

    @staticmethod
    def _other_years(query: Query, found: list[Candidate]) -> list[int]:
        """Years the closest spans speak of, when the question asked for another one: spans holding
        most of what was asked ("北岭省2040年森林覆盖率…" against 2025 and 2030 targets), not spans
        that share a word with a question the documents do not touch ("谁赢得了2018年世界杯？")."""
        if not query.years:
            return []
        close = [c for c in found[:10] if c.features.get("year_other") and c.features.get("cov", 0) > 0.5]
        return sorted({y for c in close for y in c.scope_years if y not in query.years})

    def refusal(self, query: Query, hits: list[Hit], other_years: list[int]) -> Answer:
        asked = "、".join(f"{y}年" for y in query.years)
        if query.answer_lang == "zh":
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
        return Answer(query.text, text, True, [], hits, lang=query.answer_lang)


def _speaker_span(query: Query, found: list[Candidate], threshold: float) -> Candidate:
    """For a question about what someone thinks or said (钱红觉得…, "according to Song Yuyan"),
    the best span that gives that person's words, when one clears the threshold; else the best.
    Who speaks is no weighed signal: most spans naming a question's subject only introduce it."""
    best = found[0]
    names = [n for n in query.entities if len(n) >= 2]
    if not names or not _ASKS_VIEW.search(query.text) or any(speaks(best.text, n) for n in names):
        return best
    return next((c for c in found[1:10] if c.score >= threshold and any(speaks(c.text, n) for n in names)), best)


def speaks(text: str, name: str) -> bool:
    """Whether ``text`` gives ``name``'s words: the name, then a speech verb a few characters on."""
    return re.search(rf"{re.escape(name)}[^，,。；;“”]{{0,6}}?{SPEECH_VERB}", text) is not None


_ASKS_VIEW = re.compile(r"觉得|认为|看来|眼中|眼里|怎么说|说了|表示|谈到|介绍说|(?i:according to|\bin \w+(?: \w+)?'s view"
                        r"|\b(?:think|thinks|believe|believes|say|says|said)\b)")


def shortest_sufficient(best: Candidate, found: list[Candidate], ratio: float) -> Candidate:
    """The narrowest window inside the best one that scores at least ``ratio`` of it and still holds
    the kind of answer asked (a figure, a date): two sentences are the answer only when one does
    not nearly do. A wide window often wins on the model's similarity alone (English questions
    most), while its best sentence says the same."""
    kind_held = best.features.get("type_ok", 0.0)  # the narrower window must still hold a figure, a date…
    inside = [c for c in found if c.chunk.chunk_id == best.chunk.chunk_id and best.start <= c.start
              and c.end <= best.end and c.sentences < best.sentences and c.score >= ratio * best.score
              and c.features.get("type_ok", 0.0) >= kind_held]
    if not inside:
        return best
    fewest = min(c.sentences for c in inside)
    return max((c for c in inside if c.sentences == fewest), key=lambda c: c.score)


def _better_covered(query: Query, best: Candidate, found: list[Candidate], threshold: float) -> Candidate:
    """When the best span states another measure than asked, a lower one that states the asked
    measure (a figure of it) and covers at least as much of the question, in its words and its rare terms, both;
    more of one. The model's similarity alone put the other above it ("在建水电站装机有多大" vs a
    sewage plant's 日处理1万立方米 in the same passage); a span covering less is no evidence."""
    cov, rare = best.features.get("cov", 0.0), best.features.get("idf_cov", 0.0)
    asked, said = asked_measures(query), _indicators_said(query, best)
    for c in found[1:10]:
        if c.score < threshold:
            break
        c_cov, c_rare = c.features.get("cov", 0.0), c.features.get("idf_cov", 0.0)
        covers = c_cov >= cov and c_rare >= rare and (c_cov > cov or c_rare > rare)
        # or: its passage names what the question names, and the span says more of what is asked
        # about it ("分离率达到了98%" under a passage on the company the best span introduces)
        says_more = not c.features.get("ent_missing", 1.0) and _indicators_said(query, c) > said
        if ((covers or says_more)
                and states_asked_measure(asked, c.text) and not measure_note(query, c.text, query.answer_lang)):
            return c
    return best


def _indicators_said(query: Query, cand: Candidate) -> int:
    """How many of the question's concepts other than its names the span itself states."""
    names = set(query.entities)
    said = set(cand.in_sentence)
    return sum(1 for g in query.concepts if not set(g) & names and set(g) & said)


def _sentences_around(text: str, start: int, end: int) -> tuple[int, int]:
    """The span of the whole sentence(s) holding text[start:end]: what a citation highlights."""
    spans = [(s, e) for s, e in sentence_spans(text) if s < end and e > start]
    return (spans[0][0], spans[-1][1]) if spans else (start, end)


_CONTINUES = re.compile(r"\s*(?:同时|此外|另外|而且|并且|此后|因此|所以|从而|由此|这样|这也|这一|这些|其中)")


def _with_antecedent(text: str, start: int, end: int) -> tuple[int, int]:
    """A why/how answer's span, one sentence earlier when its first sentence only continues
    the one before ("同时，…" after the first reason; "因此，…" after the cause); as wide as
    the scorer chose it, so a window of several sentences gives up its last one."""
    if not _CONTINUES.match(text, start):
        return start, end
    spans = sentence_spans(text)
    before = [s for s, e in spans if e <= start]
    if not before:
        return start, end
    inside = [e for s, e in spans if start < e <= end]
    return before[-1], (inside[-2] if len(inside) > 1 else end)


_SPEAKER_END = re.compile(rf"{SPEECH_VERB}\s*[，,：:]?\s*$")


def _with_speech(text: str, start: int, end: int) -> int:
    """The end of an answer that stops at its speaker ("钱红认为"): the end of the sentence,
    which holds what was said."""
    if not _SPEAKER_END.search(text[start:end]):
        return end
    return next((e for s, e in sentence_spans(text) if s <= start < e and e > end), end)


def _unquoted_ends(body: str) -> str:
    """A clause cut out of a quoted speech without its stray opening or closing quote mark."""
    body = body[1:] if body.startswith("“") and "”" not in body else body
    body = body[:-1] if body.endswith("”") and "“" not in body else body
    return body.strip(" ，,；;。")


def _year_phrase(sentence: str, asked: list[int]) -> str:
    """The leading clause naming the year ("到2030年底"), verbatim."""
    for s, e in clause_spans(sentence, 0, len(sentence)):
        clause = sentence[s:e]
        if any(str(y) in clause for y in asked) and not is_instruction(clause):
            clause = clause.strip().strip("“”")
            at = min(clause.find(str(y)) for y in asked if str(y) in clause)
            return clause[max(0, at - 12):][:30]  # never cut the year itself
    return ""


def _key_figure(body: str, query: Query) -> str | None:
    """The figure an English answer leads with: one in the asked unit, else a percentage when a
    rate or share is asked, else the first that is not a year (for a date question, the first)."""
    found = [m for m in NUMBER_RE.finditer(body)
             if not re.search(r"[A-Za-z.]$", body[: m.start()])]  # not the digits of PM2.5, G45, CO2
    asked = asked_measures(query) if query.expects == "number" else set()
    if asked:  # a figure of another measure would mislead as the lead (104 of 104国道 for an investment)
        found = [m for m in found if states_asked_measure(asked, m.group(0) + _unit_after(body, m.end()))]
    values = [re.sub(r"\s+", "", m.group(0)) for m in found]
    if query.expects != "date":
        values = [v for v in values if not re.fullmatch(r"(19|20)\d{2}年?", v)]
    if not values:
        return None
    if query.unit:
        values.sort(key=lambda v: query.unit.lower() not in v.lower())  # stable: the first of the asked unit
    elif _RATE_Q.search(query.text):
        values.sort(key=lambda v: not v.endswith(("%", "％")))
    return values[0]


def _unit_after(body: str, end: int) -> str:
    """What follows a figure up to its clause's end, a few characters at most: where its unit is."""
    return re.split(r"[，,；;。、\s]", body[end : end + 8])[0]


_RATE_Q = re.compile(r"率|比例|比重|占比|百分|\brate\b|share|percent|proportion|ratio", re.I)
