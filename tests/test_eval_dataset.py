"""Validation of the evaluation set eval/dataset.jsonl against the corpus.

Evidence and must_include are compared after normalisation:
unicodedata.normalize("NFKC", s) followed by removal of all whitespace,
so PDF line breaks and "2021 年"-style spacing in the documents do not matter.
"""

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS_DIR = ROOT / "rag" / "corpus"
DATASET = ROOT / "eval" / "dataset.jsonl"

ALLOWED_TYPES = {"number", "entity", "date", "list", "explain", "unanswerable"}
REQUIRED_FIELDS = {
    "id": str,
    "question": str,
    "question_en": (str, type(None)),
    "answer": str,
    "must_include": list,
    "evidence": (str, type(None)),
    "doc": str,
    "type": str,
}
MIN_ITEMS = 100
MIN_UNANSWERABLE_SHARE = 0.10
MIN_QUESTION_EN = 40
MIN_ITEMS_PER_DOC = 12
EVIDENCE_MIN_LEN = 10
EVIDENCE_MAX_LEN = 200
FOOTNOTE_RE = re.compile(r"\[\d+\]")


def norm(s: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s))


def _load_lines():
    assert DATASET.is_file(), f"missing dataset: {DATASET}"
    return DATASET.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def items():
    records = []
    for lineno, line in enumerate(_load_lines(), 1):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:  # pragma: no cover - reported by test_every_line_parses
            pytest.fail(f"line {lineno} is not valid JSON: {exc}")
        records.append(rec)
    return records


@pytest.fixture(scope="module")
def corpus():
    docs = {p.name: norm(p.read_text(encoding="utf-8")) for p in sorted(CORPUS_DIR.glob("*.txt"))}
    assert docs, f"no corpus documents found in {CORPUS_DIR}"
    return docs


def _answerable(items):
    return [r for r in items if r["type"] != "unanswerable"]


def test_every_line_parses():
    errors = []
    for lineno, line in enumerate(_load_lines(), 1):
        if not line.strip():
            errors.append(f"line {lineno}: blank line")
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"line {lineno}: {exc}")
            continue
        if not isinstance(rec, dict):
            errors.append(f"line {lineno}: not a JSON object")
    assert not errors, "\n".join(errors)


def test_required_fields_and_types(items):
    errors = []
    for i, rec in enumerate(items, 1):
        missing = set(REQUIRED_FIELDS) - set(rec)
        if missing:
            errors.append(f"item {i}: missing fields {sorted(missing)}")
            continue
        for field, typ in REQUIRED_FIELDS.items():
            if not isinstance(rec[field], typ):
                errors.append(f"{rec.get('id', i)}: field {field!r} has type {type(rec[field]).__name__}")
        for field in ("id", "question", "answer", "doc"):
            if isinstance(rec[field], str) and not rec[field].strip():
                errors.append(f"{rec['id']}: field {field!r} is empty")
        if isinstance(rec["question_en"], str) and not rec["question_en"].strip():
            errors.append(f"{rec['id']}: question_en is an empty string (use null)")
        if isinstance(rec["must_include"], list):
            for m in rec["must_include"]:
                if not isinstance(m, str) or not m.strip():
                    errors.append(f"{rec['id']}: must_include entry {m!r} is not a non-empty string")
    assert not errors, "\n".join(errors)


def test_ids_unique(items):
    counts = Counter(r["id"] for r in items)
    dupes = [k for k, v in counts.items() if v > 1]
    assert not dupes, f"duplicate ids: {dupes}"


def test_types_allowed(items):
    bad = [(r["id"], r["type"]) for r in items if r["type"] not in ALLOWED_TYPES]
    assert not bad, f"types outside {sorted(ALLOWED_TYPES)}: {bad}"


def test_minimum_size(items):
    assert len(items) >= MIN_ITEMS, f"only {len(items)} items, need >= {MIN_ITEMS}"


def test_unanswerable_share(items):
    n_un = sum(1 for r in items if r["type"] == "unanswerable")
    assert n_un / len(items) >= MIN_UNANSWERABLE_SHARE, (
        f"{n_un}/{len(items)} unanswerable, need >= {MIN_UNANSWERABLE_SHARE:.0%}"
    )


def test_question_en_count(items):
    n_en = sum(1 for r in items if r["question_en"])
    assert n_en >= MIN_QUESTION_EN, f"only {n_en} items have question_en, need >= {MIN_QUESTION_EN}"


def test_docs_exist(items, corpus):
    bad = [(r["id"], r["doc"]) for r in items if r["doc"] not in corpus]
    assert not bad, f"doc not in corpus: {bad}"


def test_every_corpus_doc_covered(items, corpus):
    counts = Counter(r["doc"] for r in items)
    uncovered = [d for d in corpus if counts[d] == 0]
    assert not uncovered, f"corpus documents without any item: {uncovered}"
    thin = {d: counts[d] for d in corpus if counts[d] < MIN_ITEMS_PER_DOC}
    assert not thin, f"documents with fewer than {MIN_ITEMS_PER_DOC} items: {thin}"


def test_evidence_occurs_in_document(items, corpus):
    errors = []
    for r in _answerable(items):
        ev = r["evidence"]
        if not isinstance(ev, str):
            errors.append(f"{r['id']}: answerable item without evidence")
            continue
        if not EVIDENCE_MIN_LEN <= len(ev) <= EVIDENCE_MAX_LEN:
            errors.append(f"{r['id']}: evidence length {len(ev)} outside {EVIDENCE_MIN_LEN}-{EVIDENCE_MAX_LEN}")
        if FOOTNOTE_RE.search(ev):
            errors.append(f"{r['id']}: evidence contains a footnote marker")
        doc = corpus.get(r["doc"])
        if doc is not None and norm(ev) not in doc:
            errors.append(f"{r['id']}: evidence not found in {r['doc']}: {ev[:60]}")
    assert not errors, "\n".join(errors)


def test_must_include_in_evidence(items):
    errors = []
    for r in _answerable(items):
        ev = norm(r["evidence"] or "")
        for m in r["must_include"]:
            if norm(m) not in ev:
                errors.append(f"{r['id']}: must_include {m!r} not in evidence")
    assert not errors, "\n".join(errors)


def test_answerable_have_must_include(items):
    bad = [r["id"] for r in _answerable(items) if len(r["must_include"]) < 1]
    assert not bad, f"answerable items without must_include: {bad}"


def test_unanswerable_shape(items):
    errors = []
    for r in items:
        if r["type"] != "unanswerable":
            continue
        if r["must_include"]:
            errors.append(f"{r['id']}: unanswerable item has must_include {r['must_include']}")
        if r["evidence"] is not None:
            errors.append(f"{r['id']}: unanswerable item has evidence")
    assert not errors, "\n".join(errors)
