"""``rag batch`` end to end on the real index: schema, inputs, resume after SIGKILL, bad rows, errors."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from eval.bench_batch import varied_questions
from rag.cli import main as rag_main

REQUIRED = {"id": str, "row": int, "question": str, "answer": str, "refused": bool,
            "citations": list, "contexts": list, "latency_ms": (int, float)}
CITATION = {"n": int, "doc": str, "title": str, "section": str, "text": str, "start": int, "end": int, "chunk_id": str}
CONTEXT = {"doc": str, "title": str, "text": str, "score": float, "chunk_id": str}


@pytest.fixture(scope="module")
def index_args(service, settings):
    """CLI options pointing at the session's fixture-built index (``service`` makes sure it exists)."""
    return ["--index-dir", str(settings.index_dir)]


@pytest.fixture(scope="module")
def chunks(service):
    return {c.chunk_id: c for c in service.store.chunks}


def batch(capsys, *argv) -> tuple[int, str]:
    code = rag_main(["batch", *map(str, argv)])
    return code, capsys.readouterr().err


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def check_record(rec: dict, chunks: dict, k: int = 5) -> None:
    """Every field has its documented type and meaning."""
    for name, typ in REQUIRED.items():
        assert isinstance(rec[name], typ), (name, rec[name])
    assert rec["error"] is None, rec["error"]
    assert rec["question"].strip() and rec["latency_ms"] > 0 and rec["row"] >= 1
    ctx = rec["contexts"]
    assert len(ctx) == k
    for c in ctx:
        for name, typ in CONTEXT.items():
            assert isinstance(c[name], typ), (name, c)
        chunk = chunks[c["chunk_id"]]
        assert (c["doc"], c["title"], c["text"]) == (chunk.doc_id, chunk.title, chunk.text)
    scores = [c["score"] for c in ctx]
    assert scores == sorted(scores, reverse=True), "contexts are in rank order"
    cites = rec["citations"]
    if rec["refused"]:
        assert rec["answer"] == "" and cites == []
        return
    assert rec["answer"] and cites
    for c in cites:
        for name, typ in CITATION.items():
            assert isinstance(c[name], typ), (name, c)
        chunk = chunks[c["chunk_id"]]
        assert (c["doc"], c["title"], c["text"], c["section"]) == (chunk.doc_id, chunk.title, chunk.text, " > ".join(chunk.section))
        assert 0 <= c["start"] < c["end"] <= len(c["text"]), "the span points into the cited passage"
        assert c["text"][c["start"]:c["end"]] == c["sentence"]
        assert c["chunk_id"] in {x["chunk_id"] for x in ctx}, "citations come from the retrieved passages"
    ns = [c["n"] for c in cites]
    markers = {int(m) for m in re.findall(r"\[(\d+)\]", rec["answer"])}
    assert len(ns) == len(set(ns)) and markers == set(ns), (rec["answer"], ns)
    cited = "".join(c["text"] for c in cites)
    for figure in re.findall(r"\d+(?:\.\d+)?", re.sub(r"\[\d+\]", "", rec["answer"])):
        assert figure in cited, f"{figure} of the answer is in a cited passage"


