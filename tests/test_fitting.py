"""The fit scripts' own arithmetic, on small synthetic data (the fits themselves run on the corpus)."""
from __future__ import annotations

import numpy as np

from eval.fit_scorer import fit_offset


def test_a_new_feature_weight_is_fitted_against_a_fixed_offset():
    """``fit_scorer.py --extend``: the offset (the fitted model's score) stays, the new weight is
    recovered from labels drawn with it, and a feature that says nothing gets about none."""
    rng = np.random.default_rng(0)
    n = 20000
    offset = rng.normal(0.0, 1.5, n)
    signal, noise = rng.normal(size=n), rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(offset + 0.8 * signal)))).astype(float)
    beta = fit_offset(np.column_stack([signal, noise]), y, np.ones(n), offset)
    assert abs(beta[0] - 0.8) < 0.1 and abs(beta[1]) < 0.1



def test_the_listwise_loss_ranks_within_a_question_where_pointwise_ranks_across():
    """``fit(..., ranking=...)``: feature 0 is mostly a question-level level (questions where it is
    high have more answering spans) plus noise that says nothing about which span answers;
    feature 1 tells a question's answering spans from its others. The pointwise fit gives the
    first a real weight, though within a question it only adds noise to the choice; with the
    listwise loss its weight relative to the second falls."""
    from eval.fit_scorer import fit

    rng = np.random.default_rng(1)
    rows, ys, groups = [], [], []
    for q in range(600):
        level = rng.normal()
        answering = 3 if level > 0 else 1
        for span in range(6):
            good = span < answering
            rows.append([level + rng.normal(0, 0.5), float(good) + rng.normal(0, 1.0)])
            ys.append(int(good))
            groups.append(q)
    X, y, g = np.array(rows), np.array(ys), np.array(groups)
    w = np.ones(len(y))
    _, _, point, _ = fit(X, y, w)
    _, _, ranked, _ = fit(X, y, w, g, ranking=3.0)
    assert point[0] > 0.3 * point[1]
    assert abs(ranked[0]) / ranked[1] < 0.5 * point[0] / point[1]
