"""The evaluation metrics on tiny hand-made inputs: each number here can be checked by eye."""
import pytest

from eval.harness import score
from eval.metrics import (answer_body, concise_limit, contains, good_citations, grounded, hit_at, hit_rank,
                          is_accurate, is_concise, is_pasted, missing_facts, mrr, percentile, summarize)


def test_matching_ignores_width_case_and_whitespace():
    assert contains("森林覆盖率提高至12.7％，\n森林蓄积量", "覆盖率提高至 12.7%,")
    assert contains("PM2.5 浓度", "pm２.５浓度")
    assert not contains("森林覆盖率", "")
    assert not contains(None, "x")


def test_answer_body_drops_citation_markers():
    assert answer_body("提高至12.7%[1]，达到3.3亿立方米[2]。") == "提高至12.7%，达到3.3亿立方米。"


def test_hit_rank_is_first_passage_with_the_evidence():
    passages = ["无关段落", "到2030年底，森林覆盖率 提高至12.7%", "森林覆盖率提高至12.7%（重复）"]
    assert hit_rank(passages, "森林覆盖率提高至12.7%") == 2
    assert hit_rank(passages, "不存在的证据") is None
    assert hit_rank(passages, None) is None


def test_hit_at_and_mrr():
    ranks = [1, 3, None, 12]
    assert hit_at(ranks, 1) == 0.25
    assert hit_at(ranks, 5) == 0.5
    assert mrr(ranks, 10) == pytest.approx((1 + 1 / 3) / 4)  # rank 12 is beyond MRR@10
    assert hit_at([], 5) is None and mrr([]) is None


def test_accuracy_needs_every_fact_and_no_refusal():
    must = ["6.8万家", "85%"]
    assert missing_facts("超过6.8万家[1]，同比增长85％[1]。", must) == []
    assert missing_facts("超过6.8万家[1]。", must) == ["85%"]
    assert is_accurate("超过6.8万家，增长85%", must, refused=False)
    assert not is_accurate("超过6.8万家，增长85%", must, refused=True)
    assert not is_accurate("随便什么", [], refused=False)  # nothing to check is not a correct answer


def test_concise_limit_and_pasted_passages():
    gold = "2121家绿色工厂。"  # 10 characters -> limit 3*10 + 60 = 90
    assert concise_limit(gold) == 90
    assert is_concise("我国共建设2121家绿色工厂[1]。", gold, [])
    assert not is_concise("很长" * 50, gold, [])
    passage = "五年来，我国共建设2121家绿色工厂、171家绿色工业园区、189家绿色供应链企业，" * 4
    assert is_pasted(passage[:-5], [passage])
    assert not is_pasted("我国共建设2121家绿色工厂", [passage])
    assert not is_concise(passage, "x" * 40, [passage])  # within 3x+60 but it is the passage itself


def test_groundedness_checks_only_the_stated_facts():
    cited = ["森林覆盖率提高至12.7%"]
    assert grounded("森林覆盖率12.7%[1]", ["12.7%", "3.3亿立方米"], cited) is True
    assert grounded("森林覆盖率12.7%，蓄积量3.3亿立方米[1]", ["12.7%", "3.3亿立方米"], cited) is False
    assert grounded("没有任何事实", ["12.7%"], cited) is None


def test_good_citations_by_evidence_or_fact():
    cited = ["证据句：森林覆盖率提高至12.7%", "含有事实 3.3亿立方米", "毫不相干"]
    assert good_citations(cited, "森林覆盖率提高至12.7%", ["3.3亿立方米"]) == 2
    assert good_citations([], "x", ["y"]) == 0


def test_percentile_interpolates():
    assert percentile([10, 20, 30, 40], 50) == 25
    assert percentile([5], 95) == 5
    assert percentile([], 50) is None


def _out(answer, refused=False, cited=(), ranked=(), total=10.0):
    return {"answer": answer, "refused": refused, "cited": list(cited), "cited_docs": ["d"] * len(cited),
            "ranked": list(ranked), "timings_ms": {"total_ms": total}}


ITEM = {"id": "x1", "question": "甘肃2030年森林覆盖率目标？", "answer": "12.7%", "must_include": ["12.7%"],
        "evidence": "森林覆盖率提高至12.7%", "doc": "a.txt", "type": "number"}
NONE = {"id": "x2", "question": "甘肃2050年目标？", "answer": "文档未给出。", "must_include": [], "evidence": None,
        "doc": "a.txt", "type": "unanswerable"}
PASSAGE = "到2030年底，森林覆盖率提高至12.7%"


