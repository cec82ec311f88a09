"""Conversations everywhere they happen, on the session's real index: the Gansu chain
("甘肃省2030年森林覆盖率目标是多少？" -> "那2025年呢？" -> "它的水土保持率呢？" gives 12.7 %, 12 %,
61.34 %) through `rag ask --history`, the /ask API, and `rag batch` with interleaved
conversations answered in parallel."""
from __future__ import annotations

import json
import re

import pytest

from tests.test_cli import run

CHAIN = ["甘肃省2030年森林覆盖率目标是多少？", "那2025年呢？", "它的水土保持率呢？"]
EXPECTED = ["12.7%", "12%", "61.34%"]


@pytest.fixture(scope="module")
def built(service, settings):
    return settings


# ---------------------------------------------------------------------------- CLI
def test_cli_history_from_a_file_of_questions(built, tmp_path):
    history = tmp_path / "history.txt"
    history.write_text("\n".join(CHAIN[:2]) + "\n", encoding="utf-8")
    out = run(["ask", CHAIN[2], "--history", str(history)], built)
    assert out.returncode == 0, out.stderr
    assert "检索问题：甘肃省2025年水土保持率目标是多少？" in out.stdout and "61.34%" in out.stdout


def test_cli_history_chains_json_answers_through_stdin(built, tmp_path):
    """Each `rag ask --json` reply is the next call's history line: answers and citations travel along."""
    lines = []
    for question, expected in zip(CHAIN, EXPECTED):
        history = tmp_path / "turns.jsonl"
        history.write_text("\n".join(lines) + "\n", encoding="utf-8")
        args = ["ask", question, "--json"] + (["--history", str(history)] if lines else [])
        out = run(args, built)
        assert out.returncode == 0, out.stderr
        reply = json.loads(out.stdout)
        assert expected in reply["answer"] and (expected != "12%" or "12.7%" not in reply["answer"])
        lines.append(json.dumps(reply, ensure_ascii=False))
    assert reply["search_question"] == "甘肃省2025年水土保持率目标是多少？"


