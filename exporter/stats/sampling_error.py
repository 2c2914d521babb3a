"""Each performance metric's sampling error at ``n`` rows, as NannyML computes it (``nannyml/sampling_error``).

NannyML draws a band of ±3 sampling errors around every realized and estimated metric. Its sampling error of a
metric is measured once on the reference's labelled rows, as a variance and the share of rows the metric
reads (the predicted positives for precision, the actual positives for recall, ...), and scaled to a chunk of
``n`` rows as ``sqrt(variance / (n * share))``; a macro average over ``k`` classes is ``sqrt(sum of the
classes' variance / (n * share)) / k``. A :class:`SamplingError` keeps those terms, so a baseline file carries
them and a window of any size gets its error without the reference.

The terms, per metric (``y`` the label, ``ŷ`` the decision, ``p`` the score; variances with ``ddof=0``):

- accuracy: the variance of "correct" over all rows;
- precision, recall, specificity: the variance of "correct" over the predicted positives, the actual positives,
  the actual negatives, with that share of the rows;
- f1 (binary): over TP, FP and FN rows, TP counting ``m / ((FP + FN) / 2 + TP)``, the others 0; multiclass,
  per class, TP counting 1;
- roc_auc: the variance of each positive's share of negatives ranked below it (the Mann-Whitney form), with the
  positives' share (the minority class taken as positive); multiclass, per class against the rest, times 1.2;
- average_precision: the standard deviation of the metric over 50 bootstrap samples of half the reference (at
  most 50,000 rows), scaled by ``sqrt(sample / n)`` (seeded here; NannyML's draws are unseeded);
- mae, mse, mape: the variance of the per-row absolute, squared, relative error; rmse (and rmsle):
  ``variance of the squared (log) error / (4 * its mean)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: NannyML's bootstrap of average precision: samples, and the largest sample.
AP_SAMPLES, AP_MAX_SAMPLE = 50, 50_000
#: NannyML's factor on the multiclass ROC AUC's error.
MULTICLASS_AUC_SCALE = 1.2


@dataclass(frozen=True)
class SamplingError:
    """A metric's sampling error: ``scale * sqrt(sum(variance_i / (n * share_i))) / len(terms)``."""

    #: (variance, share of the rows read) per term: one for a binary metric, one per class for a macro average.
    terms: tuple[tuple[float, float], ...]
    scale: float = 1.0

    def at(self, n: int) -> float | None:
        """The error on ``n`` rows; None where a term reads no row of the reference."""
        if n <= 0 or not self.terms or any(share <= 0 or not math.isfinite(v) for v, share in self.terms):
            return None
        return self.scale * math.sqrt(sum(v / (n * share) for v, share in self.terms)) / len(self.terms)


def _bernoulli(hits: float, total: float, n: float) -> tuple[float, float]:
    """The variance of a 0/1 outcome that is 1 ``hits`` times out of ``total``, and ``total``'s share of ``n``."""
    if total <= 0:
        return math.nan, 0.0
    rate = hits / total
    return rate * (1 - rate), total / n


def binary(confusion: np.ndarray) -> dict[str, SamplingError]:
    """accuracy, precision, recall, specificity and f1 from the reference's ``confusion[true][predicted]``."""
    tn, fp, fn, tp = (float(confusion[i, j]) for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))
    n = tn + fp + fn + tp
    if n <= 0:
        return {}
    out = {"accuracy": SamplingError((_bernoulli(tp + tn, n, n),)),
           "precision": SamplingError((_bernoulli(tp, tp + fp, n),)),
           "recall": SamplingError((_bernoulli(tp, tp + fn, n),)),
           "specificity": SamplingError((_bernoulli(tn, tn + fp, n),))}
    relevant = tp + fp + fn
    if relevant > 0:
        factor = relevant / ((fn + fp) * 0.5 + tp)
        variance, share = _bernoulli(tp, relevant, n)
        out["f1"] = SamplingError(((variance * factor * factor, share),))
    return out


