"""Make a follow-up question self-contained before it is searched.

"那2025年呢？" after "甘肃省2030年森林覆盖率目标是多少？" means "甘肃省2025年森林覆盖率目标是多少？".
Retrieval and the extractive answerer see one question, so a follow-up inherits what it does
not state from the previous (already resolved) question:

- an elliptical follow-up ("南川省石楠县呢？", "它的水土保持率呢？", "And in 2030?") edits the
  previous question slot by slot, by type: all its places for the previous places, year for
  year, indicator for indicator. Edits replace whole slots (``slots``), so words never merge;
- an anaphor (它/其/该县/当地, it/its/there) is replaced by the previous subject, and a
  question with no subject of its own gets the previous one;
- a why/how question with no topic ("这是怎么做到的？") is asked about the previous topic;
- a question naming its own subject and topic is left alone: a new topic is never rewritten.
  One with neither a subject nor a cue word is a follow-up only when ``related`` says so
  (the service checks where the question's passages are);
- across languages the follow-up's slots go through the dictionary translation.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from ..gazetteer import Gazetteer, _tokens
from ..query import expected_kind
from ..conversation import reading_lang
from .slots import ZH_ASK as ZH_ASK_RE
from .slots import Slots, Span, parse

_ZH_TAIL_FRAME = re.compile(r"[的是有要到达为将能会了过还，,、\s]+$")
_ZH_ASK_BY_KIND = {"number": "是多少？", "date": "是什么时候？", "explain": "是怎么做的？", "list": "有哪些？",
                   "entity": "是什么？"}


@dataclass
class Resolution:
    text: str  # the question to search
    followup: bool  # resolved against the conversation: the previous turn is a prior for retrieval
    how: str  # first | self-contained | new-topic | ellipsis | anaphora | subject | topic | unchanged
    new_subject: bool = False  # the follow-up names a subject of its own ("南川省石楠县呢？"): the answer is elsewhere
    subjects: tuple[list[str], list[str]] = ([], [])  # then: (its names, the previous question's names)
    years: list[int] = field(default_factory=list)  # years the follow-up asks that the previous question did not


# an English administrative word and the suffix a Chinese place name of that level ends with
_ADMIN_SUFFIX = {"province": "省", "city": "市", "county": "县", "district": "区", "prefecture": "州",
                 "banner": "旗", "town": "镇", "township": "乡"}


class Resolver:
    """Resolves follow-ups with the names of one corpus (``gazetteer``) and its vocabulary
    (translations are kept only when the corpus uses them)."""

    def __init__(self, gazetteer: Gazetteer | None = None, vocabulary: set[str] | None = None):
        self.gazetteer = gazetteer or Gazetteer()
        self.vocabulary = vocabulary

    def resolve(self, question: str, previous: str | None, related: Callable[[str], bool] | None = None,
                previous_lang: str | None = None) -> Resolution:
        """``previous``: the previous question as resolved; ``previous_lang``: the language it is
        read in (an English question resolved with a Chinese name in it is still English)."""
        question = question.strip()
        if not previous:
            return Resolution(question, False, "first")
        new, prev = parse(question, self.gazetteer), parse(previous.strip(), self.gazetteer, previous_lang)
        if new.lang == "en" and prev.lang == "zh":
            return self._english_after_chinese(new, prev, related)
        if new.lang == "zh" and prev.lang == "en":
            prev = parse(self._to_chinese(prev), self.gazetteer, "zh")
        return self._resolve(new, prev, related)

    def resolve_chain(self, questions: list[str], related=None) -> str | None:
        """The last question of a conversation made self-contained (follow-ups chain)."""
        resolved, lang = None, None
        for q in questions:
            resolved = self.resolve(q, resolved, related, lang).text
            lang = reading_lang(q, resolved)
        return resolved

    # ------------------------------------------------------------------ the decision
    def _resolve(self, new: Slots, prev: Slots, related) -> Resolution:
        res = self._decide(new, prev, related)
        if res.followup:
            res.years = sorted({int(y.text) for y in new.years} - {int(y.text) for y in prev.years})
        return res

    def _decide(self, new: Slots, prev: Slots, related) -> Resolution:
        own, topic = new.own_subject, bool(new.indicators)
        if not new.ellipsis and own and (topic or len(new.places) < len(new.subject)):
            if new.place_anaphor and not new.places and prev.places:  # "那里的互助青稞酒公司…"
                return Resolution(_replace(new.text, new.anaphors[0], _places_text(prev)), True, "anaphora")
            return Resolution(new.text, False, "self-contained")
        if new.ellipsis:
            if not (own or new.years or new.residual()):
                return Resolution(new.text, False, "unchanged")
            if prev.explain and new.residual():  # an indicator after a why-question: ask it of the subject
                return Resolution(self.compose(prev, new), True, "ellipsis", own)
            return Resolution(self.edit(prev, new), True, "ellipsis", own, _names(new, prev) if own else ([], []))
        cue = bool(new.lead or new.anaphors)
        if not own and not cue and not (related and related(new.text)):
            return Resolution(new.text, False, "new-topic")
        if not own and (not topic or new.topic_anaphor):  # "这是怎么做到的？", "What share … is that?"
            return Resolution(join_topic(prev, new), True, "topic")
        if not own and prev.subject_run():
            return Resolution(with_subject(new, prev), True, "anaphora" if new.anaphors else "subject")
        if own and not topic:  # "上海是多少？": the places of the previous question
            return Resolution(self.edit(prev, new), True, "ellipsis", True, _names(new, prev))
        return Resolution(new.text, False, "unchanged")

    def _english_after_chinese(self, new: Slots, prev: Slots, related) -> Resolution:
        """An English follow-up of a Chinese conversation: an elliptical one is translated into a
        Chinese one ("And in 2030?" -> "2030年呢？") and resolved in Chinese; a full question keeps
        its words and gets the previous Chinese subject."""
        if new.ellipsis:
            zh = self._translate_ellipsis(new)
            if zh is not None:
                out = self._resolve(parse(zh, self.gazetteer, "zh"), prev, related)
                return out if out.followup else Resolution(new.text, False, out.how)
        return self._resolve(new, prev, related)

    # ------------------------------------------------------------------ slot edits
    def edit(self, prev: Slots, new: Slots) -> str:
        """The previous question with the follow-up's subject, years and indicator put in.

        A new Chinese indicator asked the way the previous one was ("…森林覆盖率|目标是多少？")
        gives a focused question: subject, years, the new indicator and the previous ask, without
        the previous question's other context, which the retrieval prior carries instead."""
        reps: list[tuple[Span, str]] = []
        indicator = new.residual() if new.ellipsis else " ".join(i.text for i in new.indicators)
        target = _indicator_target(prev) if indicator else None
        if target is not None and prev.lang == "zh":
            target = _word_in_run(prev.text, target, indicator)  # 钢铁超低排放改造 + 水泥呢 -> 钢铁 only
        if target is not None and prev.lang == "zh" and prev.asks and target.end <= prev.asks[0].start \
                and _is_run(prev, target):  # a whole run: the focused question
            clause = re.match(r"[^？?。！!]*[？?。！!]*", prev.text[target.end :]).group(0)  # the first question only
            return self._focused(prev, new, indicator, target, clause)
        if new.subject:
            reps.append(self._subject_edit(prev, new))
        reps += _year_edits(prev, new)
        if indicator:
            reps.append((target, indicator) if target else _indicator_insert(prev, indicator))
        return _apply(prev.text, reps)

    def _focused(self, prev: Slots, new: Slots, indicator: str, target: Span, ask: str) -> str:
        run, subject = prev.subject_run(), _possessor(prev, target)
        if new.subject:
            span, text = self._subject_edit(prev, new)
            subject = prev.text[run[0].start : span.start] + text + prev.text[span.end : run[-1].end] if run else text
        years = "".join(f"{y.text}年" for y in (new.years or prev.years))
        if _MEASURE_HEAD.search(indicator) and (re.search(r"多少[\u4e00-\u9fff]", ask) or not _PLAIN_ASK.match(ask)):
            ask = "是多少？"  # "…带来多少收入？" / "…直接用了多少？" + "公路硬化率呢？": the rate, not the old verb
        ask = _MEASURE_ASK.sub("多少", ask)
        overlap = next((k for k in range(min(len(indicator), len(ask), 4), 1, -1) if indicator.endswith(ask[:k])), 0)
        return f"{subject}{years}{indicator}{ask[overlap:]}"  # "…增长目标" + "目标是多少？": one 目标

    def compose(self, prev: Slots, new: Slots) -> str:
        """Subject, years and indicator in a plain question ("固阳县" + "湿地保护率" + "是多少？")."""
        subject = new.text[new.subject[0].start : new.subject[-1].end] if new.subject else prev.subject_text()
        years = new.years or prev.years
        if prev.lang == "zh":
            return f"{subject}{''.join(y.text + '年' for y in years)}{new.residual()}是多少？"
        year = f" in {years[0].text}" if years else ""
        return f"What is the {new.residual()} of {subject}{year}?"

    def _subject_edit(self, prev: Slots, new: Slots) -> tuple[Span, str]:
        """Place for place, organisation for organisation; the province a new county lies in
        is kept when the text stated it (内蒙古固阳县 -> 凉城县呢 -> 内蒙古凉城县)."""
        run = prev.subject_run()
        text = new.text[new.subject[0].start : new.subject[-1].end]
        if not run:
            if prev.lang == "zh":
                return Span(0, 0, ""), text
            at = len(prev.text.rstrip("?？ "))
            return Span(at, at, ""), f" in {text}"
        kinds = {m.kind for m in new.subject}
        same = [m for m in run if m.kind in kinds] or run
        parents = self.gazetteer.parents(new.subject[0].text)
        kept = [m.text for m in same[:1] if m.text in parents and m.text not in text]
        return Span(same[0].start, same[-1].end, ""), "".join(kept) + text

    # ------------------------------------------------------------------ translation
    def _groups(self, text: str) -> list[list[str]]:
        from ..translate import translate_groups

        return translate_groups(text, self.vocabulary)

    def _names_zh(self, slots: Slots) -> str | None:
        """The follow-up's names in Chinese, outermost first ("Jingyu County in Jilin" -> 吉林省靖宇县);
        of a name's translations, the longest the corpus names as a place or organisation (靖宇县,
        not 靖宇), so that the search finds its passages."""
        names = []
        for m in reversed(slots.subject or slots.subject_run()):
            if re.search(r"[\u4e00-\u9fff]", m.text):
                names.append(m.text)
                continue
            groups = self._groups(m.text)
            if not groups:
                return None
            name = "".join(max(g, key=lambda c: (self.gazetteer.kind(c) is not None, len(c))) for g in groups)
            suffix = _ADMIN_SUFFIX.get(m.text.split()[-1].lower(), "")
            names.append(name + suffix if suffix and not name.endswith(suffix)
                         and self.gazetteer.kind(name + suffix) else name)  # "Lanyu County": 岚峪 + 县
        return "".join(names)

    def _translate_ellipsis(self, new: Slots) -> str | None:
        names = self._names_zh(new)
        rest = new.residual()
        indicator = "".join(g[0] for g in self._groups(rest)) if rest else ""
        if names is None or (rest and not indicator):
            return None
        years = "".join(f"{y.text}年" for y in new.years)
        return f"{names}{years}{'的' if names and indicator else ''}{indicator}呢？"

    def _to_chinese(self, prev: Slots) -> str:
        """An English question as a Chinese one, slot by slot (subject, years, indicator, ask)."""
        names = self._names_zh(prev) or ""
        indicator = "".join(g[0] for i in prev.indicators for g in self._groups(i.text)[:3])
        years = "".join(f"{y.text}年" for y in prev.years)
        return f"{names}{years}{indicator}{_ZH_ASK_BY_KIND.get(expected_kind(prev.text), '是多少？')}"


