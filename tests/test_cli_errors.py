"""The smaller user-facing problems: `python -m rag.cli`, --json errors, non-UTF-8 arguments,
the model download hint, the embedded-passages count and the feedback record size."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_module(args, env=None, timeout=120) -> subprocess.CompletedProcess:
    """`python -m rag.cli …` (the module run as __main__), as a user would."""
    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, env=full, cwd=ROOT, timeout=timeout)


def test_python_m_rag_cli_reports_batch_and_ui_errors_without_traceback(tmp_path):
    out = run_module(["batch", str(tmp_path / "missing.txt")])
    err = out.stderr.decode()
    assert out.returncode == 2 and "input file not found" in err and "Traceback" not in err, err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        out = run_module(["ui", "--host", "127.0.0.1", "--port", str(busy.getsockname()[1])])
    err = out.stderr.decode()
    assert out.returncode == 2 and "already in use" in err and "Traceback" not in err, err


def test_json_errors_are_json_on_stdout(tmp_path):
    out = run_module(["ask", "   ", "--json"])
    assert out.returncode == 2
    data = json.loads(out.stdout)
    assert "empty" in data["error"] and data["type"] == "QuestionError"
    out = run_module(["ask", "森林覆盖率", "--json", "-k", "999"])
    assert out.returncode == 2 and "k must be" in json.loads(out.stdout)["error"]


def test_invalid_utf8_argument_is_named(tmp_path):
    out = run_module(["ask", b"\xc9\xad\xc1\xd6\xb8\xb2\xb8\xc7".decode("utf-8", "surrogateescape")])  # GBK bytes
    err = out.stderr.decode("utf-8", "replace")
    assert out.returncode == 2 and "not valid UTF-8" in err and "surrogates" not in err and "Traceback" not in err


def test_model_download_hint_names_a_real_model_id():
    from rag.embeddings import EmbeddingError, SentenceTransformerEmbedder, download_hint

    assert download_hint("multilingual-e5-small").startswith("hf download intfloat/multilingual-e5-small")
    assert download_hint("BAAI/bge-m3") == "hf download BAAI/bge-m3"
    with pytest.raises(EmbeddingError) as info:
        SentenceTransformerEmbedder("multilingual-e5-small")
    message = str(info.value)
    assert "hf download intfloat/multilingual-e5-small" in message
    assert "download multilingual-e5-small" not in message


def test_embedded_count_is_distinct_texts(tmp_path):
    from index.builder import build_index
    from rag.embeddings import load_embedder
    from rag.settings import get_settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "repeat.txt").write_text("一、目标\n" + "森林覆盖率提高至12.7%。" * 600, encoding="utf-8")
    settings = get_settings(corpus_dir=corpus, index_dir=tmp_path / "index", cache_dir=tmp_path / "cache",
                            chunk_size=64, chunk_overlap=0)
    report = build_index(settings, load_embedder(settings), progress=False)
    assert report.chunks > 20
    assert report.embedded <= 3, report.summary()  # what the model actually embedded
    assert report.embedded + report.identical + report.reused == report.chunks
    assert f"{report.embedded} passages embedded (+{report.identical} identical to those)" in report.summary()


def test_feedback_records_are_bounded(tmp_path):
    from ui.feedback import COMMENT_MAX_CHARS, FeedbackLog

    log = FeedbackLog(tmp_path / "feedback.jsonl", max_chars=20_000)
    huge = {"question": "问" * 100_000, "answer": {"message": "答" * 1_000_000, "refused": False, "citations": [
        {"n": i, "doc": "d.txt", "title": "题" * 5000, "section": "", "sentence": "句" * 50_000, "chunk_id": "c"}
        for i in range(1000)]}}
    log.write(huge, "up", "评" * 1_000_000)
    log.write(huge, "evil<script>", "好")
    lines = (tmp_path / "feedback.jsonl").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(lines) == 2 and all(len(line) <= 20_000 for line in lines)
    first, second = (json.loads(line) for line in lines)
    assert first["truncated"] and len(first["comment"]) <= COMMENT_MAX_CHARS + 1
    assert second["verdict"] == "down"
