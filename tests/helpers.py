"""Shared builders for tests: references, configs and log files written for real."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from exporter.baseline.reference import Reference, build_reference
from exporter.config import ModelConfig, parse_config
from tests.processes import LOOPBACK


def reference_frame(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.normal(40, 10, n),
        "income": rng.lognormal(10, 0.5, n),
        "country": rng.choice(["US", "DE", "FR"], n, p=[0.5, 0.3, 0.2]),
        "score": rng.random(n),
        "prediction": rng.integers(0, 2, n),
        "label": rng.integers(0, 2, n),
    })


def model_config(tmp: Path, **overrides: Any) -> ModelConfig:
    """A validated model config over files in ``tmp`` (reference written if missing)."""
    ref = tmp / "reference.parquet"
    if not ref.exists():
        reference_frame().to_parquet(ref)
    data = {
        "interval": "1s",
        "state_dir": str(tmp / "state"),
        "models": [{
            "name": "m",
            "task": "binary_classification",
            "reference": str(ref),
            "predictions": {"path": str(tmp / "logs" / "*.jsonl"), "timestamp_column": "ts", "id_column": "id"},
            "prediction_column": "prediction",
            "score_column": "score",
            "label_column": "label",
            "windows": ["5m", "1h"],
            "drift": {"method": "ks", "threshold": 0.1},
            "min_window_rows": 10,
            **overrides,
        }],
    }
    return parse_config(data, base=tmp).models[0]


def reference_for(config: ModelConfig) -> Reference:
    return build_reference(config, pd.read_parquet(config.reference))


def write_jsonl(path: Path, rows: list[dict[str, Any]], mode: str = "a") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, mode, encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")


def rows_at(ts: float, n: int, seed: int = 1, shift: float = 0.0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {"ts": ts, "id": f"r{seed}-{i}", "age": float(rng.normal(40 + shift, 10)),
         "income": float(rng.lognormal(10, 0.5)), "country": str(rng.choice(["US", "DE", "FR"])),
         "score": float(rng.random()), "prediction": int(rng.integers(0, 2))}
        for i in range(n)
    ]


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


#: Series of `check` that differ between any two runs (the clock of the run itself).
VOLATILE = frozenset({"model_monitor_last_success_timestamp_seconds", "model_monitor_last_run_duration_seconds"})


def check_samples(config: Path, now: float, capsys: Any) -> dict[str, Any]:
    """Every sample `model-monitor check --format json` prints for ``config`` at ``now``, by name and labels
    (the volatile ones left out), so two ways of computing the same metrics can be compared."""
    from exporter.cli import main

    capsys.readouterr()
    assert main(["--log-level", "ERROR", "check", "--config", str(config), "--now", str(now)]) == 0
    samples = json.loads(capsys.readouterr().out)["metrics"]
    return {json.dumps([s["name"], sorted(s["labels"].items())]): s["value"] for s in samples
            if s["name"] not in VOLATILE}


#: What needs each row's features, absent under sql.pushdown (docs/concepts/consistency.md): multivariate drift and
#: a regression model's DLE (with the counts of their components' errors).
ROW_ONLY_COMPONENTS = ("multivariate", "dle")


def without_row_only(samples: dict[str, Any]) -> dict[str, Any]:
    """``samples`` (as :func:`check_samples` keys them) without the series of :data:`ROW_ONLY_COMPONENTS`."""
    def row_only(key: str) -> bool:
        name, labels = json.loads(key)
        labels = dict(labels)
        return name.startswith("model_multivariate_") or labels.get("component") in ROW_ONLY_COMPONENTS or (
            labels.get("metric") in ("mae", "mse", "rmse") and (name.startswith(
                ("model_estimated_performance", "model_performance_estimation_gap", "model_concept_drifted"))
                or (name == "model_performance_sampling_error" and labels.get("kind") == "estimated")))
    return {key: value for key, value in samples.items() if not row_only(key)}


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, self-signed (a CA too: it can verify itself as a client's)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "server.crt", folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(f"http://{LOOPBACK}:{port}/metrics", timeout=5).text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value_of(samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))
