"""Text columns held by Arrow are counted and coded in Arrow, with the results of the Python path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from exporter.baseline.features import build_categorical, feature_codes
from exporter.values.text import arrow_text

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


@pytest.mark.parametrize("kind", ["str", "bytes", "missing"])
def test_a_categorical_column_is_coded_value_by_value_as_its_text(kind: str) -> None:
    """A pandas Categorical column (how a Parquet log's text features are read) gets, row by row, the codes
    of its values as plain text: tracked, other, new, blank and missing alike."""
    rng = np.random.default_rng(1)
    feature = build_categorical("c", pd.Series(rng.choice(np.array(VALUES[:100] + VALUES[120:], dtype=object),
                                                          30_000)), "js", 0.1, 20)
    current = rng.choice(np.array(VALUES, dtype=object), 5_000)
    if kind == "bytes":
        current = np.array([None if v is None else v.encode() for v in current], dtype=object)
    elif kind == "missing":
        current = np.array([None] * 100, dtype=object)
    categorical = pd.Series(pd.Categorical(current, categories=None if kind != "missing" else ["c1", "never"]))
    assert isinstance(categorical.dtype, pd.CategoricalDtype)
    codes = feature_codes(categorical, feature)
    np.testing.assert_array_equal(codes, feature_codes(pd.Series(current, dtype=object), feature))
    assert kind != "missing" or (codes == -1).all()


def test_batches_of_categorical_columns_are_coded_by_their_own_dictionary() -> None:
    """The slots of the last dictionary are kept for the next batch: batches with the same dictionary, one
    in another order, a subset, new values, and dictionaries of equal but differently typed values (1, 1.0,
    True: their texts differ) are each coded as their text is; one dictionary is kept at a time."""
    feature = build_categorical("c", pd.Series(["1"] * 90 + ["True"] * 80 + ["a"] * 70 + ["b"] * 60 + ["c"] * 50,
                                               dtype=object), "js", 0.1, 4)
    assert feature.categories == ("1", "True", "a", "b")
    batches = [["a", "b", "c"], ["a", "b", "c"], ["c", "a", "b"], ["b"], ["a", "new", None], ["a", "b", "c"],
               [1, 0], [True, False], [1.0, 0.0], [1, 0]]
    rng = np.random.default_rng(2)
    for values in batches:
        current = rng.choice(np.array(values, dtype=object), 200)
        categorical = pd.Series(pd.Categorical(current, categories=[v for v in values if v is not None]))
        np.testing.assert_array_equal(feature_codes(categorical, feature),
                                      feature_codes(pd.Series(current, dtype=object), feature), err_msg=str(values))
        assert len(feature.dictionary_slots) <= 1


@pytest.mark.parametrize("whole_column_rows", [0, 1 << 20])
def test_a_parquet_logs_text_features_are_read_as_dictionaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               whole_column_rows: int) -> None:
    """Streamed in batches, or read a column at a time: the columns named (text only) come as Categorical
    columns of the same values, the others as before, and the codes of every row are those of its text."""
    from exporter.sources import parquet
    from exporter.sources.files import FileSource

    monkeypatch.setattr(parquet, "PARQUET_BATCH_ROWS", 3_000)
    monkeypatch.setattr(parquet, "PARQUET_WHOLE_COLUMN_ROWS", whole_column_rows)
    rng = np.random.default_rng(2)
    feature = build_categorical("c", pd.Series(rng.choice(np.array(VALUES[:100], dtype=object), 30_000)),
                                "js", 0.1, 50)
    current = rng.choice(np.array(VALUES, dtype=object), 10_000)
    numbers = rng.integers(0, 5, 10_000)
    pd.DataFrame({"c": current, "n": numbers, "other": current}).to_parquet(tmp_path / "log.parquet",
                                                                            row_group_size=4_000)
    source = FileSource(str(tmp_path / "*.parquet"), dictionary_columns=frozenset({"c", "n", "absent"}))
    frames: list[pd.DataFrame] = []
    source.drain(lambda chunk: frames.append(chunk.frame), None)
    assert len(frames) > 1
    assert all(isinstance(f["c"].dtype, pd.CategoricalDtype) for f in frames)
    assert not any(isinstance(f[name].dtype, pd.CategoricalDtype) for f in frames for name in ("n", "other"))
    read = pd.concat(frames, ignore_index=True)
    assert read["c"].astype(object).where(read["c"].notna(), None).tolist() == current.tolist()
    assert read["n"].tolist() == numbers.tolist()
    codes = np.concatenate([feature_codes(f["c"], feature) for f in frames])
    np.testing.assert_array_equal(codes, feature_codes(pd.Series(current, dtype="str"), feature))


def test_prepared_frames_name_their_columns_with_python_strings() -> None:
    """A frame made from Arrow names its columns with Arrow-backed text (pandas 3), whose every lookup by name
    makes an Arrow scalar; prepared frames have plain names (the same data, not copied), whatever they came with."""
    from exporter.sources.tables import normalized

    table = pa.table({"a": [1.0, 2.0], "b": ["x", None]})
    for frame in (table.to_pandas(split_blocks=True), pd.DataFrame({0: [1.0, 2.0], "b": ["x", None]}, index=[5, 6])):
        out = normalized(frame)
        assert out.columns.dtype == object and all(type(c) is str for c in out.columns)
        assert list(out.columns) == [str(c) for c in frame.columns] and list(out.index) == [0, 1]
        assert np.shares_memory(out.iloc[:, 0].to_numpy(), frame.iloc[:, 0].to_numpy())
        assert normalized(out) is out  # already plain: nothing to do
