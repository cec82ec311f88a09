"""What a figure measures: area, money, power, people… read from its unit; and which rate.

A question that names its unit ("多少公顷", "how many tonnes") can only be answered by a span
stating a figure of the same kind: "工程投资2.46亿元" does not say how many hectares a lagoon
covers, however close its words are. The scorer weighs the literal unit; this module knows
that 亩 and 公顷 are both areas, 兆瓦 and 万千瓦 both power, so a check can tell "another unit
of the same measure" (an answer) from "another measure" (none). Likewise a question asking one
rate (湿地保护率) is not answered by a span stating another (森林覆盖率). General Chinese usage,
not the vocabulary of any corpus.
"""
from __future__ import annotations

import itertools
import re

from ..query import Query
from ..text import CN_FIGURE_RE, content_terms

# unit -> measure; longest spellings are matched first, so 千瓦时 is energy, not 千瓦 + 时
MEASURES: dict[str, tuple[str, ...]] = {
    "area": ("平方公里", "平方千米", "平方米", "公顷", "亩", "km2", "km²", "㎡", "m²", "hectares", "hectare"),
    "volume": ("立方米", "m3", "m³"),
    "length": ("公里", "千米", "米", "km"),
    "energy": ("千瓦时", "kWh", "kwh", "度电", "吨标准煤", "吨标煤"),
    "power": ("千瓦", "兆瓦", "吉瓦", "kWp", "MWp", "GWp", "kW", "MW", "GW"),
    "money": ("元", "美元", "人民币", "元人民币", "yuan"),
    "mass": ("吨", "公斤", "千克", "tonnes", "tons"),
    "people": ("人次", "人", "户", "名"),
    "share": ("%", "％", "百分点", "‰"),
    "concentration": ("微克/立方米", "毫克/立方米", "毫克/升", "μg/m³", "μg/m3", "mg/m³", "mg/m3", "mg/L"),
    "count": ("个", "家", "座", "台", "项", "辆", "所", "株", "只", "条", "种", "处", "艘", "批", "套"),
    "days": ("天",),
}
_NAMES = {"area": ("面积", "an area"), "volume": ("体积", "a volume"), "length": ("长度", "a length"),
          "energy": ("电量或能耗", "an amount of energy"), "power": ("装机功率", "a capacity"),
          "money": ("金额", "a sum of money"), "mass": ("重量", "a weight"),
          "people": ("人数或户数", "a number of people"), "share": ("比例", "a share"),
          "concentration": ("浓度", "a concentration"), "count": ("个数", "a count"),
          "days": ("天数", "a number of days"), "time": ("日期或时长", "a date or a duration")}
# a counted thing is counted in its own classifier: "多少辆" is not answered by "6.8万家企业";
# 个 counts anything, so a figure in 个 may answer any count
_UNIT_OF = {u.lower(): (f"count:{u}" if m == "count" and u != "个" else m) for m, units in MEASURES.items() for u in units}
_ALL_UNITS = sorted(_UNIT_OF, key=len, reverse=True)
# a figure (not the digits of PM2.5, G45 or CO2, nor a rank: 第4), its multiplier, then what follows it
_FIGURE = re.compile(r"(?<![A-Za-z\d.第])\d+(?:[.,]\d+)*\s*[余多]?(?:万亿|亿|万|千|百|k(?=\s*[㎡m]))?[余多]?\s*", re.I)
_UNIT_AFTER = re.compile("|".join(map(re.escape, _ALL_UNITS)), re.I)
_TIME_AFTER = re.compile(r"个月|年|月|日|周|小时|时")


def measure_of(unit: str | None) -> str | None:
    return _UNIT_OF.get(unit.lower()) if unit else None


def stated_measures(text: str) -> set[str]:
    """The measures of the figures a span states ("超600万千瓦时" -> {"energy"}): "time" for a
    date or a duration (2016年5月, 6个月); for a figure with no unit, what the indicator right
    before it implies (户籍人口22.8万: people); else "other"."""
    out = set()
    for m in itertools.chain(_FIGURE.finditer(text), CN_FIGURE_RE.finditer(text)):
        unit = _UNIT_AFTER.match(text, m.end())
        if unit and not text.startswith("个月", m.end()):
            out.add(_UNIT_OF[unit.group(0).lower()])
        elif _TIME_AFTER.match(text, m.end()):
            out.add("time")
        else:
            out |= _indicated(text[max(0, m.start() - _INDICATOR_REACH) : m.start()]) or {"other"}
    return out


