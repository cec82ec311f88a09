"""The gazetteer is mined from whatever corpus is indexed: a tiny corpus of invented places
is indexed for real, and follow-ups about those places are resolved from what it states."""
from __future__ import annotations

import json

import pytest

from rag.gazetteer import Gazetteer, mine_document

PLAN = ("北岭省生态建设年报\n\n一、岚峪县\n\n北岭省岚峪县地处山区，森林覆盖率达到71.5%，湿地保护率达到46%。\n\n"
        "二、澜溪县\n\n北岭省澜溪县位于河谷，森林覆盖率达到64.2%，湿地保护率达到38%。"
        "澜溪县云杉集团建成光伏电站3座。\n")


def test_mined_names_come_from_the_text():
    names = mine_document("北岭省生态建设年报", PLAN, ["一、岚峪县", "二、澜溪县"])
    assert {"北岭省", "岚峪县", "澜溪县"} <= set(names.places)
    assert "北岭省" in names.places["岚峪县"][1]  # the province the text states
    assert "云杉集团" in names.orgs or "澜溪县云杉集团" in names.orgs
    gazetteer = Gazetteer({"plan.txt": names})
    assert gazetteer.kind("岚峪") == "place"  # the stem of a suffixed name is a name too
    assert [m.text for m in gazetteer.mentions("那岚峪的湿地保护率呢？")] == ["岚峪"]
    assert [m.text for m in gazetteer.mentions("浙江西部")] != ["江西"]  # names only on word boundaries


def test_a_name_jieba_splits_is_mined_whole():
    names = mine_document("", "今年蓉山乡投资建设了污水管网。", [])  # jieba: 蓉 | 山乡
    assert "蓉山乡" in names.places


def test_kinds_of_areas_are_not_places():
    names = mine_document("", "推进示范区、开发区和自然保护区建设，城市建成区绿化率达到40%。", [])
    assert not set(names.places) & {"示范区", "开发区", "自然保护区", "建成区", "城市"}


@pytest.fixture(scope="module")
def invented(tmp_path_factory):
    from rag.service import RagService
    from rag.settings import get_settings

    corpus = tmp_path_factory.mktemp("invented-corpus")
    (corpus / "plan.txt").write_text(PLAN, encoding="utf-8")
    settings = get_settings(corpus_dir=corpus, index_dir=tmp_path_factory.mktemp("invented-index"))
    return RagService.open(settings, log=lambda msg: None)


def test_the_index_stores_the_corpus_gazetteer(invented, service):
    stored = json.loads((invented.store.path / "gazetteer.json").read_text(encoding="utf-8"))
    assert "岚峪县" in stored["plan.txt"]["places"]
    assert invented.store.gazetteer().kind("澜溪县") == "place"
    assert service.store.gazetteer().kind("澜溪县") is None  # the bundled corpus never names it


def test_follow_ups_about_invented_places_are_resolved(invented):
    first = invented.ask("北岭省岚峪县森林覆盖率是多少？")
    assert "71.5%" in first.text
    second = invented.ask("澜溪县呢？", history=[first.as_turn()])
    assert second.search_question == "北岭省澜溪县森林覆盖率是多少？" and "64.2%" in second.text
    third = invented.ask("它的湿地保护率呢？", history=[first.as_turn(), second.as_turn()])
    assert "38%" in third.text


def test_an_index_without_names_is_refreshed_without_re_embedding(invented, tmp_path):
    """An index built before gazetteers gets its names on the next update; no passage is re-embedded."""
    import shutil

    from index.builder import build_index, staleness
    from index.store import load_store, read_manifest

    copy = tmp_path / "index"
    shutil.copytree(invented.store.path.parent, copy)
    version = copy / (copy / "CURRENT").read_text().strip()
    manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    manifest.pop("gazetteer")
    (version / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (version / "gazetteer.json").unlink()
    settings = invented.settings.model_copy(update={"index_dir": copy})
    assert load_store(copy).gazetteer().kind("澜溪县") == "place"  # mined at open meanwhile
    assert "names" in staleness(settings, read_manifest(copy))
    report = build_index(settings, invented.embedder, log=lambda msg: None)
    assert report.embedded == 0 and report.reused == report.chunks and not report.changed
    assert load_store(copy).names["plan.txt"].places["澜溪县"]
    assert staleness(settings, read_manifest(copy)) is None
