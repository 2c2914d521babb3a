"""Drift methods, one module each, and their registry (:mod:`exporter.stats.methods.base`).

Every module of this package but ``base`` defines and registers its methods when imported; this
package imports them all, so ``get(name)`` and ``all_methods()`` see every method without a list
kept by hand. Adding a method is adding its module (and its line in the docs).
"""

from __future__ import annotations

import importlib
import pkgutil

from exporter.stats.methods.base import (
    KINDS,
    Bins,
    DriftMethod,
    Kind,
    Null,
    all_methods,
    canonical,
    get,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["KINDS", "Bins", "DriftMethod", "Kind", "Null", "all_methods", "canonical", "get"]
