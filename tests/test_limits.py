"""Per-request bounds (rag.limits) at every entry point: the UI /ask API over HTTP, the CLI,
batch and the LangChain retriever, against the session's real index."""
from __future__ import annotations

import time

import pytest

from rag.limits import MAX_HISTORY_ITEMS, RequestError, check_history, check_k, check_question, recent_history

QUESTION = "甘肃省2030年森林覆盖率目标是多少？"


@pytest.mark.parametrize("k,ok", [(None, None), (1, 1), (50, 50), (3.0, 3), (0, RequestError), (51, RequestError),
                                  (-5, RequestError), (10000, RequestError), ("5", RequestError), (True, RequestError)])
def test_k_bounds(k, ok):
    if ok is RequestError:
        with pytest.raises(RequestError, match="k must be"):
            check_k(k)
    else:
        assert check_k(k) == ok


@pytest.mark.parametrize("history,message", [
    ([1, None], "history item 1 must be a question"), ("q", "must be a list of earlier questions or turns"),
    (["q"] * 21, "at most 20"), (["森" * 6000] * 2, "characters long"),
    ([{"answer": "12%"}], 'needs a non-empty "question"'), ([{"question": "q", "answr": "x"}], "unknown field"),
    ([{"question": "q", "refused": "no"}], "'refused' must be bool"),
    ([{"question": "q", "citations": ["001.txt"]}], 'citation must be an object with a "doc"'),
    ([{"question": "q", "citations": [{"doc": "d"}] * 21}], "at most 20"),
    ([{"error": "boom", "question": "q"}], "error reply"),
])
def test_history_bounds(history, message):
    with pytest.raises(RequestError, match=message):
        check_history(history)


def test_history_turns_are_accepted_and_reduced_to_what_is_read():
    reply = {"question": QUESTION, "answer": "12.7%[1]", "message": "12.7%[1]", "refused": False, "lang": "zh",
             "search_question": None, "contexts": [{"text": "x" * 9000}], "notes": [],
             "citations": [{"n": 1, "doc": "001.txt", "section": "一、总体要求", "chunk_id": "c1", "text": "x" * 9000}]}
    assert check_history([reply, "那2025年呢？"]) == [
        {"question": QUESTION, "answer": "12.7%[1]", "refused": False, "search_question": None,
         "citations": [{"doc": "001.txt", "section": "一、总体要求", "chunk_id": "c1"}]}, "那2025年呢？"]


def test_question_type_and_recent_history():
    with pytest.raises(RequestError, match="must be a string"):
        check_question(["x"], 500)
    long_chat = [f"问题{i}" for i in range(100)]
    assert recent_history(long_chat) == long_chat[-MAX_HISTORY_ITEMS:]
    assert check_history(recent_history(["森" * 6000] * 3)) == ["森" * 6000]
    turns = [{"question": "q", "answer": "答" * 4000}] * 3
    assert len(recent_history(turns)) == 2


# ---------------------------------------------------------------------------- the /ask API
@pytest.fixture(scope="module")
def client(ui_url):
    from gradio_client import Client

    return Client(ui_url, verbose=False, download_files=False)


@pytest.mark.parametrize("kwargs,message", [
    ({"k": 10000}, "k must be from 1 to 50"),
    ({"k": -5}, "k must be from 1 to 50"),
    ({"k": "many"}, "k must be a whole number"),
    ({"history": [1, None]}, "history item 1 must be a question"),
    ({"history": "甘肃"}, "history must be a list of earlier questions or turns"),
    ({"history": [{"question": QUESTION, "answer": 5}]}, "'answer' must be str"),
    ({"history": ["甘肃省森林覆盖率？"] * 10000}, "at most 20"),
    ({"docs": [None]}, "docs must be a list of strings"),
    ({"mode": "fast"}, "mode must be one of"),
])
def test_api_refuses_out_of_bounds_and_bad_types_with_400(client, kwargs, message):
    t0 = time.perf_counter()
    result = client.predict(QUESTION, **kwargs, api_name="/ask")
    assert result["status"] == 400 and message in result["error"], result
    assert "internal error" not in result["error"] and result["citations"] == []
    assert time.perf_counter() - t0 < 10  # refused before any work


def test_api_question_of_wrong_type_is_400(client):
    result = client.predict(123, api_name="/ask")
    assert result["status"] == 400 and "must be a string" in result["error"], result


def test_api_within_bounds_still_answers(client):
    result = client.predict(QUESTION, k=50, api_name="/ask")
    assert "12.7%" in result["answer"] and len(result["contexts"]) == 50
    follow = client.predict("那2025年呢？", history=[QUESTION], k=3, api_name="/ask")
    assert "error" not in follow and len(follow["contexts"]) == 3


# ---------------------------------------------------------------------------- CLI, batch, LangChain
@pytest.mark.parametrize("k", ["10000", "0", "-5"])
def test_cli_k_out_of_bounds_exits_2(settings, service, capsys, k):
    from rag.cli import main

    code = main(["ask", QUESTION, "-k", k, "--index-dir", str(settings.index_dir)])
    assert code == 2 and "k must be from 1 to 50" in capsys.readouterr().err


def test_batch_k_out_of_bounds_exits_2(settings, service, capsys, tmp_path):
    from rag.cli import main

    src = tmp_path / "q.txt"
    src.write_text(QUESTION + "\n", encoding="utf-8")
    code = main(["batch", str(src), "-k", "500", "--index-dir", str(settings.index_dir)])
    assert code == 2 and "k must be from 1 to 50" in capsys.readouterr().err
    assert not (tmp_path / "q.answers.jsonl").exists()


def test_langchain_retriever_bounds(service):
    from rag.lc import PolicyRetriever

    retriever = PolicyRetriever(service=service)
    assert len(retriever.invoke(QUESTION, k=50)) == 50
    with pytest.raises(RequestError, match="k must be"):
        retriever.invoke(QUESTION, k=10000)
    with pytest.raises(RequestError, match="k must be"):
        retriever.invoke(QUESTION, k=-5)
    with pytest.raises(ValueError, match="limit"):
        retriever.invoke("森林" * 400)
    with pytest.raises(ValueError):
        PolicyRetriever(service=service, k=10000)
