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
