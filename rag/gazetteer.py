"""Places and organisations named by the indexed corpus, mined when the index is built.

A follow-up such as "南川省石楠县呢？" or "那石楠的森林覆盖率呢？" can only be resolved when
the place in it is recognised, and jieba alone tags place names unreliably ("靖宇县" as a
person, "城市" and "美丽" as places). So the names are mined from whatever corpus is indexed,
by rules that hold for any Chinese text, never from a list of names:

- a word ending in an administrative suffix (省/市/县/区/州/盟/旗/镇/乡/村/自治区…) whose
  stem is at least two characters (固阳县, 澜溪市; not 城市 or 该县); its stem is a name too
  (固阳, 澜溪), and "X族自治区" gives X (广西壮族自治区 -> 广西);
- a word jieba tags as a place right before such a name: the name's province or city as the
  text states it (内蒙古 in "内蒙古包头市固阳县", recorded as 固阳县's parents);
- a title's or heading's leading place word before a colon ("甘肃:探索建设…");
- an organisation or facility: a run of name-like words ending in a generic suffix
  (集团, 公司, 产业园, 水厂, 保护区, 流域 …) or a word jieba tags as an organisation.

The same token rules recognise names in questions that the corpus never states
(``mentions``), so a question about a place outside the corpus is still parsed right.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from .text import _jieba

MINER_VERSION = 2  # bump when the rules change: indexes built before are re-mined

ADMIN_SUFFIX = re.compile(r"(?:特别行政区|自治区|自治州|自治县|自治旗|街道|新区|省|市|县|区|州|盟|旗|镇|乡|村)$")
_ETHNIC = re.compile(r"^(.{2,3}?)[\u4e00-\u9fff]{1,3}族$")  # 广西壮族 -> 广西
# Generic heads of organisation and facility names (not names themselves).
ORG_SUFFIX = re.compile(
    r"(?:集团|公司|银行|大学|学院|研究院|研究所|协会|委员会|合作社|政府|厅|局|中心|基地|产业园|工业园|园区|"
    r"开发区|高新区|示范区|保护区|风景区|景区|公园|水厂|电厂|电站|工厂|林场|农场|流域|水库|湖|港)$"
)
_NAME_FLAGS = ("n", "nr", "nrt", "nrfg", "ns", "nt", "nz", "j", "eng", "x", "m", "vn", "v", "l", "i", "an")
_NOT_NAME = re.compile(r"^(?:\d+|[一二三四五六七八九十百千万两几多]+[^\u4e00-\u9fff]*)$|[^\w\u4e00-\u9fff]")
_HEAD_COLON = re.compile(r"^[\s《“\"]*([\u4e00-\u9fff]{2,5})\s*[:：]")
MAX_NAME = 16
_FUNCTION_FLAGS = ("p", "u", "c", "r", "d", "m", "q", "x", "y", "f", "t", "e", "o", "w")


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    text: str
    kind: str  # "place" | "org"


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """(word, flag, start) of jieba's tagged cut."""
    _jieba()
    import jieba.posseg as pseg

    out, pos = [], 0
    for word, flag in pseg.lcut(text):
        out.append((word, flag, pos))
        pos += len(word)
    return out


def place_stem(name: str) -> str | None:
    """The name without its administrative suffix, when what is left can be a name (>= 2 chars)."""
    m = ADMIN_SUFFIX.search(name)
    if not m:
        return None
    stem = name[: m.start()]
    ethnic = _ETHNIC.match(stem)
    if ethnic and m.group(0).startswith("自治"):
        stem = ethnic.group(1)
    return stem if len(stem) >= 2 and re.fullmatch(r"[\u4e00-\u9fff]+", stem) else None


def _is_suffix_word(word: str) -> bool:
    return bool(ADMIN_SUFFIX.fullmatch(word))


def _dict_tag(word: str) -> str | None:
    """jieba's dictionary tag of a word, None when the word is not in its dictionary."""
    import jieba.posseg as pseg

    return pseg.dt.word_tag_tab.get(word)


