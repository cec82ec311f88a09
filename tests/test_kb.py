"""Adding and removing documents (rag.kb, its background jobs, `rag add` / `rag remove`) with the
real pipeline on a tiny corpus: uploads checked by content, nothing changed by a refused batch,
only new documents embedded, questions answered from the previous index while indexing."""
from __future__ import annotations

import io
import threading
import time
import zipfile

import pytest

from index.store import read_manifest
from rag.kb import KnowledgeBase
from rag.kb_jobs import KbJobs
from rag.settings import get_settings
from rag.uploads import UploadError, clean_name, sniff
from tests.conftest import CORPUS
from tests.test_index_safety import make_corpus, rag

NEW_DOC = "青海省湿地保护方案\n一、主要目标\n到2030年，青海省湿地保护率提高至75%，新建国家湿地公园12处。"
NEW_QUESTION = "青海省2030年湿地保护率目标是多少？"


@pytest.fixture()
def kb_service(tmp_path):
    from rag.service import RagService

    settings = get_settings(corpus_dir=make_corpus(tmp_path / "corpus"), user_corpus_dir=tmp_path / "mine",
                            index_dir=tmp_path / "index", cache_dir=tmp_path / "cache")
    return RagService.open(settings, log=lambda m: None)


def _docx(path, paragraphs):
    import docx

    d = docx.Document()
    for text in paragraphs:
        d.add_paragraph(text)
    d.save(path)
    return path


def _wait(jobs: KbJobs, job_id: str, timeout: float = 300) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = jobs.status(job_id)
        if status["state"] in ("done", "failed"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {jobs.status(job_id)}")


def test_sniffing_by_content_not_extension(tmp_path):
    png = tmp_path / "a.pdf"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    zipped = tmp_path / "b.docx"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("notes.txt", "hello")
    text = tmp_path / "c.txt"
    text.write_bytes(("政策" * 5000).encode("utf-8")[:8191])  # a character cut at the sniffing boundary
    assert sniff(png) == "a PNG image"
    assert sniff(zipped) == "a ZIP archive"
    assert sniff(_docx(tmp_path / "d.docx", ["内容"])) == "a Word .docx document"
    assert sniff(text) == "text"
    assert clean_name("../../etc/.hidden方案 .PDF") == "hidden方案.pdf"
    assert clean_name('a<b>:c?.md') == "abc.md"


def test_a_refused_batch_changes_nothing(kb_service, tmp_path):
    settings = kb_service.settings
    kb = KnowledgeBase(settings.model_copy(update={"max_upload_mb": 0.06}), kb_service)
    good = tmp_path / "good.txt"
    good.write_text(NEW_DOC, encoding="utf-8")
    fake_pdf = _docx(tmp_path / "fake.pdf", ["这是Word文件"])
    big = tmp_path / "big.txt"
    big.write_text("森林" * 20_000, encoding="utf-8")
    version = read_manifest(settings.index_dir)["created_at"]
    with pytest.raises(UploadError) as err:
        kb.stage([(good, "good.txt"), (fake_pdf, "fake.pdf"), (big, "big.txt"), (good, "sheet.xlsx")])
    message = str(err.value)
    assert "fake.pdf: the name says a PDF document but the content is a Word .docx document" in message
    assert "big.txt: 0.1 MB is over the 60 KB limit" in message
    assert "sheet.xlsx: .xlsx is not a supported type" in message
    assert "good.txt" not in message
    assert not settings.user_corpus_dir.exists() or not any(settings.user_corpus_dir.iterdir())
    assert read_manifest(settings.index_dir)["created_at"] == version
    with pytest.raises(UploadError, match="base corpus has this name"):
        kb.stage([(good, "gansu.txt")])
    with pytest.raises(UploadError, match="date '21/4/2025'"):
        kb.stage([(good, "good.txt")], date="21/4/2025")
    for folder in (settings.corpus_dir, CORPUS):  # never into the base corpus or the installed package
        with pytest.raises(UploadError, match="RAG_USER_CORPUS_DIR .* overlaps"):
            KnowledgeBase(settings.model_copy(update={"user_corpus_dir": folder}), kb_service).stage([(good, "good.txt")])


def test_question_during_indexing_uses_the_previous_index(kb_service, tmp_path):
    jobs = KbJobs(KnowledgeBase(kb_service.settings, kb_service))
    embedding, asked = threading.Event(), threading.Event()

    def hold_while_embedding(job):  # keeps the job inside its embedding step until the question is answered
        if job["phase"] == "embedding" and not embedding.is_set():
            embedding.set()
            asked.wait(60)

    jobs.subscribe(hold_while_embedding)
    job = jobs.add([(_docx(tmp_path / "青海湿地.docx", NEW_DOC.split("\n")), "青海湿地.docx")],
                   publisher="青海省林草局", date="2025-06")
    assert embedding.wait(120), jobs.status(job["id"])
    during = kb_service.ask(NEW_QUESTION)
    assert jobs.status(job["id"])["state"] == "running"
    assert "75%" not in during.text and all(h.chunk.doc_id != "青海湿地.docx" for h in during.hits)
    asked.set()
    done = _wait(jobs, job["id"])
    assert done["state"] == "done", done
    assert done["result"]["added"] == [{"doc": "青海湿地.docx", "indexed": True, "reason": None}]
    assert "1 added/changed" in done["result"]["summary"]

    after = kb_service.ask(NEW_QUESTION)
    assert not after.refused and "75%" in after.text
    assert after.citations[0].chunk.doc_id == "青海湿地.docx"
    row = next(r for r in KnowledgeBase(kb_service.settings, kb_service).listing()["documents"] if r["added"])
    assert (row["doc"], row["publisher"], row["date"], row["chunks"] > 0) == ("青海湿地.docx", "青海省林草局", "2025-06", True)

    removed = _wait(jobs, jobs.remove(["青海湿地.docx"])["id"])
    assert removed["state"] == "done", removed
    gone = kb_service.ask(NEW_QUESTION)
    assert "75%" not in gone.text and "青海湿地.docx" not in kb_service.store.documents
    with pytest.raises(UploadError, match="base corpus"):
        jobs.remove(["gansu.txt"])


def test_cli_add_and_remove(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    env = {"RAG_CORPUS_DIR": str(corpus), "RAG_USER_CORPUS_DIR": str(tmp_path / "mine"),
           "RAG_INDEX_DIR": str(tmp_path / "index"), "RAG_CACHE_DIR": str(tmp_path / "cache")}
    doc = tmp_path / "qinghai.txt"
    doc.write_text(NEW_DOC, encoding="utf-8")
    assert rag(["index"], env).returncode == 0
    added = rag(["add", str(doc), "--date", "2025年6月"], env)
    assert added.returncode == 0, added.stderr
    assert "1 added/changed" in added.stdout and (tmp_path / "mine" / "qinghai.txt").is_file()
    answer = rag(["ask", NEW_QUESTION], env)
    assert "75%" in answer.stdout.split("引用")[0] and "qinghai.txt, 2025-06" in answer.stdout
    again = rag(["add", str(doc)], env)
    assert again.returncode == 2 and "already added" in again.stderr
    base = rag(["remove", "gansu.txt"], env)
    assert base.returncode == 2 and "read-only" in base.stderr
    removed = rag(["remove", "qinghai.txt"], env)
    assert removed.returncode == 0 and "1 removed" in removed.stdout
    assert "75%" not in rag(["ask", NEW_QUESTION], env).stdout.split("最接近")[0]
