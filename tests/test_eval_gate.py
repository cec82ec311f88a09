"""CI gate: the default configuration must not regress, first on the user-phrased test split.

Runs the user-phrased test split (eval/user_questions.jsonl, split "test": questions written
in users' own words and never tuned on) and the regression set (eval/dataset.jsonl) through
RagService.ask with the session's index, exactly as `rag eval --config hybrid` does, and fails
when a headline rate drops below its floor. The floors sit a few points under the measured
figures so that run-to-run noise passes and a real regression does not. When a change improves
the figures, raise the floors with it (and update the comment).
"""
from __future__ import annotations

import json
from collections import Counter

import pytest

from eval.harness import ServiceRunner, evaluate, load_set
from eval.metrics import failure_kind, summarize

# Measured with `rag eval --config hybrid` on 2026-11-22 (second round): extractive answers, k=5,
# chunk 320, span scorer (eval/fit_scorer.py), clause trimmer (eval/fit_trim.py), window narrowing
# (eval/fit_window.py), sentence re-ranking, the measure, rate, place, kin and grade-code checks.
#   user-test zh (174 items): accuracy 74.5 %, concise 71.6 %, hit@5 99.3 %, false refusals 2.8 %, correct refusals 60.6 %
#   user-test en (174 items): accuracy 51.1 %, concise 48.2 %, hit@5 91.5 %, false refusals 9.2 %, correct refusals 39.4 %
#   regression zh (186 items): accuracy 86.1 %, concise 84.3 %, hit@5 99.4 %, correct refusals 65 %;
#   en (112): accuracy 66.7 %, hit@5 85.9 %, correct refusals 61.5 %
# Refusal floors are lower than the answer floors: refusal is where the answer stage is weakest (see README).
FLOORS = {
    ("user-test", "zh"): {"accuracy": 0.72, "concise_accuracy": 0.68, "hit@5": 0.95, "correct_refusal": 0.55},
    ("user-test", "en"): {"accuracy": 0.48, "concise_accuracy": 0.45, "hit@5": 0.88},
    ("regression", "zh"): {"accuracy": 0.83, "concise_accuracy": 0.80, "hit@5": 0.95, "correct_refusal": 0.60},
    ("regression", "en"): {"accuracy": 0.62, "hit@5": 0.82, "correct_refusal": 0.56},
}
CEILINGS = {("user-test", "zh"): {"false_refusal": 0.06}}


@pytest.fixture(scope="module")
def rows(service):
    runner = ServiceRunner(service, "hybrid")
    sets = {name: load_set(name) for name in {s for s, _ in FLOORS}}
    return {(s, lang): evaluate(runner, sets[s], lang) for s, lang in FLOORS}


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(FLOORS), ids=lambda k: "-".join(k))
def test_default_configuration_meets_the_floors(rows, key, artifacts_dir):
    got = summarize(rows[key])
    name = "-".join(key)
    # keep the per-question rows: the first thing to read when the gate fails
    with open(artifacts_dir / f"eval-gate-{name}.jsonl", "w", encoding="utf-8") as f:
        for r in rows[key]:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    (artifacts_dir / f"eval-gate-{name}-summary.json").write_text(json.dumps(got, indent=2), encoding="utf-8")
    short = {k: (round(got[k], 3), floor) for k, floor in FLOORS[key].items() if got[k] is None or got[k] < floor}
    short.update({k: (round(got[k], 3), ceiling) for k, ceiling in CEILINGS.get(key, {}).items() if got[k] > ceiling})
    kinds = Counter(failure_kind(r["why_failed"]) for r in rows[key] if r["why_failed"])
    assert not short, (
        f"{name}: past the floor/ceiling (got, limit): {short}; failure kinds: {dict(kinds)}; "
        f"per-question rows in {artifacts_dir / f'eval-gate-{name}.jsonl'} (run `rag eval --config hybrid` for the full report)"
    )
