"""What a question asks: its language, years, topic terms (translated for English), and
the tokens lexical search should use."""
from __future__ import annotations

import re
from dataclasses import dataclass
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
    expects: str = "any"  # number | date | list | explain | any
    vector: Any = None  # the query embedding, once computed (so stages can be timed apart)


_NUMBER_Q = re.compile(r"多少|几|比例|比重|百分|率|数量|规模|面积|总量|how (much|many)|what (percentage|share|proportion)|rate|number of|target", re.I)
_DATE_Q = re.compile(r"何时|什么时候|哪一?年|哪天|日期|when|what year|which year|what date", re.I)
_LIST_Q = re.compile(r"哪些|有哪几|列举|包括|which .*(are|were)|list|what are", re.I)
_EXPLAIN_Q = re.compile(r"为什么|为何|如何|怎样|怎么|why|how (does|do|did|can|is|are)|explain", re.I)


def validate_question(question: str, max_chars: int) -> str:
    if question is None or not str(question).strip():
        raise QuestionError("the question is empty; type a question, e.g. 甘肃省2030年森林覆盖率目标是多少？")
    question = str(question).strip()
    if len(question) > max_chars:
        raise QuestionError(f"the question is {len(question)} characters long; the limit is {max_chars} (RAG_MAX_QUESTION_CHARS)")
    return question


def expected_kind(question: str) -> str:
    if _DATE_Q.search(question):
        return "date"
    if _EXPLAIN_Q.search(question) and not _NUMBER_Q.search(question):
        return "explain"
    if _NUMBER_Q.search(question):
        return "number"
    if _LIST_Q.search(question):
        return "list"
    return "any"


def analyze(question: str, vocabulary: set[str] | None = None) -> Query:
    lang = detect_language(question)
    if lang == "zh":
        terms = content_terms(question)
        tokens = search_tokens(question)
        translated = False
    else:
        from .translate import translate_terms

        terms = translate_terms(question, vocabulary)
        tokens = [t for term in terms for t in search_tokens(term)]
        tokens += [w for w in re.findall(r"[a-z0-9.]+", question.lower()) if re.fullmatch(r"(19|20)\d\d", w)]
        translated = bool(terms)
    return Query(question, lang, years(question), terms, tokens, translated, expected_kind(question))