_INDICATOR_REACH = 6  # characters before a unitless figure where its indicator may stand
_CLAUSE_END = re.compile(r"[，,；;。：:、（(]")


def _indicated(before: str) -> set[str]:
    """The measure the indicator ending ``before`` implies, within its clause ("户籍人口" -> people)."""
    return _implied(_CLAUSE_END.split(before)[-1]) - {"share"}  # 率 before any unlabelled figure says no share


# what an indicator is measured in, when the question names no unit ("面积多大" is an area);
# English common nouns are matched in lower case only, so "Ganjiang New Area" is a name
_IMPLIED = {
    "share": r"(?<!效)率(?!先)|比例|比重|占比|百分比|(?-i:percentage|\brate\b|\bshare\b|proportion)",
    "money": r"投资|资金|产值|(?<!单位地区)生产总值|收入|营收|税收|成本|多少钱|估值|授信|贷款|补贴"
             r"|(?-i:investment|\bcost|budget|revenue|output value|(?<!per unit of )(?<!单位)GDP)",
    "area": r"面积|占地|(?-i:\barea\b)",
    "people": r"游客|人口|人数|(?-i:population|visitors|tourists)",
    "power": r"装机|(?-i:installed capacity)",
    "energy": r"发电量|用电量|能耗|(?-i:electricity generat|energy consumption)",
    "concentration": r"浓度|(?-i:concentration)",
}
_IMPLIED_RE = {m: re.compile(p, re.I) for m, p in _IMPLIED.items()}
# a question asking for an amount, not a name or a year; and one asking how much something changed,
# which is as often said in per cent ("能耗降了多少" -> "下降22%")
_AMOUNT_ASK = re.compile(r"多少|多大|多高|多长|多重|几(?![个月])|how (?:much|many|large|big)|what (?:share|percentage|proportion|rate)"
                         r"|what(?:'s| is| was| are| were)\b", re.I)
_CHANGE = re.compile(r"降低|下降|减少|降了|提高|增长|增加|提升|上升|cut|reduc|fall|drop|rise|increase|grow|lower|rais", re.I)


def asked_measures(query: Query) -> set[str]:
    """The measures a figure answering the question may have: the named unit's ("多少公顷"),
    else those its indicator words imply ("面积", "占比"). Empty when nothing tells, or only a
    generic count word (个) that any counted thing carries."""
    if query.unit:
        measure = measure_of(query.unit)
        return set() if measure is None or query.unit == "个" else {measure}
    if not _AMOUNT_ASK.search(query.text):
        return set()
    implied = _implied(query.text)
    things = _counted_things(query.text)
    if things:  # "how many <things>": the things decide ("how many bird species … in the project
        implied = _implied(things)  # area" is a count, "how many tourists" people)
        if not implied:
            return _count_of(things)
    return implied | {"share"} if implied and _CHANGE.search(query.text) else implied


# "how many <things>": a count (English names no classifier), unless the things are a unit, a
# span of time or a share ("how many square metres", "how many years", "how many percentage points");
# the counted words run from "how many" to a verb, a preposition or the end
_COUNTED = re.compile(r"\bhow many\s+((?:[a-z][\w'-]*\s+){0,3}?[a-z][\w'-]*?)(?=\s+(?:are|is|were|was|do|does|did|have|has|"
                      r"had|will|would|can|could|in|of|at|on|for|from|across|along|under|there)\b|\s*[?,.]|\s*$)", re.I)
_NOT_COUNTED = re.compile(r"\b(?:years?|months?|days?|hours?|weeks?|times|percent|per cent|percentage|points?|square|"
                          r"cubic|metres?|meters?|kilo\w*|mega\w*|giga\w*|watts?|tonnes?|tons?|hectares?|mu|yuan|"
                          r"dollars?|kwh|mw|gw|kw)\b", re.I)


def _implied(text: str) -> set[str]:
    return {m for m, pattern in _IMPLIED_RE.items() if pattern.search(text)}


def _counted_things(question: str) -> str | None:
    """The things of "how many <things>"; None when the question asks no count of things."""
    m = _COUNTED.search(question)
    return None if m is None or _NOT_COUNTED.search(m.group(1)) else m.group(1)


