"""Segments: drift and performance per value of a column, with a cap on distinct values.

For each configured segment column the values kept are the most frequent ones
in the reference (at most ``max_segment_values``), fixed at start, so the set
of series is known in advance and cannot explode whatever the data holds.
Every other value, and a missing value, falls into ``__other__``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from exporter.config import ConfigError, ModelConfig
from exporter.values.text import category_codes, category_strings

OTHER = "__other__"
#: Label values from data are limited to this length and to printable characters.
MAX_LABEL_LENGTH = 100
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def sanitize_label(value: str) -> str:
    """A label value safe to expose: printable ASCII (others become ``_``), at most 100 characters."""
    return _UNPRINTABLE.sub("_", value)[:MAX_LABEL_LENGTH]


def segment_values(model: ModelConfig, frame: pd.DataFrame, where: str = "config") -> dict[str, tuple[str, ...]]:
    """Kept values of every segment column, the most frequent in the reference first."""
    out: dict[str, tuple[str, ...]] = {}
    for column in model.segments:
        if column not in frame.columns:
            raise ConfigError(f"{where}: models[{model.name}].segments: column {column!r} is not in the reference "
                              f"{model.reference}")
        counts = category_strings(frame[column]).dropna().value_counts()
        kept = [str(v) for v in counts.index[: model.max_segment_values]]
        out[column] = tuple(kept)
    return out


def segment_key(column: str, value: str) -> str:
    """The ``segment`` label value of one segment: ``column=value``, the value sanitised."""
    return f"{column}={sanitize_label(value)}"


def segment_keys(values: dict[str, tuple[str, ...]]) -> list[str]:
    """The ``segment`` label values: "" for the whole model, then one per kept value and ``__other__``."""
    keys = [""]
    for column, kept in values.items():
        keys.extend(segment_key(column, v) for v in (*kept, OTHER))
    return keys


def segment_codes(values: dict[str, tuple[str, ...]], frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per segment column, the index of each row's value in its kept values (``len(kept)``: other)."""
    out = {}
    for column, kept in values.items():
        if column in frame.columns:
            codes = category_codes(frame[column], kept)
            codes[codes < 0] = len(kept)
        else:
            codes = np.full(len(frame), len(kept), dtype=np.intp)
        out[column] = codes.astype(np.int64)
    return out
