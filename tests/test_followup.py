"""Follow-up resolution, slot by slot. Unit tests run on a tiny fake gazetteer of invented
names (the resolver knows only what a corpus states); the last tests use the real service."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from rag.answer.followup import Resolver, rewrite_followup
from rag.gazetteer import DocNames, Gazetteer
from rag.text import detect_language

# An invented province with two counties, and an invented park: no dictionary knows them.
FAKE = Gazetteer({"fake.txt": DocNames(
    places={"北岭省": [3, []], "岚峪县": [2, ["北岭省"]], "澜溪县": [2, ["北岭省"]], "南川省": [1, []], "石楠县": [1, ["南川省"]]},
    orgs={"岚峪零碳产业园": 2})})
Q = "北岭省2030年森林覆盖率目标是多少？"
Q_EN = "What is Gansu's forest coverage target for 2030?"


def resolve(question, *history, related=None):
    resolver = Resolver(FAKE)
    return resolver.resolve(question, resolver.resolve_chain(list(history)), related)


@pytest.mark.parametrize("question, history, expected", [
    ("那2025年呢？", [Q], "北岭省2025年森林覆盖率目标是多少？"),  # year for year
    ("2025年呢", [Q], "北岭省2025年森林覆盖率目标是多少？"),
    ("它的森林蓄积量呢？", [Q], "北岭省2030年森林蓄积量目标是多少？"),  # indicator for indicator, never merged
    ("它的水土保持率呢？", [Q, "那2025年呢？"], "北岭省2025年水土保持率目标是多少？"),  # follow-ups chain
    # a one-word indicator stands in for the word of its kind, not the whole run
    ("水泥呢？", ["北岭省对钢铁超低排放改造有什么时间要求？"], "北岭省对水泥超低排放改造有什么时间要求？"),
    ("草原呢？", [Q], "北岭省2030年草原覆盖率目标是多少？"),  # the thing, not the measure 覆盖率
    # 这/这个 before a noun is that thing of the previous subject, not the previous topic
    ("这个园区总共投资多少？", ["岚峪零碳产业园的光伏一年能发多少电？"], "岚峪零碳产业园园区总共投资多少？"),
    ("它的森林覆盖率呢？", ["岚峪县的农户一年能增加多少收入？"], "岚峪县森林覆盖率是多少？"),  # the rate, not 多少收入
    ("南川省呢？", [Q], "南川省2030年森林覆盖率目标是多少？"),  # place for place
    # every place of the follow-up replaces every place of the subject, not just the first
    ("南川省石楠县呢？", ["北岭省岚峪县的总人口有多少？"], "南川省石楠县的总人口有多少？"),
    # a county the text places in the same province keeps the province
    ("澜溪县呢？", ["北岭省岚峪县森林覆盖率是多少？"], "北岭省澜溪县森林覆盖率是多少？"),
    ("这是怎么做到的？", ["岚峪县空气优良天数占比是多少？"], "岚峪县空气优良天数占比是怎么做到的？"),  # why/how: the topic
    ("它靠什么做实时监测的？", ["岚峪零碳产业园的光伏一年能发多少电？"], "岚峪零碳产业园靠什么做实时监测的？"),  # anaphora
    ("那它靠什么做实时监测的？", ["岚峪零碳产业园的光伏一年能发多少电？"], "那岚峪零碳产业园靠什么做实时监测的？"),  # 那它: one jieba word
    ("他们家的储能电站有多大？", ["岚峪零碳产业园的光伏一年能发多少电？"], "岚峪零碳产业园的储能电站有多大？"),  # 他们家: the organisation
    ("那里的云杉酒业公司，2025年固废利用率要到多少？", ["北岭省有多少家企业入选？"],
     "北岭省的云杉酒业公司，2025年固废利用率要到多少？"),  # 那里: the previous place
    # a company or site named right after its place ("北岭" + "翠帆") is part of the subject
    ("它的建筑垃圾分离率能到多少？", ["北岭翠帆那个产业园一年能处理多少垃圾？"], "北岭翠帆的建筑垃圾分离率能到多少？"),
    ("它是哪一年开放的？", ["北岭金海湾有多大？"], "北岭金海湾是哪一年开放的？"),
    ("收入增长目标呢？", ["岚峪县2026年认证面积目标是多少？"], "岚峪县2026年收入增长目标是多少？"),  # one 目标
])
def test_follow_up_takes_what_it_does_not_state_from_the_previous_question(question, history, expected):
    assert resolve(question, *history).text == expected


def test_edits_replace_whole_slots():
    out = resolve("它的森林蓄积量呢？", "北岭省森林覆盖率是多少？").text
    assert out.count("森林") == 1 and "北岭省" in out


def test_a_question_with_its_own_subject_and_topic_is_a_new_topic():
    for question in ("南川省石楠县的森林覆盖率是多少？", "What is the forest coverage rate of Liangcheng County?"):
        res = resolve(question, Q)
        assert res.text == question and not res.followup


def test_without_subject_or_cue_only_a_related_question_is_a_follow_up():
    question = "钢铁行业在制造业多少个门类里碳排放量排第一？"
    assert not resolve(question, Q).followup  # no relatedness check: left alone
    assert not resolve(question, Q, related=lambda q: False).followup
    res = resolve("治理后鸟类多了多少种？", "岚峪零碳产业园水环境治理分哪几步？", related=lambda q: True)
    assert res.followup and res.text == "岚峪零碳产业园治理后鸟类多了多少种？"


def test_english_follow_ups():
    assert rewrite_followup("What about 2025?", [Q_EN]) == "What is Gansu's forest coverage target for 2025?"
    assert rewrite_followup("What about wetlands?", [Q_EN]) == "What is Gansu's wetlands target for 2030?"
    rewritten = rewrite_followup("And its forest stock volume?", [Q_EN])
    assert detect_language(rewritten) == "en" and "Gansu" in rewritten and "2030" in rewritten and "stock volume" in rewritten


def test_english_after_chinese_goes_through_the_dictionary():
    assert resolve("And in 2025?", Q).text == "北岭省2025年森林覆盖率目标是多少？"
    assert resolve("What about by 2035?", Q).text == "北岭省2035年森林覆盖率目标是多少？"  # "by" is no indicator
    assert resolve("And by the end of 2025?", Q).text == "北岭省2025年森林覆盖率目标是多少？"
    assert resolve("What about wetlands?", Q).text == "北岭省2030年湿地目标是多少？"
    mixed = resolve("By when does it plan to run on renewable power?", "岚峪零碳产业园的光伏一年能发多少电？").text
    assert mixed == "By when does 岚峪零碳产业园 plan to run on renewable power?"


def test_an_english_place_follow_up_names_the_place_as_the_corpus_does():
    """"And Lanyu County in Beiling?" after a Chinese question: every name of the follow-up,
    outermost first, each as the corpus names it (岚峪 + County -> 岚峪县, a county the corpus
    knows), so that the search finds that county's passages."""
    resolver = Resolver(FAKE, {"岚峪", "北岭", "森林", "覆盖率", "目标"})  # the pinyin spells 岚峪, 北岭
    assert resolver.resolve("And Lanyu County in Beiling?", Q).text == "北岭岚峪县2030年森林覆盖率目标是多少？"
    assert resolver.resolve("What about Lanyu County?", Q).text == "北岭省岚峪县2030年森林覆盖率目标是多少？"