def _count_of(things: str) -> set[str]:
    """A count in the measure words the dictionary gives the things ("vehicles" -> 辆, so
    "6.8万家企业" does not answer it), a plain count when it gives none or only 个."""
    from ..translate import classifiers_of

    counted = classifiers_of(things) & set(MEASURES["count"]) - {"个"}
    return {f"count:{c}" for c in counted} or {"count"}


def wrong_measure(query: Query, text: str) -> bool:
    """True when the span states figures of known measures (a unit, or a date), none of them
    one asked for: it answers another question ("多少公顷" answered with "投资2.46亿元")."""
    asked = asked_measures(query) if query.expects == "number" else set()  # "哪几座" asks for names
    if not asked:
        return False
    if any(_share_of(m, text) for m in asked):  # "贡献了近12%的GDP": a part of the asked amount
        return False
    figures = _given(query, text)
    return bool(figures) and not any(_agree(g, a) for g in figures for a in asked)


def _share_of(measure: str, text: str) -> bool:
    """Whether the text states a share of the asked indicator ("近12%的GDP", "25%的税收")."""
    pattern = _IMPLIED.get(measure)
    return bool(pattern) and re.search(rf"[%％]\s*的?\s*(?:{pattern})", text, re.I) is not None


def states_asked_measure(asked: set[str], text: str) -> bool:
    """Whether the text states a figure of one of the asked measures (``asked_measures``)."""
    return bool(asked) and any(_agree(g, a) for g in stated_measures(text) for a in asked)


def _agree(given: str, asked: str) -> bool:
    """The same measure; a count in 个 agrees with any count, and a count of no classifier
    ("how many …") with any count, of things or of people."""
    if asked == "count":
        return given == "people" or given.startswith("count")
    return given == asked or (given == "count" and asked.startswith("count:"))


def _name(measure: str, i: int) -> str:
    """A measure's name in a note (i: 0 Chinese, 1 English); a count names its classifier."""
    if measure.startswith("count:"):
        unit = measure.split(":", 1)[1]
        return f"个数（{unit}）" if i == 0 else f"a count ({unit})"
    return _NAMES[measure][i]


def _given(query: Query, text: str) -> set[str]:
    """The known measures of the figures a span gives; the year the question asks about sets
    the scene ("到2030年底，…"), it is not a figure given."""
    for year in query.years:
        text = re.sub(rf"{year}\s*年(?:底|末|前|初)?", "", text)
    return stated_measures(text) - {"other"}


def measure_note(query: Query, text: str, lang: str) -> str | None:
    """Why a span answers another question than the one asked (another rate, or figures of
    another measure), in the asker's language; None when it does not."""
    rate = wrong_rate(query, text)
    if rate:
        asked_rate = "、".join(sorted(rate_words(query.text)))
        return (f"问的是{asked_rate}，最接近的段落给出的是{rate}" if lang == "zh"
                else f"the question asks for {asked_rate}; the closest passage gives {rate}")
    if not wrong_measure(query, text):
        return None
    i = 0 if lang == "zh" else 1
    asked = "、".join(sorted({_name(m, i) for m in asked_measures(query)}))
    stated = "、".join(sorted({_name(m, i) for m in _given(query, text)}))
    if lang == "zh":
        return f"问的是{asked}，最接近的段落给出的是{stated}"
    return f"the question asks for {asked.replace('、', ' or ')}; the closest passage gives {stated.replace('、', ' and ')}"


def rate_words(text: str) -> set[str]:
    """The rates a Chinese text names (保护率, 覆盖率; 水土保持 + 率 -> 水土保持率)."""
    terms = content_terms(text)
    out = set()
    for i, term in enumerate(terms):
        if term == "率" and i > 0:
            out.add(terms[i - 1] + "率")
        elif len(term) >= 2 and term.endswith("率") and term not in ("效率", "频率"):
            out.add(term)
    return out


def wrong_rate(query: Query, text: str) -> str | None:
    """The rates (or shares: 比例, 占比) a span states instead of the rate asked: "石楠县湿地保护率
    是多少？" answered with "森林覆盖率达84%" answers another question. None when the span names
    the asked rate, or names no rate or share (the scorer decides)."""
    if query.lang != "zh":
        return None
    asked = rate_words(query.text)
    if not asked or any(a in text for a in asked):
        return None
    other = sorted(rate_words(text) - asked) or sorted(set(_SHARE_WORDS.findall(text)))
    return "、".join(other) if other else None


_SHARE_WORDS = re.compile(r"比例|比重|占比")  # a share of something, named without 率
