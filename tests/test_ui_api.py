"""The UI's JSON API, called over HTTP with gradio_client against the real app and index."""
from __future__ import annotations

import pytest

QUESTION = "甘肃省2030年森林覆盖率目标是多少？"


@pytest.fixture(scope="module")
def client(ui_url):
    from gradio_client import Client

    return Client(ui_url, verbose=False, download_files=False)


def test_ask_returns_a_cited_answer(client):
    result = client.predict(QUESTION, api_name="/ask")
    assert isinstance(result, dict)
    assert not result["refused"]
    assert "12.7%" in result["answer"]
    assert "[1]" in result["answer"]
    cited = [c for c in result["citations"] if "12.7%" in c["text"]]
    assert cited, result["citations"]
    c = cited[0]
    assert c["text"][c["start"] : c["end"]] == c["sentence"]
    assert result["contexts"], "retrieved passages are returned too"


def test_follow_up_through_the_api(client):
    result = client.predict("那2025年呢？", history=[QUESTION], api_name="/ask")
    assert result["search_question"] and "2025" in result["search_question"]
    assert "12%" in result["answer"] and "12.7%" not in result["answer"]


def test_too_long_question_is_a_friendly_error_and_server_keeps_serving(client):
    result = client.predict("森林" * 400, api_name="/ask")
    assert result["error"] and "limit" in result["error"]
    assert "Traceback" not in result["error"]
    assert result["citations"] == []
    unknown = client.predict(QUESTION, docs=["no-such-file.txt"], api_name="/ask")
    assert "unknown document" in unknown["error"]
    again = client.predict(QUESTION, api_name="/ask")
    assert "12.7%" in again["answer"]


def test_status_line_and_feedback_file(service, tmp_path):
    from ui.app import status_line
    from ui.feedback import FeedbackLog

    line = status_line(service)
    assert f"documents {len(service.documents)}" in line and "chunks" in line
    answer = service.ask(QUESTION)
    log = FeedbackLog(tmp_path / "fb" / "feedback.jsonl")
    log.write({"question": QUESTION, "answer": answer.to_dict()}, "up", "准确")
    import json

    rec = json.loads((tmp_path / "fb" / "feedback.jsonl").read_text(encoding="utf-8"))
    assert rec["verdict"] == "up" and rec["comment"] == "准确" and "12.7%" in rec["answer"]
    assert rec["citations"][0]["sentence"] and rec["time"]
