"""Model cases shared by tests: a binary, a multiclass and a regression model, each with a data maker
(``make(rng, n, shift)``) and its model configuration."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def binary_frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    score = 1 / (1 + np.exp(-rng.normal(shift, 1.5, n)))
    return pd.DataFrame({"age": rng.normal(40 + 5 * shift, 10, n).round(0), "income": rng.lognormal(10, 0.5, n),
                         "country": rng.choice([f"c{i}" for i in range(150)], n),
                         "device": rng.choice(["mobile", "desktop"], n), "score": score,
                         "prediction": (score >= 0.4).astype(int), "label": (rng.random(n) < score).astype(int)})


def multiclass_frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    truth = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    proba = rng.dirichlet([2, 2, 2], n)
    return pd.DataFrame({"x": rng.normal(shift, 1, n), "k": rng.integers(0, 9, n), "label": truth,
                         "prediction": np.where(rng.random(n) < 0.7, truth, "b"),
                         "p_a": proba[:, 0], "p_b": proba[:, 1], "p_c": proba[:, 2]})


def regression_frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    y = 1e6 + rng.normal(shift, 1, n)
    return pd.DataFrame({"x": rng.normal(shift, 1, n), "y": y, "pred": y + rng.normal(0, 0.5, n)})


CASES: dict[str, tuple[Any, dict[str, Any]]] = {
    "binary": (binary_frame, {"task": "binary_classification", "prediction_column": "prediction",
                         "score_column": "score", "label_column": "label", "segments": ["device"],
                         "max_categories": 50, "drift": {"method": "wasserstein"}}),
    "multiclass": (multiclass_frame, {"task": "multiclass_classification", "prediction_column": "prediction",
                                 "label_column": "label", "class_score_columns": {"a": "p_a", "b": "p_b", "c": "p_c"},
                                 "drift": {"method": "ks"}}),
    "regression": (regression_frame, {"task": "regression", "prediction_column": "pred", "label_column": "y",
                                 "drift": {"method": "psi"}}),
}


def binary_reference(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    return pd.DataFrame({
        "age": rng.integers(18, 80, n).astype(float),  # discrete: KS on its bins is exact
        "income": rng.lognormal(10, 0.5, n),
        "country": rng.choice(["US", "DE", "FR"], n, p=[0.5, 0.3, 0.2]),
        "score": score,
        "prediction": (score >= 0.5).astype(int),
        "label": (rng.random(n) < score).astype(int),
    })


def regression_reference(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    y = 3 * x + rng.normal(0, 0.5, n)
    return pd.DataFrame({"x": x, "pred": 3 * x, "y": y})