def test_a_previous_topic_ends_on_its_last_content_word():
    """A why/how follow-up takes the previous question's topic: without the tail of its question
    ("都干了些啥" -> not "都干了些"), and without a double space where the anaphor was."""
    out = resolve("Why are they doing all this?", "石楠河那个湿地公园的治水工程，都干了些啥？").text
    assert out.endswith("(石楠河那个湿地公园的治水工程)?") and "  " not in out, out
    out = resolve("这是怎么推上去的？", "北岭省可再生能源发电装机占比是多少？").text
    assert out.startswith("北岭省可再生能源发电装机占比"), out  # 占比 is 占 + 比: a preposition stays


def test_chinese_after_english():
    out = resolve("它的湿地保护率呢？", "What is the forest coverage rate of Liangcheng County in Inner Mongolia?").text
    assert detect_language(out) == "zh" and "湿地保护率" in out and "凉城" in out


def test_nothing_to_resolve():
    assert rewrite_followup("那2025年呢？", []) == "那2025年呢？"
    assert not resolve("好的", Q).followup


def test_no_names_in_the_resolution_code():
    """No list of places, organisations or terms exists because the bundled corpus names them:
    no string in the resolver's code holds a place name mined from the bundled corpus."""
    root = Path(__file__).resolve().parents[1]
    from index.store import load_store  # noqa: F401  (the mined names come from the documents themselves)
    from rag.documents import load_corpus
    from rag.gazetteer import mine_corpus

    docs, _ = load_corpus(root / "rag" / "corpus")
    names = {n for d in mine_corpus(docs).values() for n in d.places if len(n) >= 2}
    for module in ("rag/answer/followup.py", "rag/answer/slots.py", "rag/gazetteer.py", "rag/conversation.py"):
        tree = ast.parse((root / module).read_text(encoding="utf-8"))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                      and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                   and id(n) not in docstrings]
        found = {name for s in strings for name in names if name in s}
        assert not found, f"{module} names places of the bundled corpus: {sorted(found)}"


