"""Evaluations and fits run on the bundled corpus only, whatever a user added."""
from __future__ import annotations

from eval.harness import eval_settings
from rag.settings import get_settings


def test_an_empty_user_folder_leaves_the_settings_alone(tmp_path):
    settings = get_settings(cache_dir=tmp_path / "cache", index_dir=tmp_path / "index",
                            user_corpus_dir=tmp_path / "added")
    assert eval_settings(settings) is settings


def test_added_documents_are_left_out_and_the_users_index_untouched(tmp_path):
    added = tmp_path / "added"
    added.mkdir()
    (added / "mine.txt").write_text("用户自己添加的文档。", encoding="utf-8")
    settings = get_settings(cache_dir=tmp_path / "cache", index_dir=tmp_path / "index", user_corpus_dir=added)
    said = []
    pinned = eval_settings(settings, log=said.append)
    assert pinned.resolved_user_corpus_dir() != added
    assert not any(pinned.resolved_user_corpus_dir().iterdir())
    assert pinned.index_dir != settings.index_dir and pinned.corpus_dir == settings.corpus_dir
    assert said and str(added) in said[0]
