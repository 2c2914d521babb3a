"""A Parquet reference read a column at a time gives the reference of the whole file read at once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from exporter.baseline.reference import build_reference, load_reference
from exporter.sources.tables import read_table
from tests.helpers import model_config


def _same(a: object, b: object) -> bool:
    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(_same(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))  # type: ignore[arg-type]
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    if hasattr(a, "contains"):  # KnownValues
        return _same(vars(a), vars(b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)  # type: ignore[union-attr]
    return a == b or (a != a and b != b)


def test_parquet_reference_by_columns_equals_the_whole_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    n = 5000
    frame = pd.DataFrame({
        "age": np.where(rng.random(n) < 0.1, np.nan, rng.normal(40, 10, n)),
        "visits": rng.integers(0, 7, n),
        "country": rng.choice(["US", "DE", "", None], n),
        "member": rng.random(n) < 0.3,
        "device": rng.choice(["mobile", "desktop"], n),
        "p_a": rng.random(n),
        "score": rng.random(n),
        "prediction": rng.integers(0, 2, n),
        "label": rng.integers(0, 2, n),
    }, index=pd.RangeIndex(100, 100 + n))  # an index Parquet keeps as a column of its own
    frame.to_parquet(tmp_path / "reference.parquet", index=True)
    config = model_config(tmp_path, reference=str(tmp_path / "reference.parquet"), segments=["device"],
                          drift={"method": "wasserstein"})
    reference, rest = load_reference(config)
    whole = build_reference(config, read_table(config.reference))
    assert reference.feature_names == whole.feature_names
    assert set(reference.feature_names) == {"age", "visits", "country", "member", "device", "p_a"}
    assert _same(reference, whole)
    # The other columns, and the feature columns with another role (segments), are still read.
    assert {"score", "prediction", "label", "device"} <= set(rest.columns)
    assert "age" not in rest.columns and len(rest) == n