# ---------------------------------------------------------------------------- helpers
def _names(new: Slots, prev: Slots) -> tuple[list[str], list[str]]:
    return [m.text for m in new.subject], [m.text for m in prev.subject_run()]


def _replace(text: str, span: Span, new: str) -> str:
    return text[: span.start] + new + text[span.end :]


def _apply(text: str, reps: list[tuple[Span, str]]) -> str:
    """Apply non-overlapping replacements, right to left (a later overlapping one is dropped)."""
    done: list[Span] = []
    for span, new in sorted(reps, key=lambda r: (-r[0].start, -r[0].end)):
        if any(span.start < d.end and d.start < span.end for d in done):
            continue
        text = _replace(text, span, new)
        done.append(span)
    return text


def _places_text(prev: Slots) -> str:
    places = [m for m in prev.subject_run() if m.kind == "place"] or prev.places
    return prev.text[places[0].start : places[-1].end]


def _year_edits(prev: Slots, new: Slots) -> list[tuple[Span, str]]:
    if not new.years:
        return []
    if prev.years:
        return [(old, new.years[min(i, len(new.years) - 1)].text) for i, old in enumerate(prev.years)]
    year = new.years[0].text
    if prev.lang == "zh":
        run = prev.subject_run()
        at = run[-1].end if run else 0
        return [(Span(at, at, ""), f"{year}年")]
    at = len(prev.text.rstrip("?？ "))
    return [(Span(at, at, ""), f" in {year}")]


