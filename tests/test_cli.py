"""The `rag` command end to end, in a subprocess, against the session's real index."""
import json
import os
import shutil
import subprocess
import sys

import pytest


def run(args, settings, extra_env=None, timeout=300):
    env = {**os.environ, "RAG_INDEX_DIR": str(settings.index_dir), "RAG_CORPUS_DIR": str(settings.corpus_dir)}
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-c", "from rag.cli import main; raise SystemExit(main())", *args],
                          capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def built(service, settings):
    return settings  # the service fixture has built the index


def test_ask_prints_answer_and_citation(built):
    out = run(["ask", "甘肃省2030年森林覆盖率目标是多少？"], built)
    assert out.returncode == 0, out.stderr
    assert "12.7%" in out.stdout and "[1]" in out.stdout and "引用" in out.stdout


def test_ask_json(built):
    out = run(["ask", "What is Gansu's forest coverage target for 2030?", "--json", "-k", "3"], built)
    data = json.loads(out.stdout)
    assert "12.7%" in data["answer"] and data["refused"] is False
    assert len(data["contexts"]) == 3
    cited = data["citations"][0]
    assert "12.7%" in cited["text"] and cited["text"][cited["start"]:cited["end"]] == cited["sentence"]


def test_refusal_exit_zero_with_closest_passages(built):
    out = run(["ask", "甘肃省2040年森林覆盖率目标是多少？"], built)
    assert out.returncode == 0 and "资料中没有找到" in out.stdout and "最接近的段落" in out.stdout


@pytest.mark.parametrize("question,message", [("  ", "empty"), ("森林" * 400, "limit")])
def test_bad_questions_exit_2(built, question, message):
    out = run(["ask", question], built)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_index_up_to_date_and_info(built):
    out = run(["index"], built)
    assert out.returncode == 0 and "up to date" in out.stdout
    info = run(["info", "--json"], built)
    data = json.loads(info.stdout)
    assert data["chunks"] > 100 and len(data["documents"]) == 5
    assert data["embedding"]["model"] == "multilingual-e5-small"


def test_missing_corpus_exit_2(built, tmp_path):
    out = run(["index", "--corpus", str(tmp_path / "nope"), "--index-dir", str(tmp_path / "idx")], built)
    assert out.returncode == 2 and "does not exist" in out.stderr


def test_index_of_another_model_is_refused(built, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(built.index_dir, copy)
    version = copy / (copy / "CURRENT").read_text().strip()
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["embedding"]["model"] = "BAAI/bge-m3"
    (version / "manifest.json").write_text(json.dumps(manifest))
    out = run(["ask", "森林覆盖率", "--index-dir", str(copy)], built)
    assert out.returncode == 2 and "bge-m3" in out.stderr and "rag index --rebuild" in out.stderr


def test_help_explains_commands(built):
    out = run(["--help"], built)
    for command in ("index", "ask", "info"):
        assert command in out.stdout
    assert "--mode" in run(["ask", "--help"], built).stdout
