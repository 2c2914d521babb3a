"""Model performance as pure functions of merged window summaries.

Realized metrics read the counts of labelled rows (confusion matrices, score
histograms by label, sums of losses and errors); estimated metrics (CBPE) read
expected counts built from calibrated probabilities. Each is checked against
sklearn in ``tests/test_performance.py``. A metric that is undefined on the
window (e.g. ROC AUC with a single class) is left out, never exported as 0;
precision, recall and F1 with an empty denominator are 0, as sklearn's
``zero_division`` default gives.
"""

from __future__ import annotations

import math

import numpy as np

LOGLOSS_EPS = float(np.finfo(np.float64).eps)
MAPE_EPS = float(np.finfo(np.float64).eps)


def _div(a: float, b: float) -> float:
    return float(a) / float(b) if b else 0.0


def auc_from_histograms(positive: np.ndarray, negative: np.ndarray) -> float | None:
    """Area under the ROC curve from counts of positives and negatives per ascending score bin.

    A positive outranks every negative in lower bins and ties (counts 1/2)
    with negatives in its own bin, which is exact when distinct scores never
    share a bin.
    """
    n_pos, n_neg = float(positive.sum()), float(negative.sum())
    if n_pos <= 0 or n_neg <= 0:
        return None
    below = np.cumsum(negative) - negative
    return float(np.sum(positive * (below + 0.5 * negative)) / (n_pos * n_neg))


def macro_auc(positive: np.ndarray, negative: np.ndarray) -> float | None:
    """The mean over classes of each class's ROC AUC against the rest, from its (classes by bins) histograms:
    sklearn's ``roc_auc_score(multi_class="ovr", average="macro")``, defined only when every class has rows of
    its own and of the others."""
    aucs = [auc_from_histograms(positive[c], negative[c]) for c in range(positive.shape[0])]
    if not aucs or any(a is None for a in aucs):
        return None
    return float(np.mean([a for a in aucs if a is not None]))


def average_precision_from_histograms(positive: np.ndarray, negative: np.ndarray) -> float | None:
    """Average precision ``sum((R_k - R_{k-1}) * P_k)`` over the score bins from the highest down, from counts (or
    expected counts) of positives and negatives per ascending score bin: sklearn's ``average_precision_score``
    wherever distinct scores never share a bin (a bin is one threshold, its rows tied)."""
    total = float(positive.sum())
    if total <= 0:
        return None
    tp = np.cumsum(positive[::-1].astype(np.float64))
    fp = np.cumsum(negative[::-1].astype(np.float64))
    predicted = tp + fp
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
    recall = tp / total
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def binary_from_confusion(confusion: np.ndarray) -> dict[str, float]:
    """accuracy, precision, recall, specificity, f1 and positive_rate from ``confusion[true][predicted]`` (0/1)."""
    tn, fp = float(confusion[0, 0]), float(confusion[0, 1])
    fn, tp = float(confusion[1, 0]), float(confusion[1, 1])
    n = tn + fp + fn + tp
    if n <= 0:
        return {}
    return {
        "accuracy": (tp + tn) / n,
        "precision": _div(tp, tp + fp),
        "recall": _div(tp, tp + fn),
        "specificity": _div(tn, tn + fp),
        "f1": _div(2 * tp, 2 * tp + fp + fn),
        "positive_rate": (tp + fp) / n,
    }


def binary_metrics(confusion: np.ndarray, positive_hist: np.ndarray, negative_hist: np.ndarray,
                   logloss_sum: float, scored: int) -> dict[str, float]:
    """Realized binary metrics of the labelled rows; roc_auc and log_loss need scores."""
    metrics = binary_from_confusion(confusion)
    auc = auc_from_histograms(positive_hist, negative_hist)
    if auc is not None:
        metrics["roc_auc"] = auc
    average_precision = average_precision_from_histograms(positive_hist, negative_hist)
    if average_precision is not None and auc is not None:
        metrics["average_precision"] = average_precision
    if scored > 0:
        metrics["log_loss"] = float(logloss_sum) / scored
    return metrics


