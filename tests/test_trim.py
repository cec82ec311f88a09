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


def test_an_answer_never_stops_at_the_colon_that_announces_it():
    """A clause ending in a colon (…是指：, …包括：) runs on to its sentence's end; any other clause
    ends where it ends, and the next sentence is never taken."""
    from rag.answer.trim import past_colon

    text = "全域实施“两个替代”工程是指：在县域范围内，全面推广“有机肥替代化肥”。该县还打造了20个品牌。"
    chunk = Chunk("c", "d", "t", (), 0, len(text), text)
    cand = Candidate(chunk, 0, len(text), 0, 2)
    intro = (0, text.index("："))
    assert text[intro[0] : past_colon(cand, intro)] == "全域实施“两个替代”工程是指：在县域范围内，全面推广“有机肥替代化肥”。"
    plain = (text.index("在县域"), text.index("，全面"))
    assert past_colon(cand, plain) == plain[1]


def test_the_packaged_weights_load_and_match_the_features():
    trimmer = ClauseTrimmer.load()
    assert len(trimmer.coef) == len(TRIM_FEATURES) and "default" in trimmer.margins


def test_the_narrowest_window_that_nearly_scores_as_well_is_the_answer():
    """Two sentences won, but one of them alone scores 0.8 of the pair: with a ratio of 0.8
    that sentence is the answer; with 0.9 the pair stays. Windows of other passages never count."""
    from types import SimpleNamespace

    from rag.answer.extractive import shortest_sufficient

    chunk, other = SimpleNamespace(chunk_id="a"), SimpleNamespace(chunk_id="b")
    cand = lambda c, s, e, n, score, ok=1.0: SimpleNamespace(chunk=c, start=s, end=e, sentences=n, score=score,  # noqa: E731
                                                             features={"type_ok": ok})
    pair, first, second = cand(chunk, 0, 40, 2, 0.50), cand(chunk, 0, 20, 1, 0.30), cand(chunk, 20, 40, 1, 0.40)
    elsewhere = cand(other, 0, 20, 1, 0.49)
    found = [pair, elsewhere, second, first]
    assert shortest_sufficient(pair, found, 0.8) is second
    assert shortest_sufficient(pair, found, 0.9) is pair
    assert shortest_sufficient(second, found, 0.5) is second  # one sentence is as narrow as it gets
    no_date = cand(chunk, 20, 40, 1, 0.45, ok=0.0)  # scores well, but lacks the date the pair holds
    assert shortest_sufficient(pair, [pair, no_date, first], 0.5) is first


def test_the_window_ratios_are_fitted_per_language():
    import json

    from rag.answer.extractive import WINDOW_RATIOS

    data = json.loads(WINDOW_RATIOS.read_text(encoding="utf-8"))
    assert set(data["ratio"]) == {"zh", "en"} and all(0 < r <= 1 for r in data["ratio"].values())
    assert data["meta"]["command"] == "python eval/fit_window.py"


def test_item_labels_and_document_numbers_are_no_figures():
    """A "how many" question is not answered by a list item's label ("(7) 处理工艺") or a
    document number; a figure in the item still counts."""
    from rag.answer.features import figure_count, has_figure, has_quantity

    for label in ("(7) 处理工艺", "1、开源", "（3）建设内容", "2. 节流", "某政办发〔2025〕30号 各市"):
        assert not has_figure(label) and not has_quantity(label), label
    assert figure_count("（2）建成12座水厂，投资3.5亿元") == 2
    assert has_figure("第1、2批共30家") and has_quantity("厚度3.5微米")