def proper_place(word: str) -> bool:
    """A suffixed word that names a place rather than a kind of area: jieba's dictionary knows it
    as a place or person name, or not at all, and its stem is not a common word
    (示范区, 开发区, 产业园区 are kinds of areas; 固阳县, 龙观乡, 赣江新区 are places)."""
    stem = place_stem(word)
    if not stem:
        return False
    if _dict_tag(word) not in (None, "ns", "nr", "nz"):
        return False
    return _dict_tag(stem) in (None, "ns", "nr", "nz") or _dict_tag(word) == "ns"


# ---------------------------------------------------------------------------- token rules
def suffixed_places(tokens: list[tuple[str, str, int]]) -> list[tuple[int, int, str]]:
    """(first token, last token, name) of words ending in an administrative suffix, or a name
    word directly followed by a bare suffix word ("石楠" + "县")."""
    found = []
    for i, (word, flag, _) in enumerate(tokens):
        if proper_place(word) and not flag.startswith(("r", "m")):
            found.append((i, i, word))
        elif (i + 1 < len(tokens) and _is_suffix_word(tokens[i + 1][0]) and len(word) >= 2
              and _dict_tag(word) in (None, "ns", "nr", "nz", "j") and proper_place(word + tokens[i + 1][0])):
            found.append((i, i + 1, word + tokens[i + 1][0]))
        elif (len(word) == 1 and i + 1 < len(tokens) and len(tokens[i + 1][0]) == 2 and _is_suffix_word(tokens[i + 1][0][1])
              and not flag.startswith(_FUNCTION_FLAGS) and proper_place(word + tokens[i + 1][0])):
            found.append((i, i + 1, word + tokens[i + 1][0]))  # 鸣 + 山乡: jieba split a name's first character off
    return found


def org_runs(tokens: list[tuple[str, str, int]], places: set[int]) -> list[tuple[int, int, str]]:
    """(first token, last token, name) of organisation/facility names: name-like words ending in
    a generic head (云杉集团, 云杉再生水厂, 澜溪流域); jieba's organisation words too."""
    found = []
    for j, (word, flag, _) in enumerate(tokens):
        if flag == "nt" and len(word) >= 3 and _dict_tag(word) in (None, "nt"):
            found.append((j, j, word))
            continue
        head = ORG_SUFFIX.fullmatch(word)
        if not head and not (ORG_SUFFIX.search(word) and _dict_tag(word) in (None, "ns", "nt", "nz")):
            continue  # 布局, 格局 end like 局 but are common words
        i = j
        while i > 0 and j - i < 4 and _name_like(tokens[i - 1], i - 1 == j - 1 or i - 1 in places) \
                and sum(len(t[0]) for t in tokens[i - 1 : j + 1]) <= MAX_NAME:
            i -= 1
        while i < j and (tokens[i][1].startswith("v") or len(tokens[i][0]) == 1) and i not in places:
            i += 1  # a name starts with a name word, not a verb ("推动建设产业园") or a single character
        if (i < j or not head) and any(_proper_word(t) for t in tokens[i : j + (0 if head else 1)]):
            found.append((i, j, "".join(t[0] for t in tokens[i : j + 1])))
    return found


def _proper_word(token: tuple[str, str, int]) -> bool:
    """A word that makes a name a name: one the dictionary does not know, or knows as a name
    (云杉, 澜溪); "木材生产基地" or "绿色工厂" are only common words."""
    word, flag, _ = token
    return (_dict_tag(word) in (None, "ns", "nr", "nz", "nt", "nrt", "eng") or flag in ("ns", "nr", "nz", "nt", "eng")
            or _proper_noun(word) is not None)


def _name_like(token: tuple[str, str, int], verb_ok: bool) -> bool:
    """A word that can be part of a name; a verb only right before the head (云杉再生水厂)."""
    word, flag, _ = token
    if _NOT_NAME.search(word) or not flag.startswith(_NAME_FLAGS) or word in ("的", "和", "与"):
        return False
    if flag.startswith("v") and flag != "vn" and not verb_ok:
        return False
    return not (flag == "m" and re.search(r"\d", word))