def test_jsonl_100_rows_schema(tmp_path, capsys, index_args, chunks, service):
    rows = [{**r, "batch": "t1"} for r in varied_questions(100)]
    rows[0]["answer"] = "an input field named like an output field"
    src, out = tmp_path / "q.jsonl", tmp_path / "a.jsonl"
    write_jsonl(src, rows)
    code, err = batch(capsys, src, "--output", out, "--workers", "2", *index_args)
    assert code == 0, err
    recs = read_jsonl(out)
    assert sorted(r["id"] for r in recs) == [r["id"] for r in rows]
    by_id = {r["id"]: r for r in recs}
    for row in rows:
        rec = by_id[row["id"]]
        check_record(rec, chunks)
        assert rec["question"] == row["question"]
        assert (rec["source_id"], rec["lang"], rec["batch"]) == (row["source_id"], row["lang"], "t1"), "extra fields carried"
    assert by_id[rows[0]["id"]]["input_answer"] == rows[0]["answer"]
    assert sum(not r["refused"] for r in recs) >= 70
    for row in rows[:: 17]:  # the batch answers exactly what `rag ask` answers
        assert by_id[row["id"]]["answer"] == service.ask(row["question"]).to_dict()["answer"]
    assert "failed" in err and "questions/s" in err


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_csv_input(tmp_path, capsys, index_args, chunks, encoding):
    qs = varied_questions(12)  # Chinese only: GBK cannot hold every character of the English variants
    src, out = tmp_path / "q.csv", tmp_path / "a.jsonl"
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["编号说明", "问题", "id"])
    for i, q in enumerate(qs):
        w.writerow([f"第{i}题", q["question"], "" if i % 3 == 0 else f"c{i}"])
    src.write_bytes(buf.getvalue().encode(encoding))
    code, err = batch(capsys, src, "-o", out, "--question-column", "问题", *index_args)
    assert code == 0, err
    recs = read_jsonl(out)
    assert [r["question"] for r in recs] == [q["question"] for q in qs]
    assert [r["id"] for r in recs] == [str(i + 1) if i % 3 == 0 else f"c{i}" for i in range(len(qs))], "missing id → row number"
    for i, rec in enumerate(recs):
        check_record(rec, chunks)
        assert rec["编号说明"] == f"第{i}题"


def test_txt_input_ordered_csv_output(tmp_path, capsys, index_args):
    qs = [r["question"] for r in varied_questions(200)[::20]]
    src, out = tmp_path / "q.txt", tmp_path / "a.csv"
    src.write_text("\n\n".join(qs) + "\n   \n", encoding="utf-8")
    code, err = batch(capsys, src, "-o", out, "--workers", "2", "--ordered", "--mode", "lexical", *index_args)
    assert code == 0, err
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM so spreadsheet programs read Chinese"
    lines = raw.decode("utf-8-sig").splitlines()
    assert len(lines) == len(qs) + 1, "one physical line per record"
    recs = list(csv.DictReader(lines))
    assert [r["id"] for r in recs] == [str(2 * i + 1) for i in range(len(qs))], "ids are line numbers, in input order"
    assert [r["question"] for r in recs] == qs
    for r in recs:
        assert r["refused"] in ("true", "false") and r["error"] == ""
        if r["refused"] == "false":
            assert re.match(r"\[1\] .+ \(\d{3}_\w+\.txt\).*: “.+”", r["citations"]), r["citations"]
            assert r["citation_docs"].endswith(".txt") and len(r["context_docs"].split("; ")) == 5
    # Resume after a cut-off last line: the fragment is dropped and the row written again, once.
    out.write_bytes(raw[: raw.rstrip(b"\n").rfind(b"\n") + 40])
    code, err = batch(capsys, src, "-o", out, "--mode", "lexical", *index_args)
    assert code == 0 and "incomplete last line" in err
    recs = list(csv.DictReader(out.read_bytes().decode("utf-8-sig").splitlines()))
    assert sorted(Counter(r["id"] for r in recs).values()) == [1] * len(qs)


