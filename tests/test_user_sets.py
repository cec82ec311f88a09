"""The user-phrased evaluation set and the conversation set: valid against the corpus,
split by the fixed rule, and phrased in users' words rather than the documents'."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from eval.harness import load_dataset
from eval.overlap import median_overlap, word_overlap
from eval.splits import CONVERSATION_TEST_SHARE, split_of
from rag.text import normalize

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "rag" / "corpus"
TYPES = {"number", "entity", "date", "list", "explain", "unanswerable"}


@pytest.fixture(scope="module")
def docs():
    return {p.name: normalize(p.read_text(encoding="utf-8")) for p in CORPUS.glob("*.txt")}


@pytest.fixture(scope="module")
def items():
    return load_dataset(ROOT / "eval" / "user_questions.jsonl")


def test_size_types_and_unanswerable_share(items, docs):
    assert len(items) >= 150
    types = Counter(i["type"] for i in items)
    assert set(types) == TYPES, types
    assert types["unanswerable"] / len(items) >= 0.15
    assert {i["doc"] for i in items} == set(docs)
    assert len({i["id"] for i in items}) == len(items)


def test_evidence_and_facts_are_in_the_documents(items, docs):
    for i in items:
        assert i["question"] and i["question_en"], i["id"]
        if i["type"] == "unanswerable":
            assert i["evidence"] is None and i["must_include"] == [], i["id"]
            continue
        ev = normalize(i["evidence"])
        assert ev in docs[i["doc"]], i["id"]
        assert i["must_include"] and all(normalize(m) in ev for m in i["must_include"]), i["id"]


def test_split_follows_the_fixed_rule(items):
    assert all(i["split"] == split_of(i["id"]) for i in items)
    share = sum(i["split"] == "test" for i in items) / len(items)
    assert 0.35 <= share <= 0.65


def test_questions_are_in_users_words(items):
    assert median_overlap(items) <= 0.5
    regression = load_dataset(ROOT / "eval" / "dataset.jsonl")
    assert median_overlap(items) < median_overlap(regression)  # the measure tells the two apart


def test_overlap_measure():
    assert word_overlap("甘肃森林覆盖率是多少？", "甘肃森林覆盖率提高至12.7%") == 1.0
    assert word_overlap("六盘水有多少农民当了股东？", "入股受益农民达184.31万人") < 0.5


def test_conversation_set(docs):
    convs = [json.loads(l) for l in (ROOT / "eval" / "conversations.jsonl").read_text(encoding="utf-8").splitlines() if l.strip()]
    turns = [t for c in convs for t in c["turns"]]
    assert len(convs) >= 25 and len(turns) >= 80
    assert all(c["split"] == split_of(c["id"], CONVERSATION_TEST_SHARE) for c in convs)
    kinds = Counter(t["kind"] for t in turns)
    assert kinds["followup"] and kinds["new_topic"] and kinds["first"] == len(convs)
    assert sum(t["unanswerable"] and t["kind"] == "followup" for t in turns) >= 3
    assert {t["lang"] for t in turns} == {"zh", "en"}
    for t in turns:
        if not t["unanswerable"]:
            ev = normalize(t["evidence"])
            assert ev in docs[t["doc"]] and all(normalize(m) in ev for m in t["must_include"]), t["question"]