# ---------------------------------------------------------------------------- mining
@dataclass
class DocNames:
    """What one document names: place -> (count, parents seen), organisation -> count."""

    places: dict[str, list] = field(default_factory=dict)  # name -> [count, [parent, …]]
    orgs: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"places": self.places, "orgs": self.orgs}

    @classmethod
    def from_dict(cls, d: dict) -> "DocNames":
        return cls({k: [int(v[0]), list(v[1])] for k, v in d.get("places", {}).items()},
                   {k: int(v) for k, v in d.get("orgs", {}).items()})


def mine_document(title: str, text: str, headings: list[str]) -> DocNames:
    """Places (with their parents as the text states them) and organisations of one document."""
    places: Counter = Counter()
    parents: dict[str, set[str]] = defaultdict(set)
    orgs: Counter = Counter()
    bare_ns: list[tuple[str, str]] = []  # (ns word, the place word right after it)
    for paragraph in [title, *headings, *re.split(r"\n+", text)]:
        if not paragraph.strip():
            continue
        tokens = _tokens(paragraph)
        runs = suffixed_places(tokens)
        covered = {k for a, b, _ in runs for k in range(a, b + 1)}
        by_start = {a: (b, name) for a, b, name in runs}
        for a, b, name in runs:
            places[name] += 1
        for chain in _chains(tokens, by_start):
            for depth, name in enumerate(chain[1:], 1):
                parents[name].update(chain[:depth])
        for i, (word, flag, _) in enumerate(tokens):
            if flag == "ns" and i not in covered and i + 1 in by_start and len(word) >= 2:
                bare_ns.append((word, by_start[i + 1][1]))
        for a, b, name in org_runs(tokens, covered):
            if not place_stem(name):
                orgs[name] += 1
        head = _HEAD_COLON.match(paragraph)
        if head and paragraph in (title, *headings):
            places[head.group(1)] += 1
    for word, child in bare_ns:  # "内蒙古" before "包头市": a place, and the child's parent
        places[word] += 1
        parents[child].add(word)
    return DocNames({name: [n, sorted(parents.get(name, ()))] for name, n in places.items()}, dict(orgs))


def _chains(tokens, by_start) -> list[list[str]]:
    """Runs of adjacent place names ("内蒙古 包头市 固阳县"), outermost first."""
    chains, i = [], 0
    while i < len(tokens):
        if i in by_start or (tokens[i][1] == "ns" and i + 1 in by_start):
            chain = []
            while i < len(tokens) and (i in by_start or (tokens[i][1] == "ns" and i + 1 in by_start)):
                if i in by_start:
                    end, name = by_start[i]
                    chain.append(name)
                    i = end + 1
                else:
                    chain.append(tokens[i][0])
                    i += 1
            if len(chain) > 1:
                chains.append(chain)
        else:
            i += 1
    return chains