def log_loss_terms(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-row binary cross-entropy with probabilities clipped to [eps, 1 - eps], as sklearn."""
    p = np.clip(scores, LOGLOSS_EPS, 1 - LOGLOSS_EPS)
    return -(labels * np.log(p) + (1 - labels) * np.log(1 - p))


def multiclass_metrics(confusion: np.ndarray) -> dict[str, float]:
    """accuracy, macro/weighted precision, recall, f1 and the macro specificity from ``confusion[true][predicted]``.

    As sklearn with ``labels=None``, averages run over the classes that occur
    in the window's true or predicted labels. ``specificity`` is NannyML's: the mean over those classes of
    ``TN / (TN + FP)``, each class against the rest.
    """
    confusion = confusion.astype(np.float64)
    n = confusion.sum()
    if n <= 0:
        return {}
    tp = np.diag(confusion)
    true = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    present = (true > 0) | (predicted > 0)
    tp, true, predicted = tp[present], true[present], predicted[present]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(true > 0, tp / true, 0.0)
        f1 = np.where(true + predicted > 0, 2 * tp / (true + predicted), 0.0)
        negatives = n - true
        specificity = np.where(negatives > 0, (negatives - (predicted - tp)) / negatives, 0.0)
    weights = true / n
    return {
        "accuracy": float(tp.sum() / n),
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "f1_macro": float(f1.mean()),
        "precision_weighted": float(np.sum(precision * weights)),
        "recall_weighted": float(np.sum(recall * weights)),
        "f1_weighted": float(np.sum(f1 * weights)),
        "specificity": float(specificity.mean()),
    }


#: Layout of the regression sums: labelled rows, and sums over them. The target's sums are taken
#: around a fixed ``shift`` (the reference's mean target), ``sum(y - shift)`` and
#: ``sum((y - shift)**2)``: still additive, so windows merge by summing, and the total sum of
#: squares ``sum((y - shift)**2) - sum(y - shift)**2 / n`` loses no precision to a large offset
#: (a target around 1e9 with unit noise keeps r2 exact to about 1e-12).
REG_N, REG_ERR, REG_ABS, REG_SQ, REG_APE, REG_Y, REG_Y2 = range(7)
REGRESSION_SUMS = 7


def regression_terms(y_true: np.ndarray, y_pred: np.ndarray, shift: float = 0.0) -> np.ndarray:
    """Each row's terms of the regression sums, shape ``(n, REGRESSION_SUMS)``: summed, they are the sums."""
    error = y_pred - y_true
    centred = y_true - shift
    return np.column_stack([
        np.ones(y_true.size),
        error,
        np.abs(error),
        error * error,
        np.abs(error) / np.maximum(np.abs(y_true), MAPE_EPS),
        centred,
        centred * centred,
    ]).astype(np.float64, copy=False)


#: Layout of the squared logarithmic error's sums: rows counted, rows where it is defined, and their squared errors.
LOG_N, LOG_DEFINED, LOG_SQ = range(3)
LOG_SUMS = 3


def log_error_terms(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Each row's terms of the squared logarithmic error's sums, shape ``(n, LOG_SUMS)``: the error
    ``(log(1 + y) - log(1 + y_pred))**2`` is defined where both are above -1."""
    defined = (y_true > -1) & (y_pred > -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        squared = np.where(defined, (np.log1p(np.where(defined, y_true, 0.0))
                                     - np.log1p(np.where(defined, y_pred, 0.0))) ** 2, 0.0)
    return np.column_stack([np.ones(y_true.size), defined, squared]).astype(np.float64, copy=False)


def log_error_metrics(sums: np.ndarray, rows: float) -> dict[str, float]:
    """msle and rmsle (sklearn's) of a window of ``rows`` labelled rows: absent unless every one of them was counted
    (a window that spans buckets summed before they were) and every one is above -1 (sklearn refuses the rest)."""
    n = float(sums[LOG_N])
    if n <= 0 or n != rows or float(sums[LOG_DEFINED]) != n:
        return {}
    msle = float(sums[LOG_SQ]) / n
    return {"msle": msle, "rmsle": math.sqrt(msle)}


def regression_metrics(sums: np.ndarray) -> dict[str, float]:
    """mse, rmse, mae, mape, r2, mean_error (predicted minus true: positive means over-estimation) and error_std
    (the errors' standard deviation, ``ddof=1`` as Evidently's)."""
    n = float(sums[REG_N])
    if n <= 0:
        return {}
    sse = float(sums[REG_SQ])
    sst = max(0.0, float(sums[REG_Y2]) - float(sums[REG_Y]) ** 2 / n)
    if sst > 1e-12 * max(1.0, float(sums[REG_Y2])):
        r2 = 1.0 - sse / sst
    else:
        r2 = 1.0 if sse == 0 else 0.0  # sklearn's force_finite behaviour for a constant target
    return {
        "mse": sse / n,
        "rmse": math.sqrt(sse / n),
        "mae": float(sums[REG_ABS]) / n,
        "mape": float(sums[REG_APE]) / n,
        "r2": r2,
        "mean_error": float(sums[REG_ERR]) / n,
        **({"error_std": math.sqrt(max(0.0, (sse - float(sums[REG_ERR]) ** 2 / n) / (n - 1)))} if n >= 2 else {}),
    }


def cbpe_metrics(expected: np.ndarray, positive_hist: np.ndarray, negative_hist: np.ndarray) -> dict[str, float]:
    """Estimated metrics from the expected confusion ``expected[true][predicted]`` and expected score histograms.

    Each row contributes its calibrated probability ``p`` as an expected
    positive and ``1 - p`` as an expected negative, in the column of its
    predicted class (and in its score bin, for ROC AUC).
    """
    metrics = binary_from_confusion(expected)
    metrics.pop("positive_rate", None)
    auc = auc_from_histograms(positive_hist, negative_hist)
    if auc is not None and metrics:
        metrics["roc_auc"] = auc
        average_precision = average_precision_from_histograms(positive_hist, negative_hist)
        if average_precision is not None:
            metrics["average_precision"] = average_precision
    return metrics


#: Errors with a threshold above the reference's value (the reference's error, relatively worse by the
#: tolerance or its sampling noise): the regression errors that are both realized and estimated (DLE).
LOWER_IS_BETTER = frozenset({"mae", "mse", "rmse"})

#: Metrics where higher is better; performance thresholds (reference minus tolerance) exist for these.
HIGHER_IS_BETTER = frozenset({
    "accuracy", "precision", "recall", "specificity", "f1", "roc_auc", "average_precision",
    "precision_macro", "recall_macro", "f1_macro", "precision_weighted", "recall_weighted", "f1_weighted", "r2",
})
