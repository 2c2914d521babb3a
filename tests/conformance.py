"""The conformance matrix's data: one realistic, messy production log, written the way each source holds it.

Every cell of the matrix (a task, a source, a command) reads the same rows. They carry what real
services write and tidy fixtures leave out:

- columns the model does not know: a request id, the raw prediction beside the configured one, a
  copy of the timestamp;
- a boolean feature (``member``): Python booleans in JSON, ``True``/``False`` text in CSV, 0/1 in
  SQLite, ``boolean`` in PostgreSQL, against a Parquet reference of booleans;
- integers stored as floats (``visits`` is an integer in the reference and a float in the log) and a
  categorical column of integer codes (``plan``, logged as floats: 1.0, 2.0);
- nulls, NaN and blank text (``age`` and ``channel``), and the tokens the model declares missing
  (``missing_values``): the text ``NA`` in ``channel``, the sentinel ``-999`` in ``age``, and ``-1`` in
  ``visits`` (that feature's own token), in the reference and the log;
- a segment column (``channel``);
- late labels in a labels source of their own (a label arrives two minutes after its prediction,
  and only for some predictions);
- rows out of time order, a duplicate id and, in the line-based files, a malformed line.

:func:`write_matrix` writes the reference, the logs of every source and one config holding a model per
(task, source), named ``TASK-SOURCE``.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

TASKS = ("binary", "multiclass", "regression")
FILE_SOURCES = ("jsonl", "csv", "parquet")
SQL_SOURCES = ("sqlite", "postgres", "pushdown")
SOURCES = FILE_SOURCES + SQL_SOURCES
TASK_NAMES = {"binary": "binary_classification", "multiclass": "multiclass_classification",
              "regression": "regression"}
CLASSES = ("a", "b", "c")
#: The log's rows span this long before the run's instant; every window is longer, so a row stays in
#: every window for the few minutes a test takes (serve at any instant equals check at it).
SPAN = 40 * 60.0
WINDOWS = ["1h", "3h"]
N_REFERENCE, N_LOG = 3000, 900
LABEL_DELAY, LABELLED_SHARE = 120.0, 0.7
#: Tokens the models declare missing (``missing_values``), and ``visits``'s own.
MISSING_TEXT, MISSING_NUMBER, MISSING_VISITS = "NA", -999, -1


def _features(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({
        "age": rng.normal(40 + shift, 10, n),
        "income": rng.lognormal(10, 0.5, n),
        "visits": rng.poisson(3, n).astype(np.int64),
        "member": rng.random(n) < 0.3,
        "plan": rng.choice([1, 2, 3, 4], n, p=[0.4, 0.3, 0.2, 0.1]).astype(np.int64),
        "channel": rng.choice(["web", "app", "shop"], n, p=[0.5, 0.3, 0.2]),
    })


def _outputs(rng: np.random.Generator, frame: pd.DataFrame, task: str) -> pd.DataFrame:
    """The model's outputs and the truth, per task, from the features (so performance means something)."""
    n = len(frame)
    signal = (np.nan_to_num(frame["age"].to_numpy(dtype=float), nan=40.0) - 40) / 10 + frame["member"] * 0.8
    if task == "binary":
        score = 1 / (1 + np.exp(-1.5 * signal))
        return pd.DataFrame({"score": score, "prediction": (score >= 0.5).astype(np.int64),
                             "label": (rng.random(n) < score).astype(np.int64)})
    if task == "multiclass":
        logits = np.stack([signal, -signal, rng.normal(0, 0.5, n)], axis=1)
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        truth = np.array([rng.choice(3, p=p) for p in probabilities])
        out = pd.DataFrame({f"p_{c}": probabilities[:, i] for i, c in enumerate(CLASSES)})
        out["prediction"] = np.array(CLASSES)[probabilities.argmax(axis=1)]
        out["label"] = np.array(CLASSES)[truth]
        return out
    value = 100 + 20 * signal
    return pd.DataFrame({"prediction": value, "label": value + rng.normal(0, 5, n)})


