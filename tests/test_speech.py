"""Answers out of reported speech: the speaker alone is never the answer.

News writing closes a quote with who spoke ("“…。”宋雨燕说。") or opens a view with it
("刘怀平认为，零碳园区…"). A span or clause that holds only the speaker says nothing; the
answer is what was said. Logic on strings, then the real service on an invented passage."""
from __future__ import annotations

import pytest

from rag.text import has_date, is_attribution
from tests.tiny import service_over


def test_attribution_sentences():
    assert is_attribution("宋雨燕说。") and is_attribution("园区管委会主任王林表示")
    assert not is_attribution("王林表示，园区是资源能源整合体。")  # says what was said
    assert not is_attribution("小说。")  # too short to name a speaker


def test_dates_written_in_words():
    assert has_date("将每年六月定为公司的低碳环保月") and has_date("十二月底完工")
    assert not has_date("三个月内完成") and not has_date("用了两个月")


PARK = ("青石园区调研\n"
        "记者走访了青石零碳产业园。全国人大代表、青石新能源集团有限公司董事长赵明认为，零碳园区的建设有助于"
        "推动能源结构优化和产业升级，提升相关产品“绿色竞争力”。“比如我所在的青石县，就积极探索‘绿电+氢能’"
        "等模式。”赵明说。\n"
        "园区绿色发展联盟秘书处主任钱红表示，产业园区是一个具备较大优势的资源能源整合体。"
        "“园区可以就地消纳绿色电力，建设智能的新型电力系统。”钱红说。\n"
        "青石园区去年的光伏发电量为1.2亿千瓦时。\n")


@pytest.fixture(scope="module")
def park_service(tmp_path_factory):
    return service_over(tmp_path_factory.mktemp("speech"), {"park.txt": PARK})


@pytest.mark.parametrize("question, said", [
    ("在青石新能源董事长赵明看来，建零碳园区到底有什么好处？", "能源结构优化"),
    ("钱红觉得产业园区搞零碳有啥天然优势？", "资源能源整合体"),
])
def test_the_answer_is_what_the_speaker_said(park_service, question, said):
    answer = park_service.ask(question)
    assert not answer.refused and said in answer.text, answer.text
