"""Follow-up rewriting: a question that leans on the previous turn inherits its slots."""
from __future__ import annotations

import pytest

from rag.answer.followup import rewrite_followup
from rag.text import detect_language

GANSU = "甘肃省2030年森林覆盖率目标是多少？"
GANSU_EN = "What is Gansu's forest coverage target for 2030?"


@pytest.mark.parametrize(
    "question, history, expected",
    [
        ("那2025年呢？", [GANSU], "甘肃省2025年森林覆盖率目标是多少？"),
        ("2025年呢", [GANSU], "甘肃省2025年森林覆盖率目标是多少？"),
        ("它的森林蓄积量呢？", [GANSU], "甘肃省2030年森林蓄积量目标是多少？"),
        ("上海呢？", [GANSU], "上海2030年森林覆盖率目标是多少？"),
        ("那2025年呢？", ["甘肃森林覆盖率目标是多少？"], "甘肃2025年森林覆盖率目标是多少？"),
        ("What about wetlands?", [GANSU_EN], "What is Gansu's wetlands target for 2030?"),
        ("What about 2025?", [GANSU_EN], "What is Gansu's forest coverage target for 2025?"),
        # follow-ups chain: the second one resolves against the rewritten first
        ("它的森林蓄积量呢？", [GANSU, "那2025年呢？"], "甘肃省2025年森林蓄积量目标是多少？"),
    ],
)
def test_follow_up_inherits_missing_slots(question, history, expected):
    assert rewrite_followup(question, history) == expected


@pytest.mark.parametrize(
    "question",
    [
        "上海市2025年碳排放强度下降多少？",
        "钢铁行业在制造业多少个门类里碳排放量排第一？",
        "低碳城市有哪些？",
    ],
)
def test_self_contained_question_is_not_rewritten(question):
    assert rewrite_followup(question, [GANSU]) == question


def test_english_follow_up_stays_english():
    rewritten = rewrite_followup("And its forest stock volume?", [GANSU_EN])
    assert detect_language(rewritten) == "en"
    assert "Gansu" in rewritten and "2030" in rewritten and "stock volume" in rewritten


def test_no_history_or_other_language_leaves_question_alone():
    assert rewrite_followup("那2025年呢？", []) == "那2025年呢？"
    # slots are not moved across languages (no translation step here)
    assert rewrite_followup("What about 2025?", [GANSU]) == "What about 2025?"


def test_service_searches_the_rewritten_question(service):
    answer = service.ask("那2025年呢？", history=[GANSU])
    assert answer.search_question == "甘肃省2025年森林覆盖率目标是多少？"
    assert not answer.refused and "12%" in answer.text and "12.7%" not in answer.text
