"""Values a model declares missing (``missing_values``): the same tokens matched the same way in every format.

By default a value is missing only when it is null, NaN, an empty CSV cell or blank text: ``NA`` is a
category (Namibia) in CSV, JSON Lines, Parquet and SQL alike. A model may list tokens that mean "missing" in
its logs (``missing_values: [NA, n/a, -999]``), for every feature or per feature. A token matches

- text equal to it, as logged (``NA`` is not ``na``);
- and, where the token is a number (``-999``, or the text ``"-999"``), any value equal to that number: the
  number ``-999`` of a Parquet or SQL column, the ``-999.0`` of a float column, the text ``"-999"`` of a CSV
  cell or a JSON string.

So the same rows give the same missing counts, bins and drift whatever format carries them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd


def _number(token: str | float) -> float | None:
    if isinstance(token, float | int):
        return float(token)
    try:
        value = float(token)
    except ValueError:
        return None
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class MissingTokens:
    """A set of tokens that count as missing (:func:`tokens`)."""

    #: Every token as text (a number as its shortest form: ``-999`` for -999.0).
    text: frozenset[str]
    #: The tokens that are numbers.
    numbers: frozenset[float]

    def __bool__(self) -> bool:
        return bool(self.text)

    def mask(self, series: pd.Series) -> np.ndarray:
        """Where ``series`` holds one of the tokens."""
        if not self.text or not len(series):
            return np.zeros(len(series), dtype=bool)
        if pd.api.types.is_bool_dtype(series.dtype):
            return np.zeros(len(series), dtype=bool)
        if pd.api.types.is_numeric_dtype(series.dtype):
            if not self.numbers:
                return np.zeros(len(series), dtype=bool)
            return series.isin(list(self.numbers)).to_numpy(dtype=bool, na_value=False)
        found = series.isin(list(self.text)).to_numpy(dtype=bool, na_value=False).copy()
        if self.numbers:
            if pd.api.types.infer_dtype(series, skipna=True) != "string":
                # Mixed values (JSON Lines): numbers and text as numbers, booleans never.
                series = series.astype(object).map(lambda v: None if isinstance(v, bool | np.bool_) else v)
            as_numbers = pd.to_numeric(series, errors="coerce")
            found |= as_numbers.isin(list(self.numbers)).to_numpy(dtype=bool, na_value=False)
        return found

    def apply(self, series: pd.Series) -> pd.Series:
        """``series`` with the tokens as missing values (unchanged when it holds none)."""
        found = self.mask(series)
        if not found.any():
            return series
        if pd.api.types.is_numeric_dtype(series.dtype):
            return series.astype(np.float64).mask(found)
        return series.astype(object).mask(found)


NO_TOKENS = MissingTokens(frozenset(), frozenset())


def tokens(values: Iterable[str | float]) -> MissingTokens:
    """The :class:`MissingTokens` of configured ``values``."""
    text, numbers = set(), set()
    for value in values:
        number = _number(value)
        if number is not None:
            numbers.add(number)
            text.add(str(int(number)) if number.is_integer() and isinstance(value, float | int) else str(value))
        else:
            text.add(str(value))
    return MissingTokens(frozenset(text), frozenset(numbers)) if text else NO_TOKENS
