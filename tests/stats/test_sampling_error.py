"""Sampling errors equal NannyML's own (``nannyml.sampling_error``), recorded on the same rows by
``benchmarks/sampling_error_nannyml.py`` (NannyML 0.13.1) in tests/data/nannyml_sampling_error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from exporter.stats import sampling_error

DATA = Path(__file__).resolve().parents[1] / "data" / "nannyml_sampling_error"
RECORDED = json.loads((DATA / "nannyml_sampling_error.json").read_text())


def _ours(task: str) -> dict[str, sampling_error.SamplingError]:
    frame = pd.read_parquet(DATA / f"reference-{task}.parquet")
    if task == "regression":
        return sampling_error.regression(frame["label"].to_numpy(), frame["prediction"].to_numpy())
    label, predicted = frame["label"].to_numpy(), frame["prediction"].to_numpy()
    k = 2 if task == "binary" else 3
    confusion = np.bincount(label * k + predicted, minlength=k * k).reshape(k, k)
    if task == "binary":
        out = sampling_error.binary(confusion)
        score = frame["score"].to_numpy()
        out["roc_auc"] = sampling_error.binary_auc(label, score)
        ap = sampling_error.bootstrap(lambda rows: float(average_precision_score(label[rows], score[rows])), label.size)
        assert ap is not None
        out["average_precision"] = ap
        return out
    out = sampling_error.multiclass(confusion)
    out["roc_auc"] = sampling_error.multiclass_auc(label, frame[["p0", "p1", "p2"]].to_numpy())
    return out


@pytest.mark.parametrize(("task", "metric"), [(task, metric) for task, metrics in RECORDED["errors"].items()
                                              for metric in metrics])
def test_sampling_errors_equal_nannyml_s(task: str, metric: str) -> None:
    ours = _ours(task)[metric]
    for n, theirs in RECORDED["errors"][task][metric].items():
        value = ours.at(int(n))
        assert value is not None
        if metric == "average_precision":
            # A bootstrap of 50 samples (NannyML's unseeded, ours seeded): the standard deviation's own relative
            # error is about 1 / sqrt(2 * 49) = 10%; two independent ones differ by under 3 of those.
            assert value == pytest.approx(theirs, rel=0.3)
        else:
            assert value == pytest.approx(theirs, rel=1e-9), (n, value, theirs)


def test_an_error_shrinks_as_one_over_the_root_of_the_rows() -> None:
    error = _ours("binary")["accuracy"]
    assert error.at(400) == pytest.approx(2 * error.at(1600), rel=1e-12)
    assert error.at(0) is None


def test_a_metric_that_reads_no_reference_row_has_no_error() -> None:
    confusion = np.array([[50, 0], [10, 0]])  # nothing predicted positive: precision reads no row
    errors = sampling_error.binary(confusion)
    assert errors["precision"].at(100) is None and errors["accuracy"].at(100) is not None
