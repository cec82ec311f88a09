"""Make a follow-up question self-contained before it is searched.

"那2025年呢？" after "甘肃省2030年森林覆盖率目标是多少？" means "甘肃省2025年森林覆盖率目标是多少？".
Retrieval and the extractive answerer only see one question, so a follow-up that leans on
the previous turn inherits the place, indicator and year it does not state itself. The
rewrite edits the previous question rather than composing a new sentence: the previous
question is known to be well-formed, and swapping one slot keeps its wording intact.
"""
from __future__ import annotations

import re

from ..text import content_terms, detect_language, years

# Provincial-level names: most are written without 省/市 in questions ("上海呢？").
_PROVINCES = (
    "北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 海南 "
    "四川 贵州 云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门 全国 我国 中国"
).split()
_ZH_PLACE_RE = re.compile(
    r"(?:%s)(?:省|市|自治区|特别行政区)?|[\u4e00-\u9fff]{2,4}?(?:省|市|自治州|自治区|县)"
    % "|".join(sorted(_PROVINCES, key=len, reverse=True))
)
# "城市", "上市" end in 市 without naming a place
_NOT_PLACE = re.compile(r"(?:城|都|超|门|上|街|股)市$")
_EN_PLACES = {
    "beijing", "tianjin", "shanghai", "chongqing", "hebei", "shanxi", "liaoning", "jilin", "heilongjiang",
    "jiangsu", "zhejiang", "anhui", "fujian", "jiangxi", "shandong", "henan", "hubei", "hunan", "guangdong",
    "hainan", "sichuan", "guizhou", "yunnan", "shaanxi", "gansu", "qinghai", "inner mongolia", "guangxi",
    "tibet", "ningxia", "xinjiang", "china", "liupanshui",
}
# Words that frame a question without being its indicator: kept when the indicator is swapped.
_EN_FRAME = {"target", "targets", "goal", "goals", "plan", "planned", "figure", "value", "level", "what",
             "about", "how", "and", "it", "its", "their", "they", "there", "same", "then", "year"}
_ZH_PRONOUNS = {"它", "它们", "其", "该", "此", "这", "那", "那么", "同期", "同样", "还有", "另外", "这个", "那个", "当地", "该省", "该市"}

_ZH_CUE = re.compile(r"^(?:那么?|还有|另外|那个|这个|它|其|该|此|同期|同样)|呢[？?。!！]*$")
_EN_CUE = re.compile(r"^(?:what|how)\s+about\b|^and\b|^what\s+of\b|\b(?:it|its|they|their|there|that year|the same)\b", re.I)
_YEAR_TEXT_EN = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")


def rewrite_followup(question: str, history: list[str]) -> str:
    """The question made self-contained using the conversation so far (oldest question first).

    A question that names its own indicator and carries no follow-up cue is returned
    unchanged; so is one whose language differs from the previous question's, because
    slots cannot be moved between languages without a translation step.
    """
    previous = _resolve_history([h for h in (history or []) if h and h.strip()])
    if previous is None:
        return question
    return _rewrite_one(question.strip(), previous)


def _resolve_history(history: list[str]) -> str | None:
    """The last question of the history, itself made self-contained (follow-ups chain)."""
    resolved = None
    for q in history:
        resolved = q.strip() if resolved is None else _rewrite_one(q.strip(), resolved)
    return resolved


def _rewrite_one(question: str, previous: str) -> str:
    lang = detect_language(question)
    if lang != detect_language(previous):
        return question
    new, old = _slots(question, lang), _slots(previous, lang)
    cue = bool((_ZH_CUE if lang == "zh" else _EN_CUE).search(question))
    if new["indicator"] and not cue:
        return question  # self-contained: it names what it asks about
    if not cue and not (new["years"] or new["place"]):
        return question  # nothing to anchor on: treat as a new topic
    if new["indicator"] and new["place"] and new["years"]:
        return question
    if not old["indicator"] and not old["place"]:
        return question

    text = previous
    if new["indicator"] and old["indicator"]:
        text = _swap_indicator(text, old, new["indicator"], lang)
    elif new["indicator"]:
        return question  # the previous question had no indicator to replace
    if new["place"]:
        text = _swap_place(text, old["place"], new["place"], lang)
    if new["years"]:
        text = _swap_years(text, old["years"], new["years"], lang)
    return text if text != previous or new["indicator"] else question


# ---------------------------------------------------------------------------- slots
def _slots(question: str, lang: str) -> dict:
    place = _place(question, lang)
    terms = content_terms(question)
    if lang == "zh":
        indicator = [t for t in terms if t not in _ZH_PRONOUNS and not (place and (t in place or place in t))
                     and not _ZH_PLACE_RE.fullmatch(t)]
    else:
        place_words = set(place.lower().split()) if place else set()
        indicator = [t for t in terms if t not in _EN_FRAME and t not in place_words and t not in _EN_PLACES
                     and not re.fullmatch(r"s|'s", t)]
    return {"place": place, "indicator": indicator, "years": years(question)}


def _place(question: str, lang: str) -> str | None:
    if lang == "zh":
        for m in _ZH_PLACE_RE.finditer(question):
            if not _NOT_PLACE.search(m.group(0)):
                return m.group(0)
        return None
    low = question.lower()
    for name in sorted(_EN_PLACES, key=len, reverse=True):
        m = re.search(rf"\b{name}\b", low)
        if m:
            return question[m.start() : m.end()]
    return None


# ---------------------------------------------------------------------------- edits
def _swap_indicator(text: str, old: dict, indicator: list[str], lang: str) -> str:
    """Replace the span from the first to the last indicator term of the previous question."""
    low = text.lower()
    spans = [(low.find(t.lower()), low.find(t.lower()) + len(t)) for t in old["indicator"] if t.lower() in low]
    new_text = ("" if lang == "zh" else " ").join(indicator)
    if not spans:
        return text
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    # the span must not swallow the place or the year, which are carried separately
    between = text[start:end]
    if (old["place"] and old["place"] in between) or _YEAR_TEXT_EN.search(between):
        start, end = spans[-1]
    return text[:start] + new_text + text[end:]


def _swap_place(text: str, old_place: str | None, new_place: str, lang: str) -> str:
    if old_place and old_place in text:
        return text.replace(old_place, new_place, 1)
    return f"{new_place}{text}" if lang == "zh" else f"{text.rstrip('?？ ')} in {new_place}?"


def _swap_years(text: str, old_years: list[int], new_years: list[int], lang: str) -> str:
    if old_years:
        for i, old in enumerate(old_years):
            new = new_years[min(i, len(new_years) - 1)]
            text = re.sub(rf"(?<!\d){old}(?!\d)", str(new), text, count=1)
        return text
    year = new_years[0]
    if lang == "zh":
        place = _place(text, "zh")
        at = text.find(place) + len(place) if place else 0  # "甘肃省2025年森林覆盖率…" reads naturally; before the place does not
        return f"{text[:at]}{year}年{text[at:]}"
    return f"{text.rstrip('?？ ')} in {year}?"
