"""Text columns held by Arrow are counted and coded in Arrow, with the results of the Python path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exporter.reference import arrow_text, build_categorical
from exporter.rows import feature_codes

VALUES = [f"c{i}" for i in range(120)] + ["", " ", "\t", None, "Ünïcode", "c1 "]


@pytest.mark.parametrize("max_categories", [5, 50, 500])
def test_reference_and_codes_of_arrow_text_equal_those_of_python_text(max_categories: int) -> None:
    rng = np.random.default_rng(max_categories)
    reference = rng.choice(np.array(VALUES[:100] + VALUES[120:], dtype=object), 30_000)
    current = rng.choice(np.array(VALUES, dtype=object), 20_000)  # 20 values the reference never had
    arrow = pd.Series(reference, dtype="str")
    python = pd.Series(reference, dtype=object)
    assert arrow_text(arrow) is not None and arrow_text(python) is None
    a = build_categorical("c", arrow, "js", 0.1, max_categories)
    b = build_categorical("c", python, "js", 0.1, max_categories)
    assert a.categories == b.categories  # ties at the cut broken by the value, in both
    np.testing.assert_array_equal(a.reference_counts, b.reference_counts)
    assert (a.missing_ratio, a.unseen_rate, a.usable) == (b.missing_ratio, b.unseen_rate, b.usable)
    assert a.missing_ratio == pytest.approx(np.isin(reference, ["", " ", "\t", None]).mean())
    codes = feature_codes(pd.Series(current, dtype="str"), a)
    np.testing.assert_array_equal(codes, feature_codes(pd.Series(current, dtype=object), b))
    assert (codes == a.unseen_slot).sum() == np.isin(current, VALUES[100:120]).sum()
    assert (codes == -1).sum() == np.isin(current, ["", " ", "\t", None]).sum()


def test_a_column_of_blanks_is_missing_in_arrow_too() -> None:
    feature = build_categorical("c", pd.Series(["", " ", None], dtype="str"), "js", 0.1, 10)
    assert not feature.usable and feature.missing_ratio == 1.0