def reference_frame(task: str, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    features = _features(rng, N_REFERENCE)
    outputs = _outputs(rng, features, task)
    features.loc[rng.random(N_REFERENCE) < 0.03, "age"] = np.nan
    features.loc[rng.random(N_REFERENCE) < 0.02, "age"] = MISSING_NUMBER
    features.loc[rng.random(N_REFERENCE) < 0.02, "channel"] = MISSING_TEXT
    return pd.concat([features, outputs], axis=1)


def log_frames(task: str, now: float, seed: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The predictions (messy, as logged) and the late labels of one task."""
    rng = np.random.default_rng(seed)
    features = _features(rng, N_LOG, shift=2.0)
    outputs = _outputs(rng, features, task)
    stamps = np.round(now - SPAN + np.sort(rng.random(N_LOG)) * (SPAN - 120), 3)
    log = pd.concat([features, outputs.drop(columns=["label"])], axis=1)
    log.insert(0, "id", [f"{task}-{i}" for i in range(N_LOG)])
    log.insert(0, "ts", stamps)
    log["age"] = log["age"].astype(object)
    log.loc[rng.random(N_LOG) < 0.04, "age"] = None          # null
    log.loc[rng.random(N_LOG) < 0.03, "age"] = float(MISSING_NUMBER)  # a sentinel declared missing
    log.loc[rng.random(N_LOG) < 0.03, "visits"] = MISSING_VISITS      # the feature's own token
    log["visits"] = log["visits"].astype(float)               # integers stored as floats
    log["plan"] = log["plan"].astype(float)                   # a categorical column of codes, as floats
    channel = log["channel"].astype(object)
    channel[rng.random(N_LOG) < 0.02] = ""                    # blank text
    channel[rng.random(N_LOG) < 0.02] = None
    channel[rng.random(N_LOG) < 0.03] = MISSING_TEXT          # a token declared missing
    log["channel"] = channel
    log["request_id"] = [f"req-{i:05d}" for i in range(N_LOG)]  # columns the model does not know
    log["y_pred"] = log["prediction"]
    log["ts_copy"] = log["ts"]
    shuffled = rng.permutation(N_LOG)[: N_LOG // 10]           # rows out of time order
    order = np.arange(N_LOG)
    order[np.sort(shuffled)] = shuffled
    log = log.iloc[order].reset_index(drop=True)
    log = pd.concat([log, log.iloc[[5, 300]]], ignore_index=True)  # a duplicate id (twice)
    labelled = rng.random(N_LOG) < LABELLED_SHARE
    labels = pd.DataFrame({"id": [f"{task}-{i}" for i in np.flatnonzero(labelled)],
                           "ts": stamps[labelled] + LABEL_DELAY, "label": outputs["label"][labelled].to_numpy()})
    return log, labels


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_jsonl(frame: pd.DataFrame, path: Path, malformed: bool) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for i, record in enumerate(frame.to_dict("records")):
            handle.write(json.dumps({k: _json_value(v) for k, v in record.items()}) + "\n")
            if malformed and i == len(frame) // 2:
                handle.write('{"ts": 1, "id": "broken", "age": \n')   # a line cut short


def write_csv(frame: pd.DataFrame, path: Path, malformed: bool) -> None:
    text = frame.to_csv(index=False)
    if malformed:
        lines = text.splitlines(keepends=True)
        lines.insert(len(lines) // 2, "1,2,3\n")                      # a row with too few fields
        text = "".join(lines)
    path.write_text(text, encoding="utf-8")


def _for_parquet(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object and column in ("age",):
            out[column] = pd.to_numeric(out[column])
    return out


def write_source(source: str, task: str, log: pd.DataFrame, labels: pd.DataFrame, folder: Path,
                 postgres_engine: Any = None) -> dict[str, Any]:
    """Write ``log`` and ``labels`` as ``source`` holds them; the model config's ``predictions`` and ``labels``."""
    name = f"{task}-{source}"
    if source in FILE_SOURCES:
        preds, labs = folder / "logs" / name, folder / "labels" / name
        preds.mkdir(parents=True)
        labs.mkdir(parents=True)
        if source == "jsonl":
            write_jsonl(log, preds / "part-0.jsonl", malformed=True)
            write_jsonl(labels, labs / "part-0.jsonl", malformed=False)
        elif source == "csv":
            write_csv(log, preds / "part-0.csv", malformed=True)
            write_csv(labels, labs / "part-0.csv", malformed=False)
        else:
            _for_parquet(log).to_parquet(preds / "part-0.parquet")
            labels.to_parquet(labs / "part-0.parquet")
        return {"predictions": {"path": f"logs/{name}/*.{source}", "timestamp_column": "ts", "id_column": "id"},
                "labels": {"path": f"labels/{name}/*.{source}", "id_column": "id", "label_column": "label"}}
    table = name.replace("-", "_")
    frame = _for_parquet(log)
    if source == "sqlite":
        with sqlite3.connect(folder / "logs.db") as connection:
            frame.to_sql(table, connection, index=False)
            labels.to_sql(f"{table}_labels", connection, index=False)
        url = "sqlite:///logs.db"
    else:
        frame.to_sql(table, postgres_engine, index=False)
        labels.to_sql(f"{table}_labels", postgres_engine, index=False)
        url = postgres_engine.url.render_as_string(hide_password=False)
    sql: dict[str, Any] = {"url": url, "table": table, "batch_rows": 400}
    if source == "pushdown":
        sql["pushdown"] = True
    return {"predictions": {"sql": sql, "timestamp_column": "ts", "id_column": "id"},
            "labels": {"sql": {"url": url, "table": f"{table}_labels"}, "id_column": "id", "label_column": "label"}}


def model_entry(task: str, source: str, sources: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": f"{task}-{source}", "task": TASK_NAMES[task], "reference": f"reference-{task}.parquet",
        **sources,
        "features": {"numeric": ["age", "income", "visits"], "categorical": ["member", "plan", "channel"]},
        "prediction_column": "prediction", "windows": WINDOWS, "segments": ["channel"],
        "min_window_rows": 30, "missing_values": [MISSING_TEXT, MISSING_NUMBER],
        "quality": {"features": {"visits": {"missing_values": [MISSING_VISITS]}}},
    }
    if task == "binary":
        entry["score_column"] = "score"
    if task == "multiclass":
        entry["class_score_columns"] = {c: f"p_{c}" for c in CLASSES}
    return entry


def write_matrix(folder: Path, now: float, sources: tuple[str, ...], postgres_engine: Any = None) -> Path:
    """The reference of each task, the logs of every (task, source), and ``monitor.yaml`` over them all."""
    models = []
    for task in TASKS:
        reference_frame(task).to_parquet(folder / f"reference-{task}.parquet")
        log, labels = log_frames(task, now)
        for source in sources:
            models.append(model_entry(task, source, write_source(source, task, log, labels, folder, postgres_engine)))
    config = {"interval": "1s", "state_dir": str(folder / "state"), "models": models}
    path = folder / "monitor.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
