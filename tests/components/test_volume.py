"""The volume component: rows and labelled rows of a window, and label coverage against its minimum."""

from __future__ import annotations

import numpy as np

from exporter.components.checks import LABEL_COVERAGE_MIN
from tests.cases import binary_reference


def test_rows_labelled_rows_and_coverage(binary, window) -> None:
    frame = binary_reference(400, seed=1)
    frame["label"] = frame["label"].astype(float)
    frame.loc[frame.index[::3], "label"] = np.nan  # a third of the rows not labelled yet
    out = window(binary.component("volume"), binary.batch(frame))
    labelled = int(frame["label"].notna().sum())
    assert out.values["rows"] == 400 and out.values["labelled_rows"] == labelled
    assert out.values["label_coverage"] == labelled / 400
    assert not [v for v in out.verdicts if v.check == "label_coverage"]


def test_coverage_below_its_minimum_fails(binary, window) -> None:
    frame = binary_reference(300, seed=2)
    frame["label"] = np.where(np.arange(300) < 100, frame["label"], np.nan)  # a third labelled
    out = window(binary.component("volume"), binary.batch(frame))
    [verdict] = [v for v in out.verdicts if v.check == "label_coverage"]
    assert verdict.failed and verdict.value == 100 / 300 and verdict.threshold == LABEL_COVERAGE_MIN
