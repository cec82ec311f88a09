"""The knowledge-base API the Documents tab uses (/kb_documents, /kb_add, /kb_status, /kb_remove,
/document), through gradio_client against a real server; who may edit; the document view's HTML."""
from __future__ import annotations

import time

import pytest

from rag.types import Block, Document
from tests.test_index_safety import make_corpus
from ui.auth import EditPolicy

NEW_DOC = "青海省湿地保护方案\n一、主要目标\n到2030年，青海省湿地保护率提高至75%，新建国家湿地公园12处。"


@pytest.fixture(scope="module")
def tiny_service(tmp_path_factory):
    from rag.service import RagService
    from rag.settings import get_settings

    tmp = tmp_path_factory.mktemp("kb-api")
    settings = get_settings(corpus_dir=make_corpus(tmp / "corpus"), user_corpus_dir=tmp / "mine",
                            index_dir=tmp / "index", cache_dir=tmp / "cache")
    return RagService.open(settings, log=lambda m: None)


def _server(service, **kw):
    from ui.app import serve

    return serve(service, **kw)


def _wait(client, job_id: str) -> dict:
    for _ in range(600):
        status = client.predict(job_id, api_name="/kb_status")
        if status["state"] in ("done", "failed"):
            return status
        time.sleep(0.2)
    raise AssertionError(status)


def test_add_read_and_remove_through_the_api(tiny_service, tmp_path):
    from gradio_client import Client, handle_file

    doc = tmp_path / "qinghai.txt"
    doc.write_text(NEW_DOC, encoding="utf-8")
    demo, url = _server(tiny_service)
    try:
        client = Client(url, verbose=False)
        before = client.predict(api_name="/kb_documents")
        assert [d["doc"] for d in before["documents"]] == ["gansu.txt", "guangxi.txt"] and before["can_edit"]
        submitted = client.predict([handle_file(str(doc))], "", "青海省林草局", "2025-06", False, api_name="/kb_add")
        done = _wait(client, submitted["job"]["id"])
        assert done["state"] == "done" and done["result"]["added"][0]["indexed"], done
        row = next(d for d in client.predict(api_name="/kb_documents")["documents"] if d["doc"] == "qinghai.txt")
        assert row["added"] and row["publisher"] == "青海省林草局" and row["chunks"] > 0
        answer = client.predict("青海省2030年湿地保护率目标是多少？", api_name="/ask")
        cite = answer["citations"][0]
        text = client.predict("qinghai.txt", api_name="/document")["text"]
        assert cite["doc"] == "qinghai.txt" and cite["sentence"] in text
        refused = client.predict([handle_file(str(doc))], "", "", "", False, api_name="/kb_add")
        assert refused["status"] == 400 and "already added" in refused["error"]
        base = client.predict(["gansu.txt"], api_name="/kb_remove")
        assert base["status"] == 400 and "read-only" in base["error"]
        removed = _wait(client, client.predict(["qinghai.txt"], api_name="/kb_remove")["job"]["id"])
        assert removed["state"] == "done"
        assert client.predict("qinghai.txt", api_name="/document")["status"] == 404
    finally:
        demo.close()


def test_editing_is_refused_when_exposed_without_login_or_turned_off(tiny_service, tmp_path):
    from gradio_client import Client, handle_file

    doc = tmp_path / "x.txt"
    doc.write_text(NEW_DOC, encoding="utf-8")
    exposed = EditPolicy(True, host="0.0.0.0", auth=False)  # as if listening beyond loopback without RAG_UI_AUTH
    demo, url = _server(tiny_service, policy=exposed)
    try:
        client = Client(url, verbose=False)
        result = client.predict([handle_file(str(doc))], "", "", "", False, api_name="/kb_add")
        assert result["status"] == 403 and "RAG_UI_AUTH" in result["error"]
        assert client.predict(["x.txt"], api_name="/kb_remove")["status"] == 403
        assert not client.predict(api_name="/kb_documents")["can_edit"]
    finally:
        demo.close()
    assert not (tiny_service.settings.user_corpus_dir / "x.txt").exists()


def test_edit_policy():
    assert EditPolicy().refusal() is None  # local use
    assert "RAG_UI_EDITING" in EditPolicy(enabled=False).refusal()
    assert "log in" in EditPolicy(host="0.0.0.0", auth=True).refusal(None)
    assert EditPolicy(host="0.0.0.0", auth=True).refusal("alice") is None


def test_document_view_escapes_and_marks_the_sentence():
    from ui import docview

    text = "一、目标\n到2030年<img src=x>，保护率达到75%。其他内容。"
    doc = Document("d.txt", "方案<b>", text, [Block(0, 4, ("一、目标",), True), Block(5, len(text), ("一、目标",))], "0")
    s = text.index("到2030")
    e = text.index("其他")
    html = docview.render(doc, 5, len(text), s, e)
    assert "<img" not in html and "&lt;img src=x&gt;" in html and "方案&lt;b&gt;" in html
    assert '<mark class="support" id="dv-sentence">' in html
    assert "一、目标" in html.split("dv-text")[0]  # the breadcrumb names the section
    assert docview.parse_request('{"doc": "d.txt", "start": -3, "s": "x"}') == {"doc": "d.txt", "start": 0, "end": 0, "s": 0, "e": 0}
    assert docview.parse_request("not json") is None


def test_logged_in_users_may_edit(tiny_service, tmp_path):
    from gradio_client import Client, handle_file

    doc = tmp_path / "empty.md"
    doc.write_text("", encoding="utf-8")
    demo, url = _server(tiny_service, auth=[("alice", "s3cret-pw")])
    try:
        client = Client(url, auth=("alice", "s3cret-pw"), verbose=False)
        result = client.predict([handle_file(str(doc))], "", "", "", False, api_name="/kb_add")
        assert result["status"] == 400 and "empty.md: the file is empty" in result["error"]  # past the login check
    finally:
        demo.close()
