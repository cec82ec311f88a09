"""Chinese-aware text handling, kept in one place: normalisation, sentence and clause
splitting, word tokenisation, language detection and figure extraction."""
from __future__ import annotations

import os
import re
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path

CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RE = re.compile(f"[{CJK}]")
_LATIN_RE = re.compile(r"[A-Za-z]")

# Sentence terminators, full- and half-width. A '.' ends a sentence only when it is not
# between digits (12.7) and is followed by whitespace or the end.
_SENT_END = "。！？；!?;…"
_CLOSERS = "”’」』）)】》\"'"
# A line break ends a sentence too: in cleaned text it separates paragraphs and headings.
_SENTENCE_RE = re.compile(
    rf"[^{_SENT_END}\n]*?(?:[{_SENT_END}]+[{_CLOSERS}]*|\.(?=\s|$)|\n|$)", re.S
)
_CLAUSE_BREAK = re.compile(r"[，,：:；;。！？!?]")

# A figure: a number with an optional unit; years are figures too.
NUMBER_RE = re.compile(
    r"(?<![\d.])\d+(?:[.,]\d+)*(?:\s*(?:%|％|‰|万亿|亿|万|千|百))?"
    r"(?:\s*(?:立方米|平方公里|平方米|公里|千米|公顷|亩|吨|千瓦时|千瓦|元|人|个|家|项|座|所|倍|年|月|日|天|户|只|株|种|微克/立方米))?"
)
# A figure written in Chinese numerals: 两千万元, 二十三家, 三万吨, 突破万亿元, 千亿级. A numeral of one
# digit counts only before a unit of measure (五吨, 三亿元): with a counter it structures a text more
# often than it counts (三个层面, 五个中心, 三家园区, 两个替代). 第二 is a rank, 数十辆 and 百家 no figure, 十四五 a name.
_CN_UNITS = "元|吨|亩|公顷|公里|千米|平方公里|立方米|人|户|名|倍"
CN_FIGURE_RE = re.compile(
    r"(?<![第数几])(?:(?:[一二三四五六七八九两][十百千万亿]|十)[一二三四五六七八九十百千万亿]*[余多]?"
    r"(?=[家个项座台辆名人户吨亩元倍次种所条批套处]|公顷|公里|千米|平方|立方)"
    rf"|[一二三四五六七八九两](?=[万亿]*(?:{_CN_UNITS}))[万亿]*"
    r"|[千百万]亿(?=元|级|规模))"
)
YEAR_RE = re.compile(r"(?<!\d)((?:19|20)\d{2})(?=\s*年|\b|[^\d])")


def normalize(text: str) -> str:
    """For matching only (never for display): NFKC, lower case, no whitespace."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def cjk_ratio(text: str) -> float:
    cjk = len(_CJK_RE.findall(text))
    latin = len(_LATIN_RE.findall(text))
    return cjk / max(1, cjk + latin / 4)  # four latin letters weigh about one hanzi


def detect_language(text: str) -> str:
    """'zh' when the text is mostly Chinese, else 'en'."""
    return "zh" if cjk_ratio(text) >= 0.3 else "en"


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans inside text[start:end], whitespace trimmed, never empty."""
    end = len(text) if end is None else end
    spans = []
    for m in _SENTENCE_RE.finditer(text, start, end):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))
    return spans


_OPENERS, _CLOSERS_Q = "“‘《（(「『【", "”’》）)」』】"


# who spoke: "赵明说。" after the quote, or "钱红认为," before the view (a speech verb, then
# what was said); general Chinese reporting verbs
SPEECH_VERB = r"(?:说|表示|认为|指出|强调|介绍|坦言|透露|提到|告诉记者)"
_ATTRIBUTION = re.compile(rf"^[\u4e00-\u9fff·]{{2,12}}{SPEECH_VERB}[。！!]?$")


def is_attribution(sentence: str) -> bool:
    """A sentence that only says who spoke ("赵明说。"): the words are in the quote before it."""
    return bool(_ATTRIBUTION.match(sentence.strip()))


_SPEECH = re.compile(r"(?<=[：:])“[^”]{0,400}?[，,。；;！？][^”]{0,400}?”(?!的)")


