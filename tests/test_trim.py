"""The clause trimmer: run selection logic with tiny inputs, and the fitted file matches the code."""
from __future__ import annotations

from rag.answer.trim import TRIM_FEATURES, ClauseTrimmer, best_run, clause_features
from rag.answer.features import Candidate
from rag.query import analyze
from rag.types import Chunk


def test_the_run_keeps_the_likely_clauses_together():
    assert best_run([0.01, 0.9, 0.6, 0.02], margin=0.1) == (1, 2)


def test_everything_unlikely_gives_the_single_best_clause():
    assert best_run([0.01, 0.04, 0.02], margin=0.1) == (1, 1)


def test_a_one_figure_question_stops_before_the_rest_of_a_list_of_targets():
    probs = [0.9, 0.5, 0.5, 0.5]
    assert best_run(probs, 0.05) == (0, 3)
    assert best_run(probs, 0.05, figures=[True] * 4, max_figures=2) == (0, 1)


def test_a_run_must_say_more_than_the_question():
    """"到2027年" alone (the question's own words) is never the answer."""
    assert best_run([0.9, 0.05], 0.5) == (0, 0)
    assert best_run([0.9, 0.05], 0.5, informative=[False, True]) == (0, 1)
    assert best_run([0.05, 0.9, 0.05], 0.5, informative=[True, False, False]) == (0, 1)


def test_clause_signals_follow_the_question():
    text = "2025年，森林覆盖率达到12%，湿地保护率超过52.73%，水土保持率达到61.34%。"
    chunk = Chunk("c", "d", "t", (), 0, len(text), text)
    query = analyze("2025年湿地保护率要达到多少？")
    cand = Candidate(chunk, 0, len(text), 0, 1, in_sentence=["湿地", "保护率", "达到"])
    clauses, rows = clause_features(query, cand, rarity=lambda t: 0.1 if t == "达到" else 0.9)
    by_text = {text[s:e]: r for (s, e), r in zip(clauses, rows)}
    wetland, forest = by_text["湿地保护率超过52.73%"], by_text["森林覆盖率达到12%"]
    assert wetland["spec_share"] > forest["spec_share"] and wetland["quantity"] == 1.0
    assert forest["foreign"] > wetland["foreign"] and rows[0]["quantity"] == 0.0


def test_the_packaged_weights_load_and_match_the_features():
    trimmer = ClauseTrimmer.load()
    assert len(trimmer.coef) == len(TRIM_FEATURES) and "default" in trimmer.margins