def test_cli_history_from_stdin_and_bad_history(built, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "RAG_INDEX_DIR": str(built.index_dir), "RAG_CORPUS_DIR": str(built.corpus_dir)}
    out = subprocess.run([sys.executable, "-m", "rag.cli", "ask", CHAIN[1], "--history", "-"], input=CHAIN[0] + "\n",
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and "12%" in out.stdout, out.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('[{"question": "q", "answr": "x"}]', encoding="utf-8")
    for args, message in (([str(bad)], "unknown field"), ([str(tmp_path / "none.txt")], "cannot read the history file")):
        out = run(["ask", CHAIN[1], "--history", *args], built)
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


# ---------------------------------------------------------------------------- API
@pytest.fixture(scope="module")
def client(ui_url):
    from gradio_client import Client

    return Client(ui_url, verbose=False, download_files=False)


def test_api_history_of_questions_or_of_replies(client):
    replies = []
    for question, expected in zip(CHAIN, EXPECTED):
        reply = client.predict(question, history=replies or None, api_name="/ask")
        assert "error" not in reply and expected in reply["answer"], reply
        replies.append(reply)  # an earlier reply is a turn of history as it is
    assert replies[2]["search_question"] == "甘肃省2025年水土保持率目标是多少？"
    by_questions = client.predict(CHAIN[2], history=CHAIN[:2], api_name="/ask")
    assert "61.34%" in by_questions["answer"]
    bad = client.predict(CHAIN[1], history=[{"question": CHAIN[0], "answer": 1}], api_name="/ask")
    assert bad["status"] == 400 and "'answer' must be str" in bad["error"]


# ---------------------------------------------------------------------------- batch
def test_batch_interleaved_conversations_match_asking_one_by_one(service, settings, tmp_path, capsys):
    from rag.cli import main as rag_main

    other = ["内蒙古固阳县森林覆盖率是多少？", "它的湿地保护率呢？", "云南双柏县森林覆盖率呢？"]
    rows = []
    for i in range(3):  # interleaved, and written out of turn order: the turn column orders them
        rows.append({"id": f"g{i}", "conversation_id": "gansu", "turn": i + 1, "question": CHAIN[i]})
        rows.append({"id": f"m{2 - i}", "conversation_id": "mongolia", "turn": 3 - i, "question": other[2 - i]})
    rows.append({"id": "solo", "question": "谁赢得了2018年世界杯？"})
    source, output = tmp_path / "conv.jsonl", tmp_path / "conv.answers.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    code = rag_main(["batch", str(source), "-o", str(output), "--workers", "2", "--index-dir", str(settings.index_dir)])
    assert code == 0, capsys.readouterr().err
    got = {r["id"]: r for r in map(json.loads, output.read_text(encoding="utf-8").splitlines())}
    assert len(got) == 7 and got["solo"]["refused"] and got["solo"]["search_question"] is None

    for conv, questions, prefix in (("gansu", CHAIN, "g"), ("mongolia", other, "m")):
        history = []
        for i, question in enumerate(questions):
            alone = service.ask(question, history=history or None)
            record = got[f"{prefix}{i}"]
            assert (record["answer"], record["search_question"]) == ("" if alone.refused else alone.text,
                                                                    alone.search_question), (conv, i)
            history.append(alone.as_turn())
    assert [EXPECTED[i] in got[f"g{i}"]["answer"] for i in range(3)] == [True, True, True]
    assert got["g2"]["search_question"] == "甘肃省2025年水土保持率目标是多少？"


def test_batch_turn_must_be_a_number(settings, tmp_path, capsys):
    from rag.cli import main as rag_main

    source, output = tmp_path / "bad.csv", tmp_path / "bad.answers.jsonl"
    source.write_text("id,conversation_id,turn,question\n1,c,first,甘肃省2030年森林覆盖率目标是多少？\n", encoding="utf-8")
    assert rag_main(["batch", str(source), "-o", str(output), "--index-dir", str(settings.index_dir)]) == 0
    record = json.loads(output.read_text(encoding="utf-8"))
    assert "turn must be a whole number" in record["error"]


# ---------------------------------------------------------------------------- conversation checks
def test_an_answer_about_another_year_or_subject_is_refused(service):
    """After "那2035年呢？", a sentence about 2025 answers the previous question, not this one."""
    from rag.answer.checks import AnswerChecks
    from rag.answer.followup import Resolution
    from rag.types import Answer, Citation

    query, hits = service.retrieve("甘肃省2035年森林覆盖率目标是多少？")
    chunk = next(c for c in service.store.chunks if "森林覆盖率达到12%" in c.text)
    start = chunk.text.index("2025年")
    wrong = Answer(query.text, "2025年，森林覆盖率达到12%[1]。", False, [Citation(1, chunk, start, start + 40)], hits)
    res = Resolution(query.text, True, "ellipsis", years=[2035])
    checks = AnswerChecks(service.answerer, service.analyze)
    assert checks.year(wrong, query, hits, res).refused
    res.years = [2025]
    assert not checks.year(wrong, query, hits, res).refused
    res.years, res.new_subject, res.subjects = [], True, (["云南省"], ["甘肃省"])
    refused = checks.subject(wrong, query, hits, res)
    assert refused.refused and "甘肃" in refused.notes[0]


# ---------------------------------------------------------------------------- the fitted prior
def test_fitted_prior_file_is_read_and_falls_back_to_defaults(tmp_path):
    from rag.retrieval import PRIOR_WEIGHTS, fitted_prior

    assert fitted_prior(tmp_path / "none.json") == PRIOR_WEIGHTS
    path = tmp_path / "prior.json"
    path.write_text(json.dumps({"version": 1, "weights": {"chunk": 1.6, "terms": 0.0}}), encoding="utf-8")
    assert fitted_prior(path) == {**PRIOR_WEIGHTS, "chunk": 1.6, "terms": 0.0}
    assert set(fitted_prior()) == set(PRIOR_WEIGHTS)  # the shipped fit names every weight


def test_prior_weights_decide_how_far_a_follow_up_leans_on_the_previous_answer(service):
    """The same follow-up, asked after the same first turn: with every prior weight at zero its
    passages are those of the question alone; with a heavy document weight they all come from the
    document the previous answer cited."""
    first = service.ask(CHAIN[0])
    follow = "钢铁行业碳排放怎么样？"  # no subject of its own: ambiguous without the conversation
    kept = service.prior_weights
    try:
        service.prior_weights = {"chunk": 0.0, "section": 0.0, "doc": 0.0, "terms": 0.0}
        alone = service.ask(follow, history=[first.as_turn()])
        service.prior_weights = {"chunk": 0.0, "section": 0.0, "doc": 5.0, "terms": 0.0}
        leaning = service.ask(follow, history=[first.as_turn()])
    finally:
        service.prior_weights = kept
    cited_doc = first.citations[0].chunk.doc_id
    assert all(h.chunk.doc_id == cited_doc for h in leaning.hits)
    assert [h.chunk.chunk_id for h in alone.hits] != [h.chunk.chunk_id for h in leaning.hits]


def test_a_follow_up_for_another_year_is_not_answered_from_a_sentence_whose_paragraph_sets_the_old_one(service):
    """The PM2.5 sentence of the Gansu plan states no year itself: "2025年，…" earlier in its
    paragraph does. Asked for 2030 next, the same sentence would answer the 2025 question again."""
    first = service.ask("甘肃那个方案里，2025年PM2.5浓度要控制在多少？")
    assert not first.refused and not re.search(r"20\d\d", first.citations[0].sentence)
    again = service.ask("And what's the PM2.5 target for 2030?", history=[first.as_turn()])
    assert again.refused and "2025" in again.text


# ---------------------------------------------------------------------------- answering the previous question again
FIRM = ("云杉光电公司简介\n"
        "从2016年开始，云杉光电公司致力于绿色工厂建设。公司的产品用于锂电池隔膜和蓝宝石抛光。\n"
        "北岭省计划培育50家绿色供应链链主企业、30家专业评估认证机构。")


@pytest.fixture(scope="module")
def firm_service(tmp_path_factory):
    from tests.tiny import service_over

    return service_over(tmp_path_factory.mktemp("firm"), {"firm.txt": FIRM})


def test_a_follow_up_is_not_answered_with_the_previous_answer_again(firm_service):
    first = firm_service.ask("云杉光电公司哪年开始建绿色工厂的？")
    assert not first.refused and "2016" in first.text
    founded = firm_service.ask("它是哪一年成立的？", history=[first.as_turn()])
    assert founded.search_question and founded.refused  # the 2016 sentence says nothing of its founding
    products = firm_service.ask("它的产品用在哪些地方？", history=[first.as_turn()])
    assert not products.refused and "锂电池隔膜" in products.text


def test_the_same_sentence_may_answer_a_follow_up_that_it_names(firm_service):
    first = firm_service.ask("北岭省要培育多少家链主企业？")
    assert not first.refused and "50家" in first.text
    again = firm_service.ask("专业评估认证机构呢？", history=[first.as_turn()])
    assert not again.refused and "30家专业评估认证机构" in again.text
