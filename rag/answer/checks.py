"""Checks of an extractive answer against what was asked, after the scorer chose it.

The scorer judges spans one question at a time; these checks look at what it cannot weigh: the
conversation (a follow-up about a new subject, or answered with the previous answer again), the
place asked about against the places the cited passage's document names around it, and the year
asked against the year the cited sentence is about. Each one either passes the answer
through or replaces it with a refusal that says why, with the closest passages.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Callable

from ..conversation import Turn, unnamed_subject
from ..gazetteer import Gazetteer, Mention, place_stem
from ..query import Query
from ..text import has_date, normalize, years
from ..types import Answer, Chunk, Citation, Document, Hit
from .features import target_years
from .followup import Resolution
from .slots import ZH_SCOPES, parse
from .units import asked_measures


class AnswerChecks:
    def __init__(self, answerer, analyze: Callable[[str], Query], gazetteer: Gazetteer | None = None):
        self.answerer, self.analyze = answerer, analyze  # the extractive answerer of the index asked
        self.gazetteer = gazetteer  # the places mined from that index's corpus
        self._parsed: tuple[Query, list[Mention]] | None = None  # the question's names, parsed once

    def apply(self, answer: Answer, query: Query, hits: list[Hit], res: Resolution | None,
              previous: Turn | None) -> Answer:
        answer = self.subject(answer, query, hits, res)
        if res is None or not res.new_subject:  # a new subject of a follow-up: checked just above
            answer = self.place(answer, query, hits)
        answer = self.year(answer, query, hits, res)
        answer = self.code(answer, query, hits)
        answer = self.kind(answer, query, hits)
        answer = self.sibling(answer, query, hits)
        return self.repeat(answer, query, hits, previous)

    def subject(self, answer: Answer, query: Query, hits: list[Hit], res: Resolution | None) -> Answer:
        """A follow-up about a new subject answered from a passage that never names it is refused."""
        missing = unnamed_subject(answer, res.subjects) if res is not None and res.new_subject else None
        if missing is None:
            return answer
        return self._another_subject(query, hits, *missing)

    def _another_subject(self, query: Query, hits: list[Hit], asked: str, other: str | None) -> Answer:
        """A refusal saying the closest passage is about ``other``, not the ``asked`` subject."""
        if other:
            return self._refused(query, hits, f"最接近的段落讲的是{other}，不是{asked}",
                                 f"the closest passage is about {other}, not {asked}")
        return self._refused(query, hits, f"最接近的段落没有提到{asked}", f"the closest passage does not mention {asked}")

    def _refused(self, query: Query, hits: list[Hit], zh: str, en: str) -> Answer:
        """The refusal with the closest passages, and a note in the asker's language saying why."""
        refusal = self.answerer.refusal(query, hits, [])
        refusal.notes.append(zh if refusal.lang == "zh" else en)
        return refusal

    def _names(self, query: Query) -> list[Mention]:
        """The places and organisations a question names (gazetteer mentions; an English one's
        through the translation the search used), parsed once for the checks that need them."""
        if self._parsed is None or self._parsed[0] is not query:
            names = (parse(query.text, self.gazetteer, "zh").subject if query.lang == "zh"
                     else _translated_places(self.gazetteer, query))
            self._parsed = (query, names)
        return self._parsed[1]

    def place(self, answer: Answer, query: Query, hits: list[Hit]) -> Answer:
        """A question naming a place ("石楠县的森林蓄积量…", or in English), answered from a passage set
        among other places and never the asked one, is about another place: refused, naming it.
        The passage's scene is its document's title, its section path and the paragraphs of its
        section and of the sections enclosing it, up to the passage: "全县…" under an intro naming
        岚峪县 passes, and so does a passage whose scene names no place at all."""
        if self.gazetteer is None or answer.refused or not answer.citations:
            return answer
        names = [m.text for m in self._names(query) if m.kind == "place" and m.text not in ZH_SCOPES]
        if not names:
            return answer
        scene = "\n".join(self._scene(c.chunk) for c in answer.citations)
        if _names_any(scene, names):
            return answer
        others = [m.text for m in self.gazetteer.mentions(scene) if m.kind == "place" and m.text not in ZH_SCOPES]
        if not others:
            return answer
        return self._in_place(query, hits, names) or self._another_subject(query, hits, "、".join(names), others[-1])

    def _scene(self, chunk: Chunk) -> str:
        return chunk.context_text() + "\n" + surroundings(self.answerer.builder.documents.get(chunk.doc_id), chunk)

    def _in_place(self, query: Query, hits: list[Hit], names: list[str]) -> Answer | None:
        """The answer from the retrieved passages set in the asked place, if the scorer finds one
        there at all: the best span was about another place, but the next may be the asked one's."""
        local = [h for h in hits if _names_any(self._scene(h.chunk), names)]
        if not local or len(local) == len(hits):
            return None
        answer = self.answerer.answer(query, local)
        if answer.refused:
            return None
        answer.hits = hits  # the passages shown are still all that was retrieved
        return answer

    def year(self, answer: Answer, query: Query, hits: list[Hit], res: Resolution | None) -> Answer:
        """A question asking a year (a follow-up: one the previous question did not, "那2035年呢？")
        answered with a sentence about another year, not naming the asked one, is not answered:
        refused, saying which years the documents do give."""
        asked = res.years if res is not None and res.followup else query.years
        if not asked or answer.refused or not answer.citations:
            return answer
        if any(str(y) in answer.text for y in asked):
            return answer
        stated = {y for c in answer.citations for y in self.stated_years(c)}
        if not stated or stated & set(asked):
            return answer
        given = stated | set(self.answerer.other_years(query, hits))  # the other close spans' years too
        return self.answerer.refusal(query, hits, sorted(given))

    def code(self, answer: Answer, query: Query, hits: list[Hit]) -> Answer:
        """A grade code the question names (5A, 3D) that the cited passage and its scene never
        name: "石楠市有几个5A景区？" is not answered by "4A级景区11个". Codes are not paraphrased,
        so their absence says the passage is about something else, unlike a missing word."""
        codes = {c for c in _CODE.findall(query.text.lower()) if not _NOT_CODE.fullmatch(c)}
        if answer.refused or not answer.citations:
            return answer
        missing = []
        if codes:
            scene = normalize("\n".join(self._scene(c.chunk) + "\n" + c.chunk.text for c in answer.citations)).lower()
            missing = sorted(c for c in codes if normalize(c) not in scene.replace(" ", ""))
        missing += _sibling_codes(query.text, _stated(answer.text))
        if not missing:
            return answer
        return self._another_subject(query, hits, "、".join(m.upper() for m in missing), None)

    def kind(self, answer: Answer, query: Query, hits: list[Hit]) -> Answer:
        """A when-question answered with no date or time word, or a how-many question answered with
        no figure or numeral at all (an ordinal, 首位, counts; a year, a code or a title's number is
        none), is not answered: refused, saying so.
        The scorer weighs the kind of answer softly; an answer without one says nothing asked."""
        if answer.refused or not answer.citations or query.expects not in ("date", "number"):
            return answer
        said = _stated(answer.text)
        if query.expects == "date" and not (has_date(said) or years(said) or _TIME_WORD.search(said)):
            return self._refused(query, hits, "问的是时间，最接近的段落没有给出时间", "the closest passage gives no date")
        asks_amount = _HOW_MANY.search(query.text) or asked_measures(query)  # "what is the … rate" asks one too
        if query.expects == "number" and asks_amount and not _NUMERAL.search(_NOT_AMOUNTS.sub("", said)):
            return self._refused(query, hits, "问的是数量，最接近的段落没有给出数字", "the closest passage gives no figure")
        return answer

    def sibling(self, answer: Answer, query: Query, hits: list[Hit]) -> Answer:
        """A Chinese question naming an organisation or area of some kind ("长江流域") answered
        with a sentence that names another of the same kind ("黄河流域…5607个排污口") and nothing
        of the asked one is about the other: refused, naming it. Only the cited sentence counts.
        Users paraphrase names ("文旅投资集团" for 丰源旅游投资集团), so two characters in a row
        of what tells the name from its kind (投资), or a short form (工信部 for 工业和信息化部),
        keep the answer."""
        if self.gazetteer is None or answer.refused or not answer.citations or query.lang != "zh":
            return answer
        asked = [m.text for m in self._names(query)
                 if len(m.text) >= 4 and not place_stem(m.text)]  # a province or county: the place check's
        sentence = "".join(c.sentence for c in answer.citations)
        found = [m.text for m in self.gazetteer.mentions(sentence)]
        for name in asked:
            stem = name[:-2]  # what tells it from its kin: 长江 of 长江流域
            if any(stem[i:i + 2] in sentence for i in range(len(stem) - 1)) or any(_short_for(name, f) for f in found):
                continue  # named, in part (青石 of 岚峪青石基地) or in short
            kin = [f for f in found if f[-2:] == name[-2:] and f != name]
            if kin:
                return self._another_subject(query, hits, name, kin[0])
        return answer

    def repeat(self, answer: Answer, query: Query, hits: list[Hit], previous: Turn | None) -> Answer:
        """A follow-up asking something new of the same subject ("它哪一年成立的？") answered with
        the very sentence of the previous answer, which names none of what is new in the
        question, would only answer the previous question again: refused. A why/how follow-up
        is about the previous answer and is left alone."""
        if (previous is None or not previous.answer or answer.refused or query.expects == "explain"
                or not answer.citations or query.lang != "zh"):  # English "new words" are dictionary guesses
            return answer
        body, before = _plain(answer.text), _plain(previous.answer)
        if not body or not (body in before or before in body):
            return answer
        old = set(self.analyze(previous.search_question or previous.question).terms)
        new = [g for g in query.concepts if not set(g) & old]
        sentence = normalize(" ".join(c.sentence for c in answer.citations))
        if not new or any(normalize(t) in sentence for g in new for t in g):
            return answer
        return self._refused(query, hits, "最接近的段落只回答了上一个问题",
                             "the closest passage only answers the previous question")

    def stated_years(self, citation: Citation) -> list[int]:
        """The years a cited sentence is about: its own, else those its paragraph set before it
        ("2025年，…。森林覆盖率达到12%" makes the second sentence a 2025 one)."""
        builder = self.answerer.builder
        own = target_years(citation.sentence)
        if own or citation.chunk.doc_id not in builder.documents:
            return own
        return builder.context(citation.chunk.doc_id).scope(citation.chunk.start + citation.start)[0]