def test_sigkill_then_resume(tmp_path, settings, service):
    rows = varied_questions(1000)
    src, out = tmp_path / "q.jsonl", tmp_path / "a.jsonl"
    write_jsonl(src, rows)
    env = {**os.environ, "RAG_INDEX_DIR": str(settings.index_dir)}
    # Lexical retrieval keeps 1,000 real answers within seconds; resumption does not depend on the mode.
    cmd = [sys.executable, "-c", "import sys; from rag.cli import main; sys.exit(main())", "batch", str(src), "-o", str(out), "--workers", "2", "--mode", "lexical"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 30:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    written = out.read_bytes()
    assert 30 <= written.count(b"\n") < 1000, "killed part-way"
    # As if killed in the middle of a write: the last line is cut off.
    with open(out, "ab") as fh:
        fh.write(json.dumps({"id": rows[-1]["id"], "question": rows[-1]["question"]}, ensure_ascii=False).encode()[:25])
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stderr and "incomplete last line" in done.stderr
    recs = read_jsonl(out)
    counts = Counter(r["id"] for r in recs)
    assert set(counts) == {r["id"] for r in rows} and set(counts.values()) == {1}
    assert all(r["error"] is None for r in recs)
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "Nothing to do" in again.stderr
    assert len(read_jsonl(out)) == 1000


def test_bad_rows_do_not_stop_the_batch(tmp_path, capsys, index_args, chunks, service):
    good = varied_questions(45)
    lines = [json.dumps(r, ensure_ascii=False) for r in good]
    too_long = "甘肃省森林覆盖率" * (service.settings.max_question_chars // 8 + 1)
    bad = [json.dumps({"id": "empty", "question": "   "}),
           json.dumps({"id": "long", "question": too_long}, ensure_ascii=False),
           '{"id": "broken", "question": "甘肃省2030年',
           json.dumps({"id": "nofield", "text": "甘肃省2030年森林覆盖率目标是多少？"}, ensure_ascii=False),
           json.dumps({"id": "notstr", "question": 2030})]
    for i, b in enumerate(bad):
        lines.insert(5 + 9 * i, b)
    src, out = tmp_path / "q.jsonl", tmp_path / "a.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, err = batch(capsys, src, "-o", out, *index_args)
    assert code == 0, err
    recs = read_jsonl(out)
    assert len(recs) == 50
    failed = [r for r in recs if r["error"] is not None]
    ok = [r for r in recs if r["error"] is None]
    assert len(ok) == 45 and len(failed) == 5
    for r in ok:
        check_record(r, chunks)
    by_id = {r["id"]: r["error"] for r in failed}
    broken_row = lines.index(bad[2]) + 1
    assert set(by_id) == {"empty", "long", str(broken_row), "nofield", "notstr"}, "a malformed line is named by its line number"
    assert "empty" in by_id["empty"] and "limit" in by_id["long"] and "malformed JSON" in by_id[str(broken_row)]
    assert "missing field 'question'" in by_id["nofield"] and "not a string" in by_id["notstr"]
    for r in failed:
        assert r["answer"] == "" and r["citations"] == [] and r["contexts"] == [] and r["refused"] is False
    assert re.search(r"\b5 failed\b", err), err


def test_duplicate_ids_are_reported(tmp_path, capsys, index_args):
    rows = [{"id": "a", "question": "甘肃省2030年森林覆盖率目标是多少？"},
            {"id": "b", "question": "钢铁行业在制造业多少个门类里碳排放量排第一？"},
            {"id": "a", "question": "工信部说过去五年我国一共建成了多少家绿色工厂？"}]
    src, out = tmp_path / "q.jsonl", tmp_path / "a.jsonl"
    write_jsonl(src, rows)
    code, err = batch(capsys, src, "-o", out, "--mode", "lexical", *index_args)
    assert code == 0 and "warning: duplicate ids" in err and "'a'" in err
    recs = read_jsonl(out)
    assert len(recs) == 3 and recs[-1]["row"] == 3 and "duplicate id 'a'" in recs[-1]["error"]
    assert [r["error"] for r in recs if r["id"] == "a"][0] is None, "the first row with the id is answered"
    code, err = batch(capsys, src, "-o", out, "--mode", "lexical", *index_args)
    assert code == 0 and len(read_jsonl(out)) == 3, "resume neither re-answers nor re-reports"


def test_missing_input_exits_2(tmp_path, capsys):
    code, err = batch(capsys, tmp_path / "nope.jsonl", "-o", tmp_path / "a.jsonl")
    assert code == 2 and "input file not found" in err and "nope.jsonl" in err


@pytest.mark.parametrize("where", ["under_a_file", "a_directory"])
def test_unwritable_output_exits_2(tmp_path, capsys, where):
    src = tmp_path / "q.txt"
    src.write_text("甘肃省2030年森林覆盖率目标是多少？\n", encoding="utf-8")
    out = src / "a.jsonl" if where == "under_a_file" else tmp_path
    code, err = batch(capsys, src, "-o", out)
    assert code == 2 and "cannot write output" in err, err


def test_csv_without_question_column_exits_2(tmp_path, capsys):
    src = tmp_path / "q.csv"
    src.write_text("id,text\n1,甘肃省2030年森林覆盖率目标是多少？\n", encoding="utf-8")
    code, err = batch(capsys, src, "-o", tmp_path / "a.jsonl")
    assert code == 2 and "no 'question' column" in err and "--question-column" in err
