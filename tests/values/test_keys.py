"""Canonical keys of logged values: a boolean is one value however a writer spelled it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exporter.baseline.classes import ClassRegistry
from exporter.baseline.features import build_categorical, feature_codes
from exporter.values.keys import canonical_class, canonical_codes, canonical_slots
from exporter.values.text import category_codes, category_strings


@pytest.mark.parametrize("spellings, expected", [
    (("True", "False"), {"1": 0, "0": 1}),
    (("0", "1"), {"0": 0, "1": 1}),
    (("true",), {"1": 0}),
    (("FALSE", "1"), {"0": 0, "1": 1}),
    (("1", "2", "4.5"), {"1": 0, "2": 1, "4.5": 2}),     # integer codes, and a number
    (("yes", "no"), None),                                 # text stays text
    (("US", "1"), {"1": 1}),
    (("1", "True", "0"), {"0": 2}),                        # "1" and "True" share a key: neither is matched by it
    ((), None),
])
def test_canonical_slots_key_numbers_and_booleans_however_spelled(spellings, expected) -> None:
    assert canonical_slots(spellings) == expected


def test_canonical_codes_match_every_spelling_and_nothing_else() -> None:
    values = pd.Series([True, 1, 1.0, "true", " TRUE ", np.True_, "1.0", False, 0, 0.0, "false", "0", None, 2,
                        "maybe", float("nan")], dtype=object)
    codes = canonical_codes(values, {"1": 0, "0": 1})
    assert codes.tolist() == [0] * 7 + [1] * 5 + [-1] * 4


@pytest.mark.parametrize("logged", [
    pd.Series([1, 0, 1, None], dtype="Int64"),                      # SQLite's booleans
    pd.Series([1.0, 0.0, 1.0, np.nan]),                             # ... in a column with NULLs
    pd.Series(["True", "False", "True", None], dtype=object),       # CSV text
    pd.Series([True, False, True, None], dtype=object),             # JSON
    pd.Series([True, False, True, None], dtype="boolean"),          # PostgreSQL
])
def test_a_boolean_feature_codes_the_same_from_every_writer(logged: pd.Series) -> None:
    reference = pd.Series(np.array([True, False, True, True, False]))  # a Parquet reference's booleans
    feature = build_categorical("member", reference, "js", 0.1, 100)
    assert set(feature.categories) == set(category_strings(pd.Series([True, False])))
    codes = feature_codes(logged, feature)
    true_slot, false_slot = feature.categories.index("True"), feature.categories.index("False")
    assert codes.tolist() == [true_slot, false_slot, true_slot, -1]


def test_a_reference_of_zeros_and_ones_knows_logged_booleans_and_text() -> None:
    feature = build_categorical("flag", pd.Series([0, 1, 1, 0, 1]), "js", 0.1, 100)
    assert feature_codes(pd.Series([True, "false", 1.0, "2"], dtype=object), feature).tolist() == [
        feature.categories.index("1"), feature.categories.index("0"), feature.categories.index("1"),
        feature.unseen_slot]


def test_integer_codes_logged_as_float_text_are_the_reference_codes() -> None:
    feature = build_categorical("plan", pd.Series([1, 2, 3, 1, 2, 4]), "js", 0.1, 100)
    logged = pd.Series(["1.0", "4.0", "2", None, "5.0", ""], dtype=object)   # a CSV log's text
    slot = feature.categories.index
    assert feature_codes(logged, feature).tolist() == [slot("1"), slot("4"), slot("2"), -1, feature.unseen_slot, -1]
    arrow = logged.astype("string[pyarrow]")                                  # ... read as Arrow text
    assert feature_codes(arrow, feature).tolist() == [slot("1"), slot("4"), slot("2"), -1, feature.unseen_slot, -1]


def test_segments_and_classes_key_booleans_alike() -> None:
    assert category_codes(pd.Series([1, 0, 2]), ("True", "False")).tolist() == [0, 1, 2]
    registry = ClassRegistry(("False", "True"))
    assert registry.codes(pd.Series([1, 0.0, "true"], dtype=object)).tolist() == [1, 0, 1]
    assert registry.names == ["False", "True"]  # no new class for a boolean spelled otherwise


def test_text_categories_are_not_taken_for_booleans() -> None:
    assert category_codes(pd.Series(["1", "0"]), ("yes", "no")).tolist() == [2, 2]
    assert canonical_class(" Yes ") == "yes"