def multiclass(confusion: np.ndarray) -> dict[str, SamplingError]:
    """accuracy and the macro precision, recall, f1 and specificity from the reference's ``confusion[true][predicted]``
    (each class against the rest)."""
    confusion = confusion.astype(np.float64)
    n = float(confusion.sum())
    if n <= 0:
        return {}
    tp = np.diag(confusion)
    true, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    fp, fn = predicted - tp, true - tp
    tn = n - tp - fp - fn
    classes = range(confusion.shape[0])
    return {
        "accuracy": SamplingError((_bernoulli(float(tp.sum()), n, n),)),
        "precision_macro": SamplingError(tuple(_bernoulli(tp[c], tp[c] + fp[c], n) for c in classes)),
        "recall_macro": SamplingError(tuple(_bernoulli(tp[c], tp[c] + fn[c], n) for c in classes)),
        "f1_macro": SamplingError(tuple(_bernoulli(tp[c], tp[c] + fp[c] + fn[c], n) for c in classes)),
        "specificity": SamplingError(tuple(_bernoulli(tn[c], tn[c] + fp[c], n) for c in classes)),
    }


def auc_term(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """One (variance, share) term of ROC AUC's error from the reference's 0/1 ``labels`` and ``scores``."""
    labels, scores = labels.astype(np.float64), scores.astype(np.float64)
    if labels.mean() > 0.5:
        labels, scores = 1 - labels, 1 - scores
    order = np.argsort(scores)  # NannyML's sort (ties in its order)
    labels = labels[order]
    positive_ranks = labels * np.arange(labels.size)
    ranks = np.unique(positive_ranks)[1:]
    negatives_below = ranks - np.arange(ranks.size)
    positives = float(labels.sum())
    negatives = labels.size - positives
    if negatives <= 0 or positives <= 0:
        return math.nan, 0.0
    return float(np.var(negatives_below / negatives)), positives / labels.size


def binary_auc(labels: np.ndarray, scores: np.ndarray) -> SamplingError:
    return SamplingError((auc_term(labels, scores),))


def multiclass_auc(labels: np.ndarray, probabilities: np.ndarray) -> SamplingError:
    """``labels`` class codes, ``probabilities`` one column per class."""
    terms = tuple(auc_term((labels == c).astype(np.float64), probabilities[:, c])
                  for c in range(probabilities.shape[1]))
    return SamplingError(terms, MULTICLASS_AUC_SCALE)


def bootstrap(metric: Callable[[np.ndarray], float | None], rows: int, seed: int = 0) -> SamplingError | None:
    """NannyML's bootstrap error: the metric's standard deviation over :data:`AP_SAMPLES` samples (with
    replacement) of half the ``rows`` (at most :data:`AP_MAX_SAMPLE`), as a term ``(std**2 * sample, 1)``.
    ``metric`` takes the sampled row positions."""
    size = min(rows // 2, AP_MAX_SAMPLE)
    if size < 2:
        return None
    rng = np.random.default_rng(seed)
    values = [metric(rng.integers(0, rows, size)) for _ in range(AP_SAMPLES)]
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if len(finite) < AP_SAMPLES:
        return None
    return SamplingError(((float(np.std(finite)) ** 2 * size, 1.0),))


def regression(truth: np.ndarray, predicted: np.ndarray) -> dict[str, SamplingError]:
    """mae, mse, rmse, mape, msle and rmsle from the reference's labelled rows."""
    if truth.size < 2:
        return {}
    error = truth - predicted
    squared = error * error
    out = {"mae": SamplingError(((float(np.var(np.abs(error))), 1.0),)),
           "mse": SamplingError(((float(np.var(squared)), 1.0),))}
    if squared.mean() > 0:
        out["rmse"] = SamplingError(((float(np.var(squared)) / (4 * float(squared.mean())), 1.0),))
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.abs(error) / truth
    if np.isfinite(relative).all():
        out["mape"] = SamplingError(((float(np.var(relative)), 1.0),))
    if (truth > -1).all() and (predicted > -1).all():
        log_squared = (np.log1p(truth) - np.log1p(predicted)) ** 2
        out["msle"] = SamplingError(((float(np.var(log_squared)), 1.0),))
        if log_squared.mean() > 0:
            out["rmsle"] = SamplingError(((float(np.var(log_squared)) / (4 * float(log_squared.mean())), 1.0),))
    return out