def test_score_rows_and_why_failed():
    ok = score(ITEM, ITEM["question"], "zh", "c", 5, _out("森林覆盖率提高至12.7%[1]", cited=[PASSAGE], ranked=[PASSAGE]))
    assert ok["accurate"] and ok["concise"] and ok["grounded"] and ok["hit_rank"] == 1 and ok["why_failed"] == ""

    miss = score(ITEM, ITEM["question"], "zh", "c", 5, _out("无关[1]", cited=["无关段落"], ranked=["无关段落"]))
    assert miss["why_failed"] == "retrieval miss: evidence not in top-10; missing facts: 12.7%"

    wrong = score(ITEM, ITEM["question"], "zh", "c", 5, _out("无关[1]", cited=["无关段落"], ranked=["无关段落", PASSAGE]))
    assert wrong["why_failed"].startswith("answered from wrong passage (evidence at rank 2)")

    refused = score(ITEM, ITEM["question"], "zh", "c", 5, _out("没有找到答案", refused=True, ranked=[PASSAGE]))
    assert refused["why_failed"] == "false refusal (evidence at rank 1)" and refused["answer"] == ""

    beyond = ["p"] * 6 + [PASSAGE]
    late = score(ITEM, ITEM["question"], "zh", "c", 5, _out("无关[1]", cited=["p"], ranked=beyond))
    assert late["why_failed"].startswith("evidence ranked 7, beyond k=5")

    # the answer saw 5 passages; ranks 6..10 come from the deeper retrieval, asked for only then
    deeper = {**_out("无关[1]", cited=["p"], ranked=["p"] * 5), "deeper": lambda: beyond}
    assert score(ITEM, ITEM["question"], "zh", "c", 5, deeper)["hit_rank"] == 7
    found = {**_out("12.7%[1]", cited=[PASSAGE], ranked=[PASSAGE]), "deeper": lambda: pytest.fail("not needed")}
    assert score(ITEM, ITEM["question"], "zh", "c", 5, found)["hit_rank"] == 1

    hallucinated = score(NONE, NONE["question"], "zh", "c", 5, _out("2050年达到20%[1]", cited=[PASSAGE]))
    assert hallucinated["why_failed"] == "answered an unanswerable question"
    assert score(NONE, NONE["question"], "zh", "c", 5, _out("没有", refused=True))["why_failed"] == ""


def test_summarize_rates():
    rows = [
        score(ITEM, "q", "zh", "c", 5, _out("12.7%[1]", cited=[PASSAGE, "无关"], ranked=[PASSAGE], total=10)),
        score(ITEM, "q", "zh", "c", 5, _out("没有", refused=True, ranked=["无关", "无关", PASSAGE], total=30)),
        score(NONE, "q", "zh", "c", 5, _out("没有", refused=True, total=20)),
        score(NONE, "q", "zh", "c", 5, _out("乱答", cited=[PASSAGE], total=40)),
    ]
    s = summarize(rows)
    assert (s["n"], s["n_answerable"], s["n_unanswerable"]) == (4, 2, 2)
    assert s["hit@1"] == 0.5 and s["hit@5"] == 1.0 and s["mrr@10"] == pytest.approx((1 + 1 / 3) / 2)
    assert s["accuracy"] == 0.5 and s["concise_accuracy"] == 0.5
    assert s["groundedness"] == 1.0
    assert s["citation_precision"] == 0.5  # 1 of the 2 citations of the one answered answerable item
    assert s["correct_refusal"] == 0.5 and s["false_refusal"] == 0.5
    assert s["total_ms_p50"] == 25


def test_failure_kind_groups_messages():
    from eval.metrics import failure_kind

    assert failure_kind("evidence ranked 7, beyond k=5; missing facts: 12.7%") == "evidence ranked N, beyond k=N"
    assert failure_kind("false refusal (evidence at rank 1)") == "false refusal"
    assert failure_kind("missing facts: 12.7%, 3.3亿立方米") == "missing facts"
    assert failure_kind("accurate but too long: 300 chars > 90") == "accurate but too long"


def test_a_held_out_splits_report_counts_failures_without_listing_them():
    from eval.report import summary_markdown

    rows = [score(ITEM, ITEM["question"], "zh", "c", 5, _out("无关[1]", cited=["无关段落"], ranked=["无关段落"]))]
    meta = {"configs": ["c"], "langs": ["zh"], "date": "d", "command": "rag eval", "dataset": "user-test",
            "items": 1, "answer_mode": "extractive", "top_k": 5, "seconds": 1.0}
    listed = summary_markdown(rows, meta)
    assert ITEM["question"] in listed
    held_out = summary_markdown(rows, {**meta, "held_out": True})
    assert ITEM["question"] not in held_out and "## Failures of `c` (1)" in held_out
