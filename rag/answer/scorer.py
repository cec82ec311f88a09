"""The span scorer: a logistic model over ``features.FEATURES`` whose weights are fitted on
data (``eval/fit_scorer.py``), never set by hand.

``weights.json`` holds the feature names, their standardisation, the coefficients and the
refusal threshold on the calibrated probability of the best span, with what they were
fitted on. A missing or mismatched file is an error that says how to re-fit.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .features import FEATURES, Candidate

WEIGHTS = Path(__file__).resolve().parent / "weights.json"


class ScorerError(RuntimeError):
    """The fitted weights cannot be used; the message says how to fix it."""


def read_fitted(path: Path | str, what: str, script: str) -> dict:
    """The JSON a fit script wrote; a missing or broken file is a ScorerError naming the script."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ScorerError(f"cannot read the {what} {path} ({exc}); re-fit them with `python {script}`") from exc


@dataclass
class SpanScorer:
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    thresholds: dict[str, float]  # per language: refuse when the best span's probability is below it
    meta: dict

    def threshold_for(self, lang: str) -> float:
        return self.thresholds.get(lang, self.thresholds.get("zh", 0.5))

    @classmethod
    def load(cls, path: Path | str = WEIGHTS) -> "SpanScorer":
        data = read_fitted(path, "scorer weights", "eval/fit_scorer.py")
        names = tuple(data["features"])
        if set(names) != set(FEATURES):
            raise ScorerError(f"{path} was fitted on other features ({sorted(set(names) ^ set(FEATURES))}); "
                              "re-fit with `python eval/fit_scorer.py`")
        return cls(names, np.array(data["mean"]), np.array(data["scale"]), np.array(data["coef"]),
                   float(data["intercept"]), {k: float(v) for k, v in data["thresholds"].items()}, data.get("meta", {}))

    def matrix(self, cands: list[Candidate]) -> np.ndarray:
        return np.array([[c.features[n] for n in self.features] for c in cands], dtype=np.float64)

    def score(self, cands: list[Candidate]) -> None:
        """Set each candidate's score to its probability of answering the question."""
        if not cands:
            return
        z = ((self.matrix(cands) - self.mean) / self.scale) @ self.coef + self.intercept
        for c, zi in zip(cands, z):
            c.score = 1.0 / (1.0 + math.exp(-float(zi)))