def clause_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Clause spans inside one sentence: split at commas, colons and terminators, but never
    inside quotes or brackets (“蓝天、碧水、净土”), inside a number (1,000), or at 、 (a list).
    A quoted speech (表示：“到2025年，…将达到99.69%。”) is split like any text: its clauses
    state facts of their own."""
    spans, s, depth = [], start, 0
    speech = {i for m in _SPEECH.finditer(text, start, end) for i in (m.start(), m.end() - 1)}  # its quote marks
    for i in range(start, end):
        ch = text[i]
        if i in speech or (ch == "“" and text.find("”", i, end) < 0):  # speech, or a quote cut off
            continue
        if ch in _OPENERS:
            depth += 1
        elif ch in _CLOSERS_Q:
            depth = max(0, depth - 1)
        elif depth == 0 and _CLAUSE_BREAK.match(ch):
            if ch in ",:" and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit():
                continue
            if i > s:
                spans.append((s, i))
            s = i + 1
    if end > s:
        spans.append((s, end))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def figures(text: str) -> list[str]:
    """Numbers with their units, as written (whitespace removed)."""
    return [re.sub(r"\s+", "", m.group(0)) for m in NUMBER_RE.finditer(text)]


def bare_numbers(text: str) -> list[str]:
    """The digits of every number (units dropped), NFKC-normalised: what must be copied exactly."""
    return re.findall(r"\d+(?:\.\d+)?", unicodedata.normalize("NFKC", text).replace(",", ""))


DATE_RE = re.compile(r"(?:19|20)\d{2}\s*年|\d{1,2}\s*月|(?<![个两几])(?:十[一二]?|[一二三四五六七八九])月(?!份?[以之]?[前后内])")


def has_date(text: str) -> bool:
    """A written date ("2022年8月", "6月", "每年六月"), not a year inside a title such as
    (2022-2035), nor a duration (三个月)."""
    return DATE_RE.search(text) is not None


def years(text: str) -> list[int]:
    return [int(y) for y in YEAR_RE.findall(unicodedata.normalize("NFKC", text))]


# ----------------------------------------------------------------------------- jieba
_jieba_lock = threading.Lock()
_STOPWORDS = set(
    "的 了 和 与 及 是 在 为 对 把 被 将 等 或 也 而 并 及其 其 之 以 于 中 上 下 个 这 那 有 要 到 从 由 向 "
    "什么 多少 哪些 哪个 哪里 如何 怎么 怎样 是否 吗 呢 啊 吧 请问 请 一下 请说 说 给 介绍 是什么 为什么 几 "
    "目标 情况 方面 工作 主要 相关 进行 提出 提到 关于 哪 谁 时候 何时 多 大 年 省 市 文中 文章 谈 谈到 据 报道 资料 "
    "the a an of to in on for and or is are was were be what which who how when where why does do did "
    "by with from as at that this these those its it their there about according much many".split()
)
# Single characters and words that carry no topic (kept separate from stopwords used by BM25).
_PUNCT_RE = re.compile(r"^[\W_]+$", re.U)


@lru_cache(maxsize=1)
def _jieba():
    with _jieba_lock:
        import jieba  # imported lazily: it costs ~0.5 s

        jieba.setLogLevel(60)
        cache_dir = Path(os.environ.get("RAG_CACHE_DIR", Path.home() / ".cache" / "policy-qa"))
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            jieba.dt.tmp_dir = str(cache_dir)
        except OSError:
            pass  # unwritable home: jieba falls back to the system temp dir
        jieba.initialize()
        return jieba


def words(text: str) -> list[str]:
    """jieba words of the text, punctuation and whitespace dropped, lower-cased."""
    jb = _jieba()
    return [w.lower() for w in jb.lcut(text) if w.strip() and not _PUNCT_RE.match(w)]


def search_tokens(text: str) -> list[str]:
    """Tokens for BM25: jieba's search-mode cut (long words and their parts), no stopwords."""
    jb = _jieba()
    out = []
    for w in jb.lcut_for_search(unicodedata.normalize("NFKC", text)):
        w = w.strip().lower()
        if w and not _PUNCT_RE.match(w) and w not in _STOPWORDS:
            out.append(w)
    return out


def content_terms(text: str) -> list[str]:
    """The words of a question that carry its topic: no stopwords, question words or bare years."""
    terms = []
    for w in words(unicodedata.normalize("NFKC", text)):
        if w in _STOPWORDS or re.fullmatch(r"[\d.%]+", w) or len(w) == 1 and not _CJK_RE.match(w):
            continue
        if len(w) == 1 and w in "年月日省市县区":
            continue
        terms.append(w)
    return terms



def entity_words(text: str) -> set[str]:
    """Words jieba tags as place (ns), person (nr) or organisation (nt) names."""
    _jieba()
    import jieba.posseg as pseg

    return {w for w, flag in pseg.lcut(text) if flag in ("ns", "nr", "nt") and len(w) >= 2}
