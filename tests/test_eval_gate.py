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

# Measured with `rag eval --config hybrid` on 2026-11-22 (fifth round, test split of 238 items):
# extractive answers, k=5, chunk 320, span scorer fitted with a listwise loss (eval/fit_scorer.py),
# clause trimmer (eval/fit_trim.py), window narrowing (eval/fit_window.py), sentence re-ranking, the
# measure, rate, place (Chinese and English), kin, code, kind and speaker checks.
#   user-test zh (238 items): accuracy 74.0 %, concise 71.9 %, hit@5 99.0 %, false refusals 5.6 %, correct refusals 76.2 %
#   user-test en (238 items): accuracy 55.1 %, concise 51.5 %, hit@5 90.3 %, false refusals 4.6 %, correct refusals 64.3 %
#   regression zh (186 items): accuracy 88.0 %, concise 85.5 %, hit@5 99.4 %, correct refusals 65 % (13 of 20);
#   en (112): accuracy 68.7 %, hit@5 85.9 %, correct refusals 84.6 %
# Refusal floors are lower than the answer floors: refusal is where the answer stage is weakest (see README).
FLOORS = {
    ("user-test", "zh"): {"accuracy": 0.71, "concise_accuracy": 0.68, "hit@5": 0.95, "correct_refusal": 0.71},
    ("user-test", "en"): {"accuracy": 0.52, "concise_accuracy": 0.48, "hit@5": 0.87},
    ("regression", "zh"): {"accuracy": 0.85, "concise_accuracy": 0.82, "hit@5": 0.95, "correct_refusal": 0.60},
    ("regression", "en"): {"accuracy": 0.65, "hit@5": 0.82, "correct_refusal": 0.75},
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