_ZH_GAP = re.compile(r"^[的是有要到达为将能会了过还目标计划打算预计，,\s]*$")
_MEASURE_ASK = re.compile(r"多[长大高宽深重久远]")  # asked of the old indicator; a new one is asked "多少"
_PLAIN_ASK = re.compile(r"(?:目标)?(?:要|能|将|预计|计划)?(?:是|为|有|达到|达|到)?多少")  # no verb of the old indicator


def _possessor(prev: Slots, target: Span) -> str:
    """What the previous indicator belonged to: "广西北仑河口国家级自然保护区" in "…保护区的岸线",
    else the subject; years are left out (they are slots of their own)."""
    run = prev.subject_run()
    if not run or target.start < 1 or prev.text[target.start - 1] != "的" or target.start - 1 <= run[-1].end:
        return prev.subject_text()
    text = prev.text[run[0].start : target.start - 1]
    text = re.sub(r"(?:19|20)\d{2}年?", "", text)
    return prev.subject_text() if re.search(r"[，,？?。；;]", text) or ZH_ASK_RE.search(text) else text


def _indicator_insert(prev: Slots, indicator: str) -> tuple[Span, str]:
    """Where an indicator goes in a question that has none: before the question word."""
    ask = prev.asks[0].start if prev.asks else len(prev.text)
    at = ask if prev.lang == "zh" else len(prev.text.rstrip("?？ "))
    return Span(at, at, ""), indicator if prev.lang == "zh" else f" {indicator}"


