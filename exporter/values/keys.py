"""Canonical keys of logged values: one key for ``1``, ``1.0``, ``"1"`` and ``True`` wherever they are matched.

The lowest layer: it knows pandas and numpy arrays and nothing of the model. A value logged by a
JSON writer (``true``), a database without a boolean type (SQLite's ``1``), a CSV writer (``"True"``)
or a float column that held integers (``1.0``) means one thing; these helpers make it one key, so
the file and SQL sources give the same answers for categorical features, labels and segments.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType

import numpy as np
import pandas as pd

#: The canonical keys of the two boolean values.
TRUE_KEY, FALSE_KEY = "1", "0"


def canonical_class(value: object) -> str | None:
    """The text a class value is matched by; None when missing or blank.

    Booleans and the words true/false count as 1/0; numbers and numeric text as the number
    (1, 1.0, "1" and "1.0" agree); any other text is matched stripped and case-insensitively
    ("Yes" and "yes" agree).
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool | np.bool_):
        return TRUE_KEY if value else FALSE_KEY
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None
        if text in ("true", "false"):
            return TRUE_KEY if text == "true" else FALSE_KEY
        try:
            value = float(text)
        except ValueError:
            return text
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if number != number:
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value).strip().lower() or None


def canonical_classes(values: pd.Series) -> np.ndarray:
    """:func:`canonical_class` of every value (one Python call per distinct value, not per row)."""
    objects = values.astype(object)
    uniques = pd.unique(objects.to_numpy())
    mapping = {u: canonical_class(u) for u in uniques if u is not None and u == u}
    return objects.map(mapping).to_numpy(dtype=object)


def _is_number_or_boolean(key: str | None) -> bool:
    if key is None:
        return False
    if key in (TRUE_KEY, FALSE_KEY):
        return True
    try:
        float(key)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=4096)
def canonical_slots(spellings: tuple[str, ...]) -> Mapping[str, int] | None:
    """The slot of each reference value that is a number or a boolean, by its canonical key
    (:func:`canonical_class`); None when there is none.

    A value written by the reference's writer one way and by the log's another (Parquet's ``True``
    against SQLite's ``1``, an integer code ``1`` against a CSV's or a float column's ``1.0``) is then
    the same value, not a new category. Text that is neither stays matched as it is written: ``"US"`` and
    ``"us"`` remain two values. Keys that two reference values share (``"1"`` and ``"True"``) are left out.
    Cached per tuple of spellings, since every batch holding an unmatched value asks again; read-only.
    """
    keys = [canonical_class(s) for s in spellings]
    slots: dict[str, int] = {}
    shared: set[str] = set()
    for slot, key in enumerate(keys):
        if not _is_number_or_boolean(key):
            continue
        assert key is not None
        if key in slots:
            shared.add(key)
        slots[key] = slot
    for key in shared:
        del slots[key]
    return MappingProxyType(slots) if slots else None


def canonical_codes(values: pd.Series, slots: Mapping[str, int]) -> np.ndarray:
    """The slot of each value by its canonical key (``slots`` from :func:`canonical_slots`); -1 for a value
    whose key is not among them, and for missing ones."""
    keys = canonical_classes(values)
    codes = np.full(keys.size, -1, dtype=np.intp)
    for key, slot in slots.items():
        codes[keys == key] = slot
    return codes


#: Code of a binary label or prediction that is neither the positive nor the negative class.
UNKNOWN = -2


_TRUE = frozenset({"true", "yes"})


_FALSE = frozenset({"false", "no"})


def binary_codes(values: pd.Series, positive: str, negative: str | None) -> np.ndarray:
    """1 for the positive class, 0 for the negative one, -1 when missing, :data:`UNKNOWN` for any other value.

    Values are matched by :func:`canonical_class`. Without a known negative class
    (``negative`` None) every value that is not the positive class is negative.
    """
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        # Numbers compare as numbers, without a Python call per value.
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        positive_number, negative_number = _number(positive), _number(negative)
        codes = np.full(numbers.size, UNKNOWN if negative is not None else 0, dtype=np.int32)
        if negative_number is not None:
            codes[numbers == negative_number] = 0
        if positive_number is not None:
            codes[numbers == positive_number] = 1
        codes[np.isnan(numbers)] = -1
        return codes
    text = canonical_classes(values)
    codes = np.full(text.size, UNKNOWN if negative is not None else 0, dtype=np.int32)
    if negative is not None:
        codes[text == negative] = 0
    codes[text == positive] = 1
    codes[pd.isna(text)] = -1
    return codes


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None