def surroundings(doc: Document | None, chunk: Chunk) -> str:
    """The paragraphs of a passage's document that set its scene: those of its own section and of
    the sections enclosing it (a case's introduction, the document's preamble), up to its end."""
    if doc is None:
        return ""
    return "\n".join(doc.text[b.start:b.end] for b in doc.blocks
                     if b.start < chunk.end and tuple(chunk.section[:len(b.section)]) == tuple(b.section))


def _plain(text: str) -> str:
    """An answer's text without citation markers, quotes or its English lead, normalised."""
    return normalize(_stated(text)).strip("。.")


# a grade or class code: a number with letters run on (5A, 4A, 3D), not a bare number, a unit or
# an ordinal. Letter-first codes (CO2, PM2.5, G45) are left out: documents spell many of them
# in words (二氧化碳, 细颗粒物), so their absence proves nothing
_CODE = re.compile(r"(?<![a-z0-9.])\d+[a-z]+(?![a-z0-9])")
_NOT_CODE = re.compile(r"\d+(?:st|nd|rd|th|s|k|m|km|mw|gw|kw|kwh|mwh|gwh|mwp|kwp|t|kg|ha|mu|yuan|pm|am)")  # 2nd, 1990s, 5MW


# what answers "when": a relative time word; and "how many": any figure or numeral, an ordinal
_TIME_WORD = re.compile(r"今年|去年|前年|明年|当年|上半年|下半年|年初|年底|年末|目前|近年|以来|期间|[一二三四五六七八九十]五")
# an amount: digits, or Chinese numerals that count something (七家, 两千万元, 第三, 首批, 过半);
# not the numerals inside a name (“九纵九横五环”, 十四五, 三大保卫战, 一连) or 零 (零碳)
_NUMERAL = re.compile(r"\d|第[一二三四五六七八九十百]+|首[位个批家次]|一半|过半|半数"
                      r"|[一二三四五六七八九十两百千万亿]+[余多]?(?=[个家项座台辆名人户吨亩元倍次种所条批套处位只株级]"
                      r"|公[里顷斤]|千米|平方|立方)")