# ---------------------------------------------------------------------------- the real service
GANSU = "甘肃省2030年森林覆盖率目标是多少？"


def test_service_resolves_the_gansu_chain(service):
    first = service.ask(GANSU)
    second = service.ask("那2025年呢？", history=[first.as_turn()])
    assert second.search_question == "甘肃省2025年森林覆盖率目标是多少？"
    assert not second.refused and "12%" in second.text and "12.7%" not in second.text
    third = service.ask("它的水土保持率呢？", history=[first.as_turn(), second.as_turn()])
    assert third.search_question == "甘肃省2025年水土保持率目标是多少？" and "61.34%" in third.text
    # questions alone are history enough
    assert "61.34%" in service.ask("它的水土保持率呢？", history=[GANSU, "那2025年呢？"]).text


def test_service_leaves_a_new_topic_alone(service):
    answer = service.ask("内蒙古固阳县森林覆盖率是多少？", history=[GANSU, "那2025年呢？"])
    assert answer.search_question is None and "24.23%" in answer.text


def test_an_answer_about_the_previous_subject_is_caught():
    """After "云南双柏县呢？" an answer whose passage names only 固阳县 answers the old question."""
    from rag.conversation import unnamed_subject
    from rag.types import Answer, Chunk, Citation

    chunk = Chunk("c", "d.txt", "年报", ("一、岚峪县",), 0, 11, "湿地保护率达到46%。")
    answer = Answer("q", "湿地保护率达到46%[1]。", False, [Citation(1, chunk, 0, 11)], [])
    assert unnamed_subject(answer, (["南川省", "石楠县"], ["北岭省", "岚峪县"])) == ("南川省石楠县", "岚峪县")
    assert unnamed_subject(answer, (["石楠县"], ["澜溪县"])) == ("石楠县", None)  # names neither
    assert unnamed_subject(answer, (["岚峪"], ["澜溪县"])) is None  # the passage names the new one
    assert unnamed_subject(answer, (["Lanyu County"], ["岚峪县"])) is None  # English names: not compared


@pytest.mark.parametrize("question, indicator", [
    ("海洋工程那块呢？", "海洋工程"), ("那湿地这方面呢？", "湿地"), ("水质的情况呢？", "水质"), ("那水泥呢？", "水泥"),
])
def test_the_part_of_a_topic_is_asked_by_its_words_alone(question, indicator):
    """"X那块呢" / "X这方面呢" asks about X: 那块 and 方面 are no indicator to search for."""
    from rag.answer.slots import parse

    assert parse(question, Gazetteer(), "zh").residual() == indicator
