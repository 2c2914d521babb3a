"""NannyML's own sampling errors on seeded data: the values ``tests/stats/test_sampling_error.py`` reproduces.

Run in an environment with NannyML (never a dependency of the exporter; see benchmarks/RESULTS.md for the one
used here)::

    NML_DISABLE_USAGE_LOGGING=1 python -m benchmarks.sampling_error_nannyml --out tests/data/nannyml_sampling_error

Writes ``reference-{binary,multiclass,regression}.parquet`` (the labelled reference rows) and
``nannyml_sampling_error.json``: per task, metric and chunk size, the sampling error NannyML's
``nannyml.sampling_error`` functions give (the components from the reference, the error of a chunk of that many
rows). Average precision's components are a bootstrap with NannyML's unseeded draws: its value is recorded to
compare within the bootstrap's own spread.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

CHUNKS = (100, 1000, 5000)
ROWS = 5000
CLASSES = 3


def binary_frame(rng: np.random.Generator) -> pd.DataFrame:
    score = rng.beta(2, 3, ROWS)
    label = (rng.random(ROWS) < score).astype(np.int64)
    return pd.DataFrame({"label": label, "score": score, "prediction": (score >= 0.45).astype(np.int64)})


def multiclass_frame(rng: np.random.Generator) -> pd.DataFrame:
    logits = rng.normal(0, 1, (ROWS, CLASSES)) + np.array([0.4, 0.0, -0.3])
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    label = np.array([rng.choice(CLASSES, p=p) for p in proba])
    frame = pd.DataFrame({f"p{c}": proba[:, c] for c in range(CLASSES)})
    frame["label"], frame["prediction"] = label, proba.argmax(axis=1)
    return frame


def regression_frame(rng: np.random.Generator) -> pd.DataFrame:
    truth = rng.lognormal(3, 0.6, ROWS)
    predicted = np.maximum(truth * rng.lognormal(0, 0.15, ROWS) + rng.normal(0, 2, ROWS), 0.0)
    return pd.DataFrame({"label": truth, "prediction": predicted})


def nannyml_errors(frames: dict[str, pd.DataFrame]) -> dict[str, dict[str, dict[str, float]]]:
    from nannyml.sampling_error import binary_classification as b
    from nannyml.sampling_error import multiclass_classification as m
    from nannyml.sampling_error import regression as r

    out: dict[str, dict[str, dict[str, float]]] = {}
    f = frames["binary"]
    y, p, s = f["label"], f["prediction"], f["score"]
    binary = {
        "accuracy": (b.accuracy_sampling_error_components(y, p), b.accuracy_sampling_error),
        "precision": (b.precision_sampling_error_components(y, p), b.precision_sampling_error),
        "recall": (b.recall_sampling_error_components(y, p), b.recall_sampling_error),
        "specificity": (b.specificity_sampling_error_components(y, p), b.specificity_sampling_error),
        "f1": (b.f1_sampling_error_components(y, p), b.f1_sampling_error),
        "roc_auc": (b.auroc_sampling_error_components(y, s), b.auroc_sampling_error),
        "average_precision": (b.ap_sampling_error_components(y, s), b.ap_sampling_error),
    }
    out["binary"] = {metric: {str(n): float(error(components, pd.DataFrame(index=range(n))))
                              for n in CHUNKS} for metric, (components, error) in binary.items()}
    f = frames["multiclass"]
    labels = list(range(CLASSES))
    true_classes = [(f["label"] == c).astype(int) for c in labels]
    predicted_classes = [(f["prediction"] == c).astype(int) for c in labels]
    probabilities = [f[f"p{c}"] for c in labels]
    truth_matrix = np.stack([t.to_numpy() for t in true_classes], axis=1)
    predicted_matrix = np.stack([t.to_numpy() for t in predicted_classes], axis=1)
    multiclass = {
        "accuracy": (m.accuracy_sampling_error_components(truth_matrix, predicted_matrix), m.accuracy_sampling_error),
        "precision_macro": (m.precision_sampling_error_components(true_classes, predicted_classes),
                            m.precision_sampling_error),
        "recall_macro": (m.recall_sampling_error_components(true_classes, predicted_classes), m.recall_sampling_error),
        "f1_macro": (m.f1_sampling_error_components(true_classes, predicted_classes), m.f1_sampling_error),
        "specificity": (m.specificity_sampling_error_components(true_classes, predicted_classes),
                        m.specificity_sampling_error),
        "roc_auc": (m.auroc_sampling_error_components(true_classes, probabilities), m.auroc_sampling_error),
    }
    out["multiclass"] = {metric: {str(n): float(error(components, pd.DataFrame(index=range(n))))
                                  for n in CHUNKS} for metric, (components, error) in multiclass.items()}
    f = frames["regression"]
    y, p = f["label"], f["prediction"]
    regression = {
        "mae": (r.mae_sampling_error_components(y, p), r.mae_sampling_error),
        "mse": (r.mse_sampling_error_components(y, p), r.mse_sampling_error),
        "rmse": (r.rmse_sampling_error_components(y, p), r.rmse_sampling_error),
        "mape": (r.mape_sampling_error_components(y, p), r.mape_sampling_error),
        "msle": (r.msle_sampling_error_components(y, p), r.msle_sampling_error),
        "rmsle": (r.rmsle_sampling_error_components(y, p), r.rmsle_sampling_error),
    }
    out["regression"] = {metric: {str(n): float(error(components, pd.DataFrame(index=range(n))))
                                  for n in CHUNKS} for metric, (components, error) in regression.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    import nannyml

    rng = np.random.default_rng(7)
    frames = {"binary": binary_frame(rng), "multiclass": multiclass_frame(rng), "regression": regression_frame(rng)}
    args.out.mkdir(parents=True, exist_ok=True)
    for task, frame in frames.items():
        frame.to_parquet(args.out / f"reference-{task}.parquet")
    document = {"nannyml": nannyml.__version__, "chunks": list(CHUNKS), "errors": nannyml_errors(frames)}
    (args.out / "nannyml_sampling_error.json").write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps(document["errors"]["binary"]["accuracy"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