# figures that are no amount: a title (《2030年前碳达峰行动方案》), a code (GB/T 24001, ISO14001,
# G45), a road (104国道), a date (2018年3月, 7月1日)
_NOT_AMOUNTS = re.compile(r"《[^》]*》|[A-Za-z][A-Za-z/]*\s*\d+(?:\.\d+)?|\d+\s*(?:国道|省道|县道)"
                          r"|(?:19|20)\d{2}\s*年(?:\s*\d{1,2}\s*月)?(?:\s*\d{1,2}\s*日)?|\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?")
_HOW_MANY = re.compile(r"多少|多大|多长|多高|多远|多重|几|第几|排名|how (?:much|many|large|big|long|high|far)"
                       r"|what (?:share|percentage|proportion|rank)", re.I)
_EN_ADMIN = re.compile(r"\b(?:County|City|Province|Township|Town|District|Prefecture|Region|Village|Banner|League)\b")
_JOINED_PLACES = re.compile(r"\b[A-Z][a-z]+(?:-[A-Z][a-z]+)+\b")
_LETTER_CODE = re.compile(r"(?<![A-Za-z])([A-Za-z]{1,4})\s*(\d+(?:\.\d+)?)(?![\d.])")


def _translated_places(gazetteer: Gazetteer, query: Query) -> list[Mention]:
    """An English question's places, as translated for the search (Wulian County -> 五莲, 五莲县):
    only a name the translation gave both bare and with its suffix, or one the question calls a
    County, City…: a common word matched by its sound or meaning (江河, 大都市) is neither. None
    for a region written as its places joined (Beijing-Tianjin-Hebei: the text says 京津冀)."""
    if _JOINED_PLACES.search(query.text):
        return []
    named = bool(_EN_ADMIN.search(query.text))
    return [m for m in gazetteer.mentions("、".join(query.entities))
            if (stem := place_stem(m.text)) and (stem in query.entities or named)]


def _stated(text: str) -> str:
    """An answer's own words: its quote, without citation marks."""
    text = re.sub(r"\[\d+\]", "", text or "")
    return re.sub(r"^.*?The document states: “|”$", "", text.strip())


def _sibling_codes(question: str, stated: str) -> list[str]:
    """Letter-first codes the question names (PM10) where the answer names another of the same
    letters (PM2.5) and not the asked one: spelled in words (细颗粒物) a code proves nothing
    by its absence, but a sibling code in its place says the answer is about the other."""
    def codes(text):
        return {(letters.upper(), num) for letters, num in _LETTER_CODE.findall(unicodedata.normalize("NFKC", text))}
    given = codes(stated)
    return sorted(f"{letters}{num}" for letters, num in codes(question) - given
                  if any(g[0] == letters for g in given))


def _short_for(short: str, name: str) -> bool:
    """Whether ``short`` is ``name`` written short: its characters in order (工信部, 工业和信息化部)."""
    it = iter(name)
    return len(short) < len(name) and all(ch in it for ch in short)


def _names_any(scene: str, names: list[str]) -> bool:
    return any(n in scene or (place_stem(n) or n) in scene for n in names)