_MEASURE_HEAD = re.compile(r"[率量度数额比值]$")  # 覆盖率, 蓄积量: what is measured of a thing


def _word_kind(word: str, flag: str) -> str:
    return "measure" if _MEASURE_HEAD.search(word) else flag[:1]


def _word_in_run(text: str, run: Span, indicator: str) -> Span:
    """The one word of the previous indicator run that a one-word indicator stands in for:
    the word of its kind ("水泥" for "钢铁" in "钢铁超低排放改造", both nouns; "草原" for "森林"
    in "森林覆盖率", not the measure 覆盖率). The whole run when the new indicator is several
    words, or when no single word of its kind is there."""
    new = _tokens(indicator)
    words = _tokens(run.text)
    if len(new) != 1 or len(words) < 2:
        return run
    kind = _word_kind(new[0][0], new[0][1])
    same = [(w, at) for w, flag, at in words if _word_kind(w, flag) == kind]
    if len(same) != 1:
        return run
    word, at = same[0]
    return Span(run.start + at, run.start + at + len(word), word)


def _is_run(prev: Slots, span: Span) -> bool:
    return any(r.start == span.start and r.end == span.end for r in prev.indicators)


def _indicator_target(prev: Slots) -> Span | None:
    """The previous indicator: in Chinese the run right before the question word
    ("森林覆盖率|目标是多少"), or right after a counting one ("多少家|链主企业"), else the last."""
    runs = prev.indicators
    ask = prev.asks[0].start if prev.asks else len(prev.text)
    if not runs:
        return None
    if prev.lang == "zh":
        before = [r for r in runs if r.end <= ask and _ZH_GAP.match(prev.text[r.end : ask])]
        after = [r for r in runs if r.start >= ask]
        counting = [a for a in prev.asks if a.text.startswith(("多少", "几"))]
        counted = bool(after and counting and 0 <= after[0].start - counting[0].end <= 1
                       and not re.search(r"[\W]", prev.text[counting[0].end : after[0].start]))  # "多少家|链主企业"
        target = after[0] if counted else before[-1] if before else after[0] if after else runs[-1]
    else:
        after = [r for r in runs if r.start >= ask]
        target = after[0] if after else runs[-1]
    return target


