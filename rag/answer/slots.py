"""What a question states, slot by slot, with the character span of each slot.

Follow-up resolution (``followup``) edits the previous question slot by slot: place for
place, year for year, indicator for indicator. It needs to know exactly where each slot sits,
so that an edit replaces whole words and never merges an old indicator with a new one.

Slots: the subject (places and organisations, found by the corpus gazetteer and generic
name rules), years, anaphors (它/其/该县/当地, it/its/there), a leading cue (那/还有/好吧,
and/what about), the question words, and the indicator: the runs of content words left over.
Only generic Chinese and English function words appear here, never names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..gazetteer import Gazetteer, Mention, _dict_tag, _tokens
from ..query import expected_kind
from ..text import _STOPWORDS, detect_language

YEAR_RE = re.compile(r"(?<![0-9０-９])((?:19|20)[0-9]{2})(?![0-9])")
# Chinese: leading discourse words that mark a follow-up ("好吧，那2030年的…呢？").
ZH_CUES = {"好", "好的", "好吧", "吧", "嗯", "哦", "噢", "那", "那么", "还有", "另外", "然后", "此外", "再", "再问", "ok", "OK"}
ZH_ANAPHORS = {"它", "它们", "其", "该", "此", "这", "这个", "那个", "这些", "那些", "这里", "那里", "这儿", "那儿",
               "那边", "这边", "当地", "本地", "其中", "同期", "他们", "她们"}
ZH_TOPIC_ANAPHORS = {"这", "那", "这个", "那个", "这些", "那些"}  # point at what was said, not at a name
EN_TOPIC_ANAPHORS = {"that", "this", "these", "those", "same"}
ZH_SCOPES = {"全国", "我国", "全球", "世界", "国际", "国内", "全省", "全市", "全县", "全区"}  # a scope is a subject
ZH_PLACE_ANAPHORS = {"这里", "那里", "这儿", "那儿", "那边", "这边", "当地", "本地"}
_ZH_DEMONSTRATIVE = re.compile(r"^[该此本][\u4e00-\u9fff]$")  # 该县, 该市, 此地: "that county"
ZH_ASK = re.compile(r"多少|几[个项家座种年台次位所条成倍]?|哪[些个里儿一家座条位]?|什么|啥|怎么样?|怎样|如何|为什么|为何|为啥|"
                    r"是否|吗|多[大长高久远重宽深]|何时|谁|有无")
# Words that frame a question without being its indicator ("…目标是多少", "要达到多少").
ZH_FRAME = {"目标", "要", "要求", "达到", "到", "做到", "计划", "打算", "预计", "将", "能", "会", "可以", "了", "过", "还"}
_ZH_SKIP_FLAGS = ("p", "c", "u", "y", "e", "o", "r", "t", "d", "q", "w", "x", "m")
_PUNCT = re.compile(r"^[\W_]+$")
# "…那块", "…这方面", "…的情况": the part of the topic about the words before them, not an indicator
_ZH_AREA_TAIL = re.compile(r"(?<=[\u4e00-\u9fff])(?:[这那]一?块|[这那]?方面|的?情况)\s*$")

EN_CUE = re.compile(r"^\s*(?:(?:ok(?:ay)?|so|well|then|and|also|now)\b[\s,.!]*|(?:what|how)\s+about\b\s*|what\s+of\b\s*)+", re.I)
EN_ANAPHORS = {"it", "its", "they", "their", "them", "there", "that", "this", "these", "those", "same"}
EN_ASK = {"what", "which", "how", "when", "where", "who", "whom", "whose", "why", "whether", "is", "are", "was",
          "were", "does", "do", "did", "can", "could", "will", "would", "has", "have", "had", "should"}
EN_FRAME = {"target", "targets", "goal", "goals", "plan", "planned", "figure", "value", "level", "the", "a", "an",
            "of", "for", "in", "on", "at", "by", "to", "and", "or", "s", "'s", "year", "overall", "total"}
EN_STOP = {"the", "a", "an", "of", "to", "in", "on", "for", "and", "or", "by", "with", "from", "as", "at", "be",
           "been", "much", "many", "about", "according", "up", "out", "off", "ok", "okay", "so", "also", "now", "then",
           "well", "please", "tell", "me", "s"}
_EN_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9.'’\-–]*")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


@dataclass
class Slots:
    text: str
    lang: str
    subject: list[Mention] = field(default_factory=list)  # places and organisations, in order
    years: list[Span] = field(default_factory=list)  # the digits only
    anaphors: list[Span] = field(default_factory=list)
    lead: Span | None = None  # leading cue words
    asks: list[Span] = field(default_factory=list)
    indicators: list[Span] = field(default_factory=list)  # runs of content words
    ellipsis: bool = False  # "…呢？", "And …?" without a question word: the predicate is the previous one's
    determiners: set[int] = field(default_factory=set)  # starts of 这/那个 before a noun ("这个园区"): a subject
    explain: bool = False  # why / how

    @property
    def own_subject(self) -> bool:
        """Names its own subject; a scope (全国) only when no anaphor points back ("它是全国…")."""
        return any(m.text not in ZH_SCOPES for m in self.subject) or bool(self.subject and not self.anaphors)

    @property
    def places(self) -> list[Mention]:
        return [m for m in self.subject if m.kind == "place"]

    @property
    def topic_anaphor(self) -> bool:
        return any((a.text in ZH_TOPIC_ANAPHORS and a.start not in self.determiners) or a.text.lower() in EN_TOPIC_ANAPHORS
                   for a in self.anaphors)

    @property
    def place_anaphor(self) -> bool:
        return any(a.text in ZH_PLACE_ANAPHORS or a.text.lower() == "there" or _ZH_DEMONSTRATIVE.match(a.text)
                   for a in self.anaphors)

    def subject_run(self) -> list[Mention]:
        """The first run of adjacent names: what the question is about ("内蒙古固阳县"); a scope
        (全国) only when nothing else is named."""
        run: list[Mention] = []
        named = [m for m in self.subject if m.text not in ZH_SCOPES] or self.subject
        for m in named:
            if run and self.text[run[-1].end : m.start].strip(" ·、") not in ("", "的"):
                break
            run.append(m)
        return run

    def subject_text(self) -> str:
        run = self.subject_run()
        return self.text[run[0].start : run[-1].end] if run else ""

    def residual(self) -> str:
        """The question without cue, anaphors, names, years and the closing 呢/？: its indicator words."""
        gone = [self.lead] if self.lead else []
        gone += self.anaphors + self.years + [Span(m.start, m.end, m.text) for m in self.subject]
        chars = list(self.text)
        for s in gone:
            end = s.end + (1 if self.lang == "zh" and s.end < len(chars) and chars[s.end] == "年" and s in self.years else 0)
            chars[s.start : end] = [""] * (end - s.start)
        rest = "".join(chars)
        if self.lang == "zh":
            rest = re.sub(r"呢|[？?。！!]+", "", rest)
            rest = _ZH_AREA_TAIL.sub("", rest)  # "海洋工程那块呢": the part about 海洋工程
            return re.sub(r"^[的，,、\s]+|[的，,、\s]+$", "", rest)
        rest = re.sub(r"[?!.]+\s*$", "", rest)
        rest = re.sub(r"^\s*(?:(?:in|for|of|at|by|until|before|the|end of|'s)\b\s*)+|\s+(?:in|for|of|at|by)\s*$", "",
                      rest.strip(), flags=re.I)
        return rest.strip(" ,'’")


def parse(question: str, gazetteer: Gazetteer, lang: str | None = None) -> Slots:
    lang = lang or detect_language(question)
    return _parse_zh(question, gazetteer) if lang == "zh" else _parse_en(question, gazetteer)


def _year_spans(text: str) -> list[Span]:
    return [Span(m.start(1), m.end(1), m.group(1)) for m in YEAR_RE.finditer(text)]


# ---------------------------------------------------------------------------- Chinese
def _parse_zh(text: str, gazetteer: Gazetteer) -> Slots:
    tokens = _tokens(text)
    scopes = [Mention(p, p + len(w), w, "place") for w, _, p in tokens if w in ZH_SCOPES]
    subject = sorted(gazetteer.mentions(text, tokens) + scopes, key=lambda m: m.start)
    subject = sorted(subject + _name_tails(tokens, subject), key=lambda m: m.start)
    s = Slots(text, "zh", subject=subject, years=_year_spans(text))
    s.lead = _zh_lead(tokens)
    named = _covered(s.subject) | _covered(s.years) | (_covered([s.lead]) if s.lead else set())
    for i, (word, flag, start) in enumerate(tokens):
        if start in named:
            continue
        if word in ZH_TOPIC_ANAPHORS and i + 1 < len(tokens) and tokens[i + 1][1].startswith("n"):
            s.determiners.add(start)  # "这个园区", "这茶叶产业": that thing of the previous subject
        if word in ZH_ANAPHORS or (_ZH_DEMONSTRATIVE.match(word) and flag.startswith("r")):
            end = start + len(word) + (word in ("他们", "她们") and text[start + len(word) : start + len(word) + 1] == "家")
            s.anaphors.append(Span(start, end, text[start:end]))  # 他们家: "their company"
        elif word[:1] in ("那", "这") and word[1:] in ZH_ANAPHORS and flag.startswith("r"):  # "那它": cue + anaphor
            s.anaphors.append(Span(start + 1, start + len(word), word[1:]))
    s.asks = [Span(m.start(), m.end(), m.group(0)) for m in ZH_ASK.finditer(text) if m.start() not in named]
    s.ellipsis = not s.asks
    s.explain = expected_kind(text) == "explain"
    skip = named | _covered(s.anaphors) | _covered(s.asks)
    s.indicators = _zh_runs(tokens, skip)
    return s


def _name_tails(tokens, subject: list[Mention]) -> list[Mention]:
    """Proper words right after a name: the company or site the place names ("青岛" + "云帆",
    "北岭" + "金" + "海湾"), which the gazetteer does not know when the corpus spells it
    otherwise ("云帆“零碳”产业园"). Only words the dictionary does not know; a one-character name
    word only before a word that is one or a place word (金 + 海湾; 高原 alone is a common noun)."""
    ends = {m.end for m in subject if m.text not in ZH_SCOPES}
    taken = {i for m in subject for i in range(m.start, m.end)}
    tails: list[Mention] = []
    for i, (word, _, start) in enumerate(tokens):
        if start not in ends or start in taken:
            continue
        j = i
        while j < len(tokens) and tokens[j][2] not in taken and _proper_tail(tokens, j):
            j += 2 if len(tokens[j][0]) == 1 else 1  # 金 + 海湾 are one name
        if j > i:
            end = tokens[j - 1][2] + len(tokens[j - 1][0])
            tails.append(Mention(start, end, "".join(t[0] for t in tokens[i:j]), "org"))
    return tails


def _proper_tail(tokens, j: int, after_char: bool = False) -> bool:
    word, flag, _ = tokens[j]
    if not re.fullmatch(r"[\u4e00-\u9fff]+", word) or word in _STOPWORDS or word in ZH_ANAPHORS:
        return False
    tag = _dict_tag(word)
    if len(word) == 1:
        return (not after_char and tag in ("nr", "ns") and j + 1 < len(tokens)
                and len(tokens[j + 1][0]) >= 2 and _proper_tail(tokens, j + 1, True))
    return tag is None and flag.startswith(("n", "j")) or (after_char and tag == "ns")


def _covered(spans) -> set[int]:
    return {i for sp in spans for i in range(sp.start, sp.end)}


def _zh_lead(tokens) -> Span | None:
    end = 0
    for word, flag, start in tokens:
        if word in ZH_CUES or (end and _PUNCT.match(word)):
            end = start + len(word)
            continue
        break
    return Span(0, end, "".join(t[0] for t in tokens)[:end]) if end else None


def _zh_runs(tokens, skip: set[int]) -> list[Span]:
    """Runs of content words; a verb only continues a run (水土保持 + 率), never starts one (关停)."""
    text = "".join(t[0] for t in tokens)
    runs, start, end = [], None, None
    for word, flag, pos in tokens:
        if pos not in skip and _zh_content(word, flag, in_run=start is not None):
            start = pos if start is None else start
            end = pos + len(word)
        elif start is not None:
            runs.append(Span(start, end, text[start:end]))
            start = None
    if start is not None:
        runs.append(Span(start, end, text[start:end]))
    return runs


def _zh_content(word: str, flag: str, in_run: bool) -> bool:
    """A word that can be part of an indicator: not a function word, frame word or punctuation;
    Latin (PM2.5) and a number inside a run count; a verb only inside a run."""
    if flag == "eng" or (flag == "m" and in_run and not YEAR_RE.search(word)):
        return True
    if word in _STOPWORDS or word in ZH_FRAME or _PUNCT.match(word) or flag.startswith(_ZH_SKIP_FLAGS):
        return False
    return in_run or not flag.startswith("v") or flag == "vn"


# ---------------------------------------------------------------------------- English
def _parse_en(text: str, gazetteer: Gazetteer) -> Slots:
    s = Slots(text, "en", years=_year_spans(text))
    cue = EN_CUE.match(text)
    s.lead = Span(0, cue.end(), cue.group(0)) if cue and cue.end() else None
    body_start = s.lead.end if s.lead else 0
    s.subject = english_names(text, gazetteer, body_start)
    named = _covered(s.subject) | _covered(s.years)
    words = [(m.start(), m.end(), m.group(0)) for m in _EN_WORD.finditer(text) if m.start() >= body_start]
    for a, b, w in words:
        low = w.lower().rstrip("'’s") if w.lower().endswith(("'s", "’s")) else w.lower()
        if a in named:
            continue
        if low in EN_ANAPHORS:
            s.anaphors.append(Span(a, b, w))
        elif low in EN_ASK and (low not in ("is", "are", "was", "were", "do", "does", "did", "can", "has", "have")
                                or a == body_start):
            s.asks.append(Span(a, b, w))
    s.ellipsis = not s.asks
    s.explain = expected_kind(text) == "explain"
    s.indicators = _en_runs(words, named | _covered(s.anaphors) | _covered(s.asks))
    # a CJK name inside an English question (a resolved follow-up) is a name too
    s.subject = sorted(s.subject + [m for m in gazetteer.mentions(text) if re.search(r"[\u4e00-\u9fff]", m.text)],
                       key=lambda m: m.start)
    return s


def _en_runs(words, skip: set[int]) -> list[Span]:
    runs: list[list[tuple[int, int, str]]] = [[]]
    for a, b, w in words:
        low = w.lower()
        if a in skip or low in EN_FRAME or low in EN_STOP or low in EN_ASK or YEAR_RE.fullmatch(w):
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((a, b, w))
    return [Span(r[0][0], r[-1][1], " ".join(x[2] for x in r)) for r in runs if r]


_NAME_RUN = re.compile(r"(?<![\w.])[A-Z][A-Za-z'’\-–]*(?:[\s\-–]+(?:of\s+|and\s+)?[A-Z][A-Za-z'’\-–]*)*(?![\w.]*\d)")


def english_names(text: str, gazetteer: Gazetteer, start: int = 0) -> list[Mention]:
    """Capitalised names ("Liangcheng County", "Inner Mongolia", "Sungrow"): a capitalised run
    is a name unless every word of it is a common English word the dictionary translates to no
    proper name (so "What", "Class III" are not). Places are those whose translation is a place."""
    out = []
    for m in _NAME_RUN.finditer(text, start):
        words = [(w.start(), w.end(), w.group(0)) for w in re.finditer(r"[^\s]+", m.group(0))]
        while words and _common_word(words[0][2]) and not _known_name(" ".join(w[2] for w in words)):
            words = words[1:]
        while words and _common_word(words[-1][2]) and words[-1][2].lower() not in _EN_PLACE_WORDS:
            words = words[:-1]
        if not words:
            continue
        a, b = m.start() + words[0][0], m.start() + words[-1][1]
        name = re.sub(r"['’]s$", "", text[a:b])
        out.append(Mention(a, a + len(name), name, _english_kind(name, gazetteer)))
    return out


_EN_PLACE_WORDS = {"county", "province", "city", "district", "prefecture", "region", "town", "township", "village"}


def _known_name(phrase: str) -> bool:
    """The dictionary translates the whole phrase to a proper name ("Inner Mongolia" -> 内蒙古)."""
    from ..translate import english_index, proper_nouns

    return any(w in proper_nouns() for w in english_index().get(phrase.lower(), []))


def _common_word(word: str) -> bool:
    from ..translate import english_index, proper_nouns

    low = re.sub(r"['’]s$", "", word).lower()
    if low in EN_STOP or low in EN_ASK or low in EN_ANAPHORS or re.fullmatch(r"[ivxlc]+", low):
        return True
    words = english_index().get(low)
    return bool(words) and not any(w in proper_nouns() for w in words)


def _english_kind(name: str, gazetteer: Gazetteer) -> str:
    from ..translate import english_index

    low = re.sub(r"['’]s$", "", name).lower()
    for w in english_index().get(low, []) + english_index().get(low.split()[0], []):
        if gazetteer.kind(w) == "place":
            return "place"
    return "place" if set(low.split()) & _EN_PLACE_WORDS else "org"
