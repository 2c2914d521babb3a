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