def topic_of(prev: Slots) -> str:
    """The previous question without its question words: what it was about."""
    if prev.lang == "zh":
        cut = prev.asks[0].start if prev.asks and prev.asks[0].start > 0 else len(prev.text)
        topic = _bare_tail(_ZH_TAIL_FRAME.sub("", re.sub(r"[？?。！!]+$", "", prev.text[:cut])))
        return topic or re.sub(r"[？?。！!]+$", "", prev.text)
    words = re.sub(r"^\s*(?:what|which|how|when|where|who|why)\b(?:\s+(?:is|are|was|were|does|do|did))?\s*(?:the\s+)?",
                   "", prev.text, flags=re.I)
    return words.rstrip("?？ ")


# what a topic does not end on: an adverb, an adjective, a particle, a measure word, a pronoun,
# punctuation, or a one-character verb ("治水工程，都干了些", "沼气具体"); not a preposition: 占比 is 占 + 比
_TAIL_FLAGS = ("d", "a", "ad", "u", "ul", "uj", "uz", "ug", "uv", "q", "c", "r", "y", "x", "zg")


def _bare_tail(topic: str) -> str:
    """The topic without the words after its last content word: a how/what question's tail."""
    words = _tokens(topic)
    while words and (words[-1][1] in _TAIL_FLAGS or (words[-1][1].startswith("v") and len(words[-1][0]) == 1
                                                     and words[-1][1] != "vn")):
        words.pop()
    bare = topic[: words[-1][2] + len(words[-1][0])] if words else ""
    return bare if len(bare) >= 2 else topic


def _without_cue(new: Slots) -> str:
    text = new.text[new.lead.end :] if new.lead else new.text
    return text.strip()


def join_topic(prev: Slots, new: Slots) -> str:
    """A why/how question without a topic asked about the previous topic ("…占比" + "是怎么做到的？")."""
    rest = new.text
    for a in sorted(new.anaphors, key=lambda s: -s.start):
        rest = rest[: a.start] + rest[a.end :]
    if new.lead:
        rest = rest[len(new.lead.text) :] if rest.startswith(new.lead.text) else rest
    if new.lang == "zh" and prev.lang == "zh":
        return topic_of(prev) + rest.strip(" ，,")
    rest = re.sub(r"\s{2,}", " ", rest)  # where an anaphor was taken out
    return f"{rest.strip().rstrip('?？ ')} ({topic_of(prev)})?"


def with_subject(new: Slots, prev: Slots) -> str:
    """The follow-up with the previous subject in place of its anaphor, or in front of it."""
    subject = prev.subject_text()
    if new.lang == "zh":
        if new.anaphors:
            return _replace(new.text, new.anaphors[0], subject)
        return subject + _without_cue(new)
    if new.anaphors:
        a = new.anaphors[0]
        word = a.text.lower()
        put = f"{subject}'s" if word in ("its", "their") else f"in {subject}" if word == "there" else subject
        return _replace(new.text, a, put)
    text = _without_cue(new).rstrip("?？ ")
    return f"{text[:1].upper()}{text[1:]} in {subject}?"


def rewrite_followup(question: str, history: list[str], gazetteer: Gazetteer | None = None,
                     vocabulary: set[str] | None = None) -> str:
    """The question made self-contained using the earlier questions (oldest first)."""
    resolver = Resolver(gazetteer, vocabulary)
    previous = resolver.resolve_chain([h for h in (history or []) if h and h.strip()])
    return resolver.resolve(question, previous).text
