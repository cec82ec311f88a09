"""What a question asks: its language, years, topic terms (translated for English), and
the tokens lexical search should use."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .text import content_terms, detect_language, search_tokens, years


class QuestionError(ValueError):
    """A question that cannot be answered as given (empty, too long)."""


@dataclass
class Query:
    text: str  # what the user asked (or the rewritten follow-up)
    lang: str
    years: list[int]
    terms: list[str]  # Chinese topic terms: from the question, or translated from English
    lexical_tokens: list[str]
    translated: bool = False
    expects: str = "any"  # number | date | list | explain | entity | any
    entities: list[str] = field(default_factory=list)  # places, people, organisations the answer must be about
    asks: int = 1  # how many things the question asks for ("多少…，占多少？" asks two)
    unit: str | None = None  # the unit a figure must carry ("多少亩" -> "亩")
    groups: list[list[str]] = field(default_factory=list)  # alternatives per concept (translations)
    vector: Any = None  # the query embedding, once computed (so stages can be timed apart)
    reply_lang: str | None = None  # the asker's language when it differs (an English follow-up resolved in Chinese)

    @property
    def answer_lang(self) -> str:
        return self.reply_lang or self.lang

    @property
    def concepts(self) -> list[list[str]]:
        """The question's concepts, each as its alternatives: the groups, else one term each."""
        return [g for g in (self.groups or [[t] for t in self.terms]) if g]


_NUMBER_Q = re.compile(r"多少|多大|多长|多高|多远|多重|(?<!好)几|比例|比重|百分|率(?!先)|数量|规模|面积|总量|how (much|many|large|big|long|high)|percentage|share|proportion|rate\b|number of|target|investment|cost|amount|area|size|volume|output|capacity|concentration|(?i:gdp)|total")
_DATE_Q = re.compile(r"何时|什么时候|哪[一几]?年|哪天|哪个?月|几月|几[号日]|日期|when|what year|which year|what date")
_LIST_Q = re.compile(r"哪些|哪[两二三四五六七八九几][个篇项类种条家大张层方面座所台位处批只株辆艘步点件]|列举|包括|which .*(are|were)|list|what are"
                     r"|\b(?:which|what) (?:[\w-]+ ){0,3}(?!years\b|hectares\b|tonnes\b|tons\b)[a-z-]{3,}[^s']s\b")
_EXPLAIN_Q = re.compile(r"为什么|为何|为啥|如何|怎样|怎么|靠什么|靠啥|原因|办法|措施|做法|why|how (does|do|did|can|is|are|was|were|has|have)|explain|what did .* do")
_ENTITY_Q = re.compile(r"哪家|哪个|哪座|哪条|哪位|谁|叫什么|叫啥|什么名|名字|名称|是什么|是啥|which (company|firm|enterprise|organi[sz]ation|place|city|county|mountain|river|project|one)|who\b|what is (it|the name)|what's (it|the name)|name of|called|\bwhich\b(?! year)")


def validate_question(question: str, max_chars: int) -> str:
    if question is None or not str(question).strip():
        raise QuestionError("the question is empty; type a question, e.g. 甘肃省2030年森林覆盖率目标是多少？")
    question = str(question).strip()
    if len(question) > max_chars:
        raise QuestionError(f"the question is {len(question)} characters long; the limit is {max_chars} (RAG_MAX_QUESTION_CHARS)")
    return question


def expected_kind(question: str) -> str:
    """What kind of answer is asked for. English words match in lower case only (bar the first
    word), so a name ("Ganjiang New Area") does not make a question ask for an area."""
    question = question[:1].lower() + question[1:]
    if _DATE_Q.search(question):
        return "date"
    if _EXPLAIN_Q.search(question) and not _NUMBER_Q.search(question):
        return "explain"
    if _LIST_Q.search(question):
        return "list"
    if _NUMBER_Q.search(question):
        return "number"
    if _ENTITY_Q.search(question):
        return "entity"
    return "any"


