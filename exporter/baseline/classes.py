"""The classes of a multiclass model: the reference's, and those that appear only in production.

Performance must use the actual class values: predicting one unseen class when the truth is
another is wrong, not a match of two "unseen" slots. The registry gives every class the reference
saw a slot (at most ``MAX_CLASSES``), and each class first seen in production one of
:data:`NEW_CLASS_SLOTS` further slots, in order of arrival, kept in the saved state. Beyond them a
class goes to the overflow slot: such labels and predictions are counted
(``untracked_class``) and their rows are left out of realized performance, since two different
classes share that slot.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from exporter.values.keys import canonical_codes, canonical_slots
from exporter.values.text import category_strings
from exporter.values.vocabulary import RejectReason

#: Slots for classes the reference never had.
NEW_CLASS_SLOTS = 20


class ClassRegistry:
    def __init__(self, reference_classes: tuple[str, ...], new_slots: int = NEW_CLASS_SLOTS):
        self.reference_classes = reference_classes
        self.new_slots = new_slots
        self.names: list[str] = list(reference_classes)
        self._index = pd.Index(self.names, dtype=object)

    @property
    def slots(self) -> int:
        """Slots of the layout: every tracked class, then the overflow slot."""
        return len(self.reference_classes) + self.new_slots + 1

    @property
    def overflow(self) -> int:
        return self.slots - 1

    def codes(self, values: pd.Series, counted: Counter[str] | None = None) -> np.ndarray:
        """The slot of each value (-1 when missing); new classes get a slot while there are free ones."""
        text = category_strings(values)
        present = text.notna().to_numpy()
        codes = self._index.get_indexer(text.astype(object)).astype(np.int32)
        unmatched = present & (codes < 0)
        slots = canonical_slots(self.reference_classes) if unmatched.any() else None
        if slots is not None:  # 1, 1.0, "1.0", True and "true" are one class (SQLite's and CSV's)
            codes[unmatched] = canonical_codes(values[unmatched], slots)
            unmatched = present & (codes < 0)
        if unmatched.any():
            for name in pd.unique(text[unmatched].to_numpy(dtype=object)):
                if len(self.names) < self.overflow:
                    self.names.append(str(name))
            self._index = pd.Index(self.names, dtype=object)
            codes[unmatched] = self._index.get_indexer(text[unmatched].astype(object))
            beyond = unmatched & (codes < 0)
            codes[beyond] = self.overflow
            if counted is not None and beyond.any():
                counted[RejectReason.UNTRACKED_CLASS] += int(beyond.sum())
        codes[~present] = -1
        return codes

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"names": self.names}, {}

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        names = [str(n) for n in meta["names"]]
        if names[: len(self.reference_classes)] != list(self.reference_classes) or len(names) > self.overflow:
            raise ValueError("saved classes do not extend the reference's classes")
        self.names = names
        self._index = pd.Index(self.names, dtype=object)


def migrate_class_axes(old: np.ndarray, reference_classes: int, slots: int, square: bool) -> np.ndarray:
    """Release 1's class axes (the reference's classes, then one slot for every other class) in today's
    layout: the reference's classes keep their slots, and release 1's shared slot becomes the overflow.

    ``old`` has ring slots first, then one class axis (class counts) or two (``square``: confusion).
    """
    old_index = np.arange(reference_classes + 1)
    new_index = np.append(np.arange(reference_classes), slots - 1)
    if square:
        new = np.zeros((old.shape[0], slots, slots), dtype=old.dtype)
        new[:, new_index[:, None], new_index[None, :]] = old[:, old_index[:, None], old_index[None, :]]
    else:
        new = np.zeros((old.shape[0], slots), dtype=old.dtype)
        new[:, new_index] = old[:, old_index]
    return new
