"""What a drift method is, and the registry that names them.

A method is one :class:`DriftMethod` object, built and registered in its own module of this package
(as NannyML's ``MethodFactory.register`` or Evidently's one file per ``StatTest``). The object says
everything the rest of the exporter asks of it:

- its statistic of a window's merged bin counts (and sums) against the reference's, and the same
  statistic of many windows at once (the vectorised form that calibration and the reference's chunk
  noise use);
- the bins it reads on numeric features: the 200 fine bins with their sums, or the coarse deciles;
- the feature kinds it allows, and whether it needs a feature of at most two categories;
- whether its score is a distance (drift *above* the threshold) or a test's p-value (drift *below*);
- its default fixed threshold and its default minimum effect;
- what calibration needs of it (:class:`Null`): the law of its score on stable data.

The configuration takes a method's canonical name or any of its peers' names (its aliases), and
``model_feature_drift_score{method=...}`` carries the canonical name.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

#: Floor used for empty bins in PSI, KL and the expectations of the tests (as Evidently).
EMPTY_BIN_FLOOR = 1e-4
#: Minimum reference standard deviation used to normalise a distance measured in the feature's units,
#: so a constant reference column does not divide by zero.
MIN_REFERENCE_STD = 1e-3

#: A grid of window sizes ten to the decade (10 to 100,000), for methods whose null needs more than the default
#: grid (:attr:`DriftMethod.sizes`).
FINE_SIZES: tuple[float, ...] = tuple(float(n) for n in np.unique(np.round(np.geomspace(10, 100_000, 41))))

Kind = Literal["numeric", "categorical"]
KINDS: tuple[Kind, ...] = ("numeric", "categorical")


@dataclass(frozen=True, eq=False)
class Bins:
    """The reference as a method reads it.

    ``counts``: per bin (numeric: the fine or coarse layout of :mod:`exporter.baseline.features`, with
    the under- and overflow bins first and last) or per category slot. ``sums``: the values' sum per
    bin (numeric only). ``edges``: the ``B + 1`` edges of the ``B`` inner bins (fine numeric bins
    only). ``std``: the reference's population standard deviation (numeric), exact (not binned).
    """

    counts: np.ndarray
    sums: np.ndarray | None = None
    edges: np.ndarray | None = None
    std: float = 0.0


class Null(enum.Enum):
    """How the score behaves when nothing drifted: what calibration (:mod:`exporter.stats.drift_null`)
    computes the thresholds from."""

    #: Kolmogorov's exact distribution (KS).
    KOLMOGOROV = "kolmogorov"
    #: The integral of a Brownian bridge's absolute value on the reference's quantiles (Wasserstein).
    BROWNIAN_BRIDGE = "brownian bridge"
    #: Windows drawn from the reference's own bins and scored by the method's vectorised form.
    MULTINOMIAL = "multinomial"
    #: A test: its p-value already knows the window's size; drift is a p-value below alpha.
    PVALUE = "p-value"


#: A method's statistic: (reference, window counts, window sums or None) -> score.
Statistic = Callable[[Bins, np.ndarray, "np.ndarray | None"], float]
#: Its vectorised form: the same of each row of a (windows x bins) counts array (and sums).
RowsStatistic = Callable[[Bins, np.ndarray, "np.ndarray | None"], np.ndarray]
#: The null quantile at ``n`` values from the chi-square quantile ``x2`` of the method's bins, where the
#: statistic is asymptotically a function of Pearson's chi-square.
Asymptote = Callable[[np.ndarray, float], np.ndarray]


@dataclass(frozen=True, eq=False)
class DriftMethod:
    """One drift method (see the module docstring)."""

    #: The canonical name: configuration, baseline files and the ``method`` label.
    name: str
    #: What the docs and the report call it.
    title: str
    statistic: Statistic
    rows: RowsStatistic
    kinds: frozenset[Kind]
    #: On numeric features: reads the fine bins and their sums (else the coarse deciles).
    fine: bool
    #: What calibration needs of it.
    null: Null
    #: Fixed threshold used when a threshold is asked for without a value.
    default_threshold: float
    #: Smallest score that counts as drift under a calibrated threshold (tests: the JS distance of the
    #: same counts).
    default_min_effect: float
    #: Other names the configuration accepts (the peers' names for the same statistic).
    aliases: tuple[str, ...] = ()
    #: On numeric features' coarse bins: values beyond the reference's range count in bins of their own (else in
    #: the first and last decile). A test's p-value treats a value beyond a large reference's range (expected
    #: about ``2 n / m`` times in a window of ``n``: ``m`` reference values) as an event of tiny expected count,
    #: and its chi-square approximation then flags stable windows; the out-of-range check counts those values.
    range_bins: bool = True
    #: Needs a feature with at most two categories (a share against the rest).
    binary: bool = False
    #: How the null quantile shrinks with the size beyond the computed sizes (``n ** -exponent``).
    exponent: float = 0.5
    #: The multinomial null beyond the simulated sizes, where the statistic has a chi-square limit; without
    #: one, windows are simulated at every computed size.
    asymptote: Asymptote | None = None
    #: The window sizes at which the multinomial null is computed, where the default grid is too coarse: a
    #: statistic that jumps when a bin of the window is empty (PSI, KL: the empty bin is floored) has a null
    #: quantile that falls steeply where empty bins become rarer than alpha, and log-log interpolation across
    #: that fall flags too often (PSI on the default grid: 1.9% of 60-row windows at alpha 0.2%).
    sizes: tuple[float, ...] | None = None
    #: The peer each name and definition comes from, for the docs.
    origin: str = ""
    #: Filled by :func:`register`: the module that defines it.
    module: str = field(default="", compare=False)

    @property
    def is_test(self) -> bool:
        """The score is a p-value: drift when it is *below* the threshold."""
        return self.null is Null.PVALUE

    def allows(self, kind: str) -> bool:
        return kind in self.kinds

    def is_drift(self, score: float, threshold: float) -> bool:
        return score < threshold if self.is_test else score > threshold


_REGISTRY: dict[str, DriftMethod] = {}
_ALIASES: dict[str, str] = {}


def register(method: DriftMethod, module: str) -> DriftMethod:
    """Add ``method`` to the registry (called once, by the module that defines it)."""
    for name in (method.name, *method.aliases):
        key = name.lower()
        if key in _ALIASES and _ALIASES[key] != method.name:
            raise ValueError(f"drift method name {name!r} is taken by {_ALIASES[key]!r}")
        _ALIASES[key] = method.name
    registered = DriftMethod(**{**method.__dict__, "module": module})
    _REGISTRY[method.name] = registered
    return registered


def canonical(name: str) -> str:
    """The canonical name of a method given by any of its names (case-insensitive); ValueError if none."""
    try:
        return _ALIASES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown drift method {name!r}; one of: {', '.join(sorted(_REGISTRY))}, "
                         "or auto") from None


def get(name: str) -> DriftMethod:
    """The method called ``name`` (any of its names)."""
    return _REGISTRY[canonical(name)]


def all_methods() -> tuple[DriftMethod, ...]:
    """Every registered method, by name."""
    return tuple(_REGISTRY[name] for name in sorted(_REGISTRY))


def proportions(counts: np.ndarray) -> np.ndarray:
    """``counts`` as shares of their total (ValueError on none)."""
    total = float(counts.sum())
    if total <= 0:
        raise ValueError("cannot compute a distribution of zero observations")
    return counts.astype(np.float64) / total


def row_proportions(counts: np.ndarray) -> np.ndarray:
    """Each row of a (windows x bins) ``counts`` as shares of its total."""
    return counts / counts.sum(axis=-1, keepdims=True)


def one_row(rows: RowsStatistic) -> Statistic:
    """A statistic of one window from its vectorised form."""

    def statistic(reference: Bins, counts: np.ndarray, sums: np.ndarray | None) -> float:
        return float(rows(reference, counts[None, :], None if sums is None else sums[None, :])[0])

    return statistic


def each_row(statistic: Statistic) -> RowsStatistic:
    """The vectorised form of a statistic that has none of its own: one window at a time."""

    def rows(reference: Bins, counts: np.ndarray, sums: np.ndarray | None) -> np.ndarray:
        return np.array([statistic(reference, counts[i], None if sums is None else sums[i])
                         for i in range(counts.shape[0])], dtype=np.float64)

    return rows


def goodness_of_fit_counts(reference_counts: np.ndarray, current_counts: np.ndarray,
                           floor: float = EMPTY_BIN_FLOOR) -> tuple[np.ndarray, np.ndarray] | None:
    """The window's counts and the counts the reference expects of it, for a goodness-of-fit test: the reference's
    shares (empty ones floored, so a value it never had is drift, not a division by zero) scaled to the window's
    total, over the bins either side fills; None with fewer than two such bins (nothing to test)."""
    keep = (reference_counts > 0) | (current_counts > 0)
    if np.count_nonzero(keep) < 2:
        return None
    observed = current_counts[keep].astype(np.float64)
    p = np.maximum(proportions(reference_counts[keep]), floor)
    return observed, p / p.sum() * observed.sum()


def first_against_rest(reference_counts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A feature of two values as (first, rest) counts of the reference and of the window: the first bin or category
    the reference holds, against everything else (the other value, and any value the reference never had)."""
    held = np.flatnonzero(reference_counts)
    first = int(held[0]) if held.size else 0
    reference_total, total = float(reference_counts.sum()), float(counts.sum())
    return (np.array([reference_counts[first], reference_total - reference_counts[first]], dtype=np.float64),
            np.array([counts[first], total - counts[first]], dtype=np.float64))