def analyze(question: str, vocabulary: set[str] | None = None, lang: str | None = None) -> Query:
    """``lang``: read the question in this language (an English follow-up that carries the
    previous turn's Chinese subject is still English); by default, the one it is mostly in."""
    lang = lang or detect_language(question)
    if lang == "zh":
        terms = content_terms(question)
        groups = [[t] for t in dict.fromkeys(terms)]
        tokens = search_tokens(question)
        translated = False
    else:
        from .translate import translate_groups

        groups = translate_groups(question, vocabulary)
        groups += [[t] for t in content_terms("".join(re.findall(r"[\u4e00-\u9fff]+", question)))]  # Chinese names kept
        terms = list(dict.fromkeys(t for g in groups for t in g))
        tokens = [t for term in terms for t in search_tokens(term)]
        tokens += [w for w in re.findall(r"[a-z0-9.]+", question.lower()) if re.fullmatch(r"(19|20)\d\d", w)]
        translated = bool(terms)
    entities = named_entities(terms)
    return Query(question, lang, asked_years(question), terms, tokens, translated, expected_kind(question),
                 entities=entities, asks=count_asks(question), unit=asked_unit(question),
                 groups=groups)


# "截至2021年初" / "as of early 2021": the figures of the year just ended, which the documents date 2020
_START_OF = re.compile(r"(?:截至|截止|到)\s*((?:19|20)\d{2})\s*年\s*(?:初|年初)|(?:as of|by|at) (?:the )?(?:early|start of|beginning of) ((?:19|20)\d{2})", re.I)


def asked_years(question: str) -> list[int]:
    """The years a question asks about, with the year before one it asks "as of the start of"."""
    found = years(question)
    for m in _START_OF.finditer(question):
        before = int(m.group(1) or m.group(2)) - 1
        if before not in found:
            found.append(before)
    return found


_ASK_RE = re.compile(r"多少|多大|多长|多高|多久|几[个年项家种座台次位]?|哪一?年|哪[个些家]|什么时候|何时|是谁|how (much|many)|what|which|when|who", re.I)


def count_asks(question: str) -> int:
    return max(1, len(_ASK_RE.findall(question)))


def named_entities(terms: list[str]) -> list[str]:
    """Terms naming a place, person or organisation: an answer about another one is no answer."""
    from .text import entity_words

    return [t for t in terms if t in entity_words(" ".join(terms))]


_UNITS = ("平方公里", "立方米", "千瓦时", "千瓦", "兆瓦", "公顷", "公里", "MW", "GW", "kW", "元", "亩", "吨", "种", "家",
          "座", "台", "项", "辆", "所", "株", "只", "条", "倍", "人", "户", "米", "个")
_UNIT_RE = re.compile(r"(?:多少|(?<![哪好])几)\s*(?:[万亿千百]*)(" + "|".join(map(re.escape, _UNITS)) + ")", re.I)


_EN_UNITS = {"tonnes": "吨", "tons": "吨", "yuan": "元", "mu": "亩", "hectares": "公顷", "square kilometres": "平方公里",
             "square kilometers": "平方公里", "square metres": "平方米", "square meters": "平方米",
             "kilometres": "公里", "kilometers": "公里", "species": "种", "mw": "MW",
             "megawatts": "MW", "kilowatts": "kW", "gigawatts": "GW", "kilowatt-hours": "千瓦时", "kwh": "千瓦时",
             "cubic metres": "立方米", "cubic meters": "立方米", "metres": "米", "meters": "米"}
_EN_UNIT_RE = re.compile(r"how (?:many|much) (" + "|".join(map(re.escape, sorted(_EN_UNITS, key=len, reverse=True)))
                         + r")\b", re.I)


def asked_unit(question: str) -> str | None:
    """The unit a "多少亿元/几座" (or "how many tonnes") question expects its figure in."""
    m = _UNIT_RE.search(question)
    if m:
        return m.group(1)
    m = _EN_UNIT_RE.search(question)
    return _EN_UNITS[m.group(1).lower()] if m else None