# ---------------------------------------------------------------------------- lookup
class Gazetteer:
    """Every name the corpus states, and a finder of names in questions.

    ``mentions`` finds the corpus's names (longest first, on jieba word boundaries, so 江西 is
    not found inside 浙江西部), then names the corpus never states by the same suffix rules,
    then words the dictionary marks as proper place names.
    """

    def __init__(self, per_doc: dict[str, DocNames] | None = None):
        self.places: dict[str, set[str]] = defaultdict(set)  # name -> parents
        self.orgs: set[str] = set()
        for names in (per_doc or {}).values():
            for name, (_, parents) in names.places.items():
                self.places[name].update(parents)
                stem = place_stem(name)
                if stem and _dict_tag(stem) in (None, "ns", "nr", "nz"):
                    self.places[stem].update(parents)
            self.orgs.update(n for n in names.orgs if len(n) >= 2)
        self.places = dict(self.places)
        self._longest = max((len(n) for n in (*self.places, *self.orgs)), default=0)

    def __len__(self) -> int:
        return len(self.places) + len(self.orgs)

    def to_dict(self) -> dict:
        """The merged names, as the index stores them beside each document's (so that opening an
        index of many documents does not merge them again)."""
        return {"places": {n: sorted(p) for n, p in sorted(self.places.items())}, "orgs": sorted(self.orgs)}

    @classmethod
    def from_dict(cls, d: dict) -> "Gazetteer":
        merged = cls()
        merged.places = {n: set(p) for n, p in d.get("places", {}).items()}
        merged.orgs = set(d.get("orgs", []))
        merged._longest = max((len(n) for n in (*merged.places, *merged.orgs)), default=0)
        return merged

    def kind(self, name: str) -> str | None:
        if name in self.places or place_stem(name) in self.places:
            return "place"
        return "org" if name in self.orgs else None

    def parents(self, name: str) -> set[str]:
        return self.places.get(name) or self.places.get(place_stem(name) or "", set())

    def mentions(self, text: str, tokens: list[tuple[str, str, int]] | None = None) -> list[Mention]:
        """Places and organisations named in ``text``, in order, never overlapping."""
        tokens = tokens if tokens is not None else _tokens(text)
        found: list[Mention] = []
        taken = [False] * len(text)
        for m in self._known(text, tokens):
            found.append(m)
            taken[m.start : m.end] = [True] * (m.end - m.start)
        for a, b, name in suffixed_places(tokens):
            found += _free(tokens, a, b, "place", taken)
        places = {i for i, t in enumerate(tokens) if taken[t[2]]}
        for a, b, name in org_runs(tokens, places):
            found += _free(tokens, a, b, "org", taken)
        for i, (word, flag, start) in enumerate(tokens):
            proper = _proper_noun(word) if len(word) >= 2 and flag.startswith("n") else None
            if proper == "place" or (proper and flag in ("ns", "nr", "nz", "nt")):
                found += _free(tokens, i, i, "place" if proper == "place" or flag == "ns" else "org", taken)
        return sorted(found, key=lambda m: m.start)

    def _known(self, text: str, tokens: list[tuple[str, str, int]]) -> list[Mention]:
        """Known names on word boundaries, chosen to cover the most text: "北岭云杉再生水厂" is
        北岭 + 云杉再生水厂, not 北岭云杉 + (nothing). A boundary may cut a word jieba made up
        ("那岚峪" holds 岚峪) but never one it knows ("浙江西部" holds no 江西)."""
        n = len(text)
        bounds = _soft_bounds(tokens, n)
        best: list[tuple[int, list[Mention]]] = [(0, [])] * (n + 1)  # best[i]: cover of text[i:]
        for i in range(n - 1, -1, -1):
            best[i] = best[i + 1]
            if i not in bounds:
                continue
            for j in range(i + 2, min(n, i + self._longest) + 1):
                kind = self.kind(text[i:j]) if j in bounds else None
                if kind and (j - i) + best[j][0] > best[i][0]:
                    best[i] = ((j - i) + best[j][0], [Mention(i, j, text[i:j], kind), *best[j][1]])
        return best[0][1]


def _soft_bounds(tokens: list[tuple[str, str, int]], n: int) -> set[int]:
    """Positions a name may start or end at: word boundaries, and any position inside a word
    jieba's dictionary does not know."""
    bounds = {n}
    for word, _, start in tokens:
        bounds.add(start)
        if len(word) > 1 and _dict_tag(word) is None and re.fullmatch(r"[\u4e00-\u9fff]+", word):
            bounds.update(range(start + 1, start + len(word)))
    return bounds


def _free(tokens, a: int, b: int, kind: str, taken: list[bool]) -> list[Mention]:
    """The mention of tokens a..b unless it overlaps one found before (which is then marked)."""
    start, end = tokens[a][2], tokens[b][2] + len(tokens[b][0])
    if any(taken[start:end]):
        return []
    taken[start:end] = [True] * (end - start)
    return [Mention(start, end, "".join(t[0] for t in tokens[a : b + 1]), kind)]


def _proper_noun(word: str) -> str | None:
    """"place" or "name" when the bundled English dictionary glosses the word as a proper name
    (北京: "Beijing, capital of …"; not 城市: "city"): how a name outside the corpus is recognised."""
    from .translate import proper_nouns

    return proper_nouns().get(word)


def mine_corpus(documents) -> dict[str, DocNames]:
    """DocNames of every document (``Document`` objects): what the index stores."""
    out = {}
    for doc in documents:
        headings = sorted({h for b in doc.blocks for h in b.section})
        out[doc.doc_id] = mine_document(doc.title, doc.text, headings)
    return out
