"""Demo traffic: a simulated fraud model that logs predictions, later labels, and drifts.

``model-monitor demo`` writes a reference, a config and a growing JSONL
prediction log into a folder, then runs the exporter on it. After
``drift_after`` seconds the simulated world moves: incomes rise, customers get
older, the country mix changes and one feature starts arriving empty, so
drift and data-quality gauges move and the alerts fire.

The generators are plain functions so tests and benchmarks use the same data.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

log = logging.getLogger(__name__)

COUNTRIES = ("US", "DE", "FR", "GB", "IN")
DEVICES = ("mobile", "desktop", "tablet")
MODEL_NAME = "fraud-demo"


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def simulate(rng: np.random.Generator, n: int, drifted: bool = False) -> pd.DataFrame:
    """``n`` rows of features, a calibrated score, the prediction and the true label."""
    age = rng.normal(48 if drifted else 40, 10, n).round(0)
    income = rng.lognormal(np.log(52_000 * (1.5 if drifted else 1.0)), 0.4, n).round(2)
    amount = rng.exponential(80.0, n).round(2)
    tenure = rng.gamma(2.0, 200.0, n).round(0)
    country_p = (0.15, 0.15, 0.1, 0.1, 0.5) if drifted else (0.4, 0.2, 0.15, 0.15, 0.1)
    country = rng.choice(COUNTRIES, n, p=country_p)
    device = rng.choice(DEVICES, n, p=(0.6, 0.3, 0.1))
    logit = -2.2 + 0.012 * (amount - 80) - 0.002 * (tenure - 400) + 0.5 * (device == "mobile") + \
        0.4 * (country == "IN") - 0.01 * (age - 40)
    score = _sigmoid(logit)
    label = (rng.random(n) < score).astype(int)
    frame = pd.DataFrame({
        "age": age, "income": income, "amount": amount, "tenure_days": tenure,
        "country": country, "device": device,
        "score": score.round(6), "prediction": (score >= 0.5).astype(int), "label": label,
    })
    frame["status"] = np.where(rng.random(n) < 0.01, "error", "ok")
    if drifted:
        frame.loc[rng.random(n) < 0.3, "amount"] = np.nan
        frame["age"] = frame["age"].astype(object)
        frame.loc[rng.random(n) < 0.01, "age"] = "n/a"  # an upstream bug: text in a numeric field
    return frame


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def write_reference(folder: Path, rng: np.random.Generator, n: int = 5000) -> Path:
    path = folder / "reference.parquet"
    simulate(rng, n).drop(columns=["status"]).to_parquet(path, index=False)
    return path


def demo_config(folder: Path, port: int, host: str, interval: str) -> dict[str, object]:
    return {
        "interval": interval,
        "server": {"host": host, "port": port},
        "state_dir": "state",
        "models": [{
            "name": MODEL_NAME,
            "task": "binary_classification",
            "reference": "reference.parquet",
            "predictions": {"path": "predictions/*.jsonl", "timestamp_column": "ts", "id_column": "request_id"},
            "labels": {"path": "labels/*.jsonl", "id_column": "request_id", "label_column": "label"},
            "features": {"numeric": ["age", "income", "amount", "tenure_days"], "categorical": ["country", "device"]},
            "prediction_column": "prediction",
            "score_column": "score",
            "label_column": "label",
            "latency_column": "latency_ms",
            "latency_unit": "ms",
            "error_column": "status",
            "segments": ["device"],
            "version": "1.4.0",
            "trained_at": "2026-01-15T00:00:00Z",
            "max_model_age": "365d",
            "windows": ["1m", "5m", "1h"],
            "drift": {"method": "psi", "threshold": 0.2, "categorical_method": "js", "categorical_threshold": 0.1},
            "min_window_rows": 30,
        }],
    }


class TrafficWriter:
    """Appends simulated predictions (and, later, their labels) to JSONL logs in a thread."""

    def __init__(self, folder: Path, rate: float, drift_after: float, label_delay: float = 20.0, seed: int = 7,
                 recover_after: float | None = None):
        self.folder = folder
        self.rate = rate
        self.drift_after = drift_after
        self.recover_after = recover_after
        self.label_delay = label_delay
        self.rng = np.random.default_rng(seed)
        self.stop_event = threading.Event()
        self.started = time.time()
        self._pending: list[tuple[float, str, int]] = []
        self.thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)

    def drifted_at(self, now: float) -> bool:
        """Drifted from ``drift_after`` seconds after start until ``recover_after`` (if set)."""
        elapsed = now - self.started
        return elapsed >= self.drift_after and (self.recover_after is None or elapsed < self.recover_after)

    def start(self) -> None:
        (self.folder / "predictions").mkdir(parents=True, exist_ok=True)
        (self.folder / "labels").mkdir(parents=True, exist_ok=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)

    def write_once(self, now: float, n: int) -> None:
        drifted = self.drifted_at(now)
        frame = simulate(self.rng, n, drifted)
        hour = time.strftime("%Y%m%d%H", time.gmtime(now))
        latency = self.rng.lognormal(np.log(0.035 if not drifted else 0.06), 0.6, n) * 1000
        lines = []
        for i, row in enumerate(frame.to_dict("records")):
            rid = uuid.UUID(int=int(self.rng.integers(0, 2**63)) << 64 | i).hex
            label = int(row.pop("label"))
            record = {"ts": round(now - self.rng.random() * 0.5, 3), "request_id": rid,
                      "latency_ms": round(float(latency[i]), 3),
                      **{k: (None if isinstance(v, float) and np.isnan(v) else _plain(v)) for k, v in row.items()}}
            lines.append(json.dumps(record))
            if self.rng.random() < 0.8:
                self._pending.append((now + self.label_delay, rid, label))
        with open(self.folder / "predictions" / f"predictions-{hour}.jsonl", "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        due = [p for p in self._pending if p[0] <= now]
        if due:
            self._pending = [p for p in self._pending if p[0] > now]
            with open(self.folder / "labels" / f"labels-{hour}.jsonl", "a", encoding="utf-8") as handle:
                handle.write("".join(json.dumps({"request_id": r, "label": y, "ts": now}) + "\n" for _, r, y in due))

    def _run(self) -> None:
        period = 0.5
        while not self.stop_event.wait(period):
            n = int(self.rng.poisson(self.rate * period))
            if n:
                self.write_once(time.time(), n)


def prepare_demo(folder: Path, port: int = 9108, host: str = "127.0.0.1", interval: str = "2s") -> Path:
    """Write reference and config into ``folder`` (kept if present); returns the config path."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "reference.parquet").exists():
        write_reference(folder, np.random.default_rng(1))
    config_path = folder / "model-monitor.yaml"
    config_path.write_text(yaml.safe_dump(demo_config(folder, port, host, interval), sort_keys=False))
    return config_path


def cmd_demo(args: argparse.Namespace) -> int:
    from exporter.commands.serve import cmd_serve  # the HTTP server's modules: serve only

    config_path = prepare_demo(args.dir.resolve(), args.port, args.host, args.interval)
    writer = TrafficWriter(args.dir.resolve(), args.rate, args.drift_after, label_delay=args.label_delay)
    writer.start()
    print(f"model-monitor demo: a simulated model logs {args.rate:g} predictions/s to "
          f"{args.dir.resolve() / 'predictions'}; drift starts after {args.drift_after:g}s", flush=True)
    try:
        return cmd_serve(config_path, None)
    finally:
        writer.stop()
