"""The HTML report: every feature, sorted by impact, its distributions from the exporter's bins, self-contained."""

from __future__ import annotations

import json
import re
import struct
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from exporter.cli import main
from tests.helpers import check_samples, write_config
from tests.processes import run_chromium

NOW = 1_800_000_000.0


class _Page(HTMLParser):
    """The features of a report in page order, each with its chart's bar texts."""

    def __init__(self) -> None:
        super().__init__()
        self.features: list[str] = []
        self.texts: dict[str, list[str]] = {}
        self.tags: set[str] = set()
        self._in_text = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        if tag == "article" and values.get("data-feature"):
            self.features.append(values["data-feature"] or "")
            self.texts[self.features[-1]] = []
        self._in_text = tag == "text"

    def handle_data(self, data: str) -> None:
        if self._in_text and self.features:
            self.texts[self.features[-1]].append(data.strip())

    def handle_endtag(self, tag: str) -> None:
        self._in_text = False


def _setup(tmp_path: Path, n_numeric: int = 3, rows: int = 400) -> tuple[Path, pd.DataFrame]:
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({f"x{i}": rng.normal(0, 1, 4000) for i in range(n_numeric)})
    reference["country"] = rng.choice(["US", "DE", "FR"], 4000, p=[0.5, 0.3, 0.2])
    reference["score"] = rng.random(4000)
    reference["prediction"] = (reference["score"] > 0.5).astype(int)
    reference["label"] = (rng.random(4000) < reference["score"]).astype(int)
    reference.to_parquet(tmp_path / "reference.parquet")
    current = pd.DataFrame({f"x{i}": rng.normal(0, 1, rows) for i in range(n_numeric)})
    current["x1"] = rng.normal(1.5, 1, rows)  # drifts a lot
    current["country"] = rng.choice(["US", "DE", "FR", "XX"], rows, p=[0.3, 0.3, 0.2, 0.2])  # XX is new
    current["score"] = rng.random(rows)
    current["prediction"] = (current["score"] > 0.5).astype(int)
    current["label"] = (rng.random(rows) < current["score"]).astype(int)
    current["ts"] = NOW - 600
    (tmp_path / "logs").mkdir()
    current.to_json(tmp_path / "logs" / "a.jsonl", orient="records", lines=True)
    config = write_config(tmp_path / "monitor.yaml", {"models": [{
        "name": "fraud <&> model", "task": "binary_classification", "reference": "reference.parquet",
        "predictions": {"path": "logs/*.jsonl", "timestamp_column": "ts"},
        "features": {"numeric": [f"x{i}" for i in range(n_numeric)], "categorical": ["country"]},
        "prediction_column": "prediction", "score_column": "score", "label_column": "label",
        "windows": ["15m", "1h"], "drift": {"method": "ks", "threshold": 0.1}}]})
    return config, current


def _report(tmp_path: Path, config: Path, *extra: str) -> str:
    out = tmp_path / "report.html"
    assert main(["--log-level", "ERROR", "report", "--config", str(config), "--now", str(NOW), "--out", str(out),
                 *extra]) == 0
    return out.read_text(encoding="utf-8")


def _shares(texts: list[str]) -> dict[str, tuple[float, float]]:
    """{bin label: (reference share, window share)} from a chart's texts ("US", "50.00% → 30.25%", ...)."""
    out = {}
    for label, shares in zip(texts[::2], texts[1::2], strict=True):
        ref, win = re.findall(r"([\d.]+)%", shares)
        out[label] = (float(ref) / 100, float(win) / 100)
    return out


def test_the_report_shows_every_feature_most_urgent_first_with_its_distributions(tmp_path: Path) -> None:
    config, current = _setup(tmp_path)
    html = _report(tmp_path, config, "--window", "1h")
    page = _Page()
    page.feed(html)
    assert sorted(page.features) == ["country", "x0", "x1", "x2"]
    assert page.features[:2] == ["x1", "country"]  # x1: ks far past 0.1; country: new values and drift
    # Each bar is the share of the window's values in the bin, as the rows say.
    countries = _shares(page.texts["country"])
    observed = current["country"].value_counts(normalize=True)
    for value in ("US", "DE", "FR"):
        assert countries[value][1] == pytest.approx(observed[value], abs=5e-5)
    assert countries["(new)"] == (0.0, pytest.approx(observed["XX"], abs=5e-5))
    assert countries["US"][0] == pytest.approx(0.5, abs=0.02)
    x1 = _shares(page.texts["x1"])
    assert sum(win for _, win in x1.values()) == pytest.approx(1.0, abs=1e-3)
    assert sum(ref for ref, _ in x1.values()) == pytest.approx(1.0, abs=1e-3)
    top = list(x1)[-1]  # "[1.24, 4.062]": the reference's top decile, where the shifted values pile up
    low, high = (float(v) for v in top.strip("[]").split(", "))
    inside = (current["x1"] >= low) & (current["x1"] <= high)
    assert x1[top][1] == pytest.approx(float(inside.mean()), abs=0.005) and x1[top][1] > 0.4
    # Self-contained: nothing to fetch; names from the config are escaped.
    assert not page.tags & {"script", "link", "img", "iframe"} and "url(" not in html and "src=" not in html
    assert "fraud &lt;&amp;&gt; model" in html and "fraud <&> model" not in html
    assert "realized" in html.lower() and "roc_auc" in html


def test_report_refuses_an_unknown_window_or_model(tmp_path: Path, capsys) -> None:
    config, _ = _setup(tmp_path)
    assert main(["report", "--config", str(config), "--window", "2h", "--out", str(tmp_path / "r.html")]) == 2
    assert "has no window '2h' (windows: 15m, 1h)" in capsys.readouterr().err
    assert main(["report", "--config", str(config), "--model", "other", "--out", str(tmp_path / "r.html")]) == 2
    assert "no model 'other'" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.integration
def test_chromium_renders_every_feature_on_screen_and_in_print(tmp_path: Path) -> None:
    """50 features, rendered by a real headless Chromium: the DOM after layout has every feature and chart."""
    config, _ = _setup(tmp_path, n_numeric=49)
    _report(tmp_path, config, "--window", "15m")
    url = (tmp_path / "report.html").as_uri()
    dom = run_chromium(["--dump-dom", url], tmp_path / "chromium-dom.log")
    page = _Page()
    page.feed(dom)
    assert sorted(page.features) == sorted([f"x{i}" for i in range(49)] + ["country"])
    assert all(page.texts[f] for f in page.features)  # every feature has its chart
    shot = tmp_path / "report.png"
    run_chromium(["--window-size=1280,2400", f"--screenshot={shot}", url], tmp_path / "chromium-shot.log")
    assert _png_size(shot) == (1280, 2400)
    pdf = tmp_path / "report.pdf"
    run_chromium(["--no-pdf-header-footer", f"--print-to-pdf={pdf}", url], tmp_path / "chromium-pdf.log")
    data = pdf.read_bytes()
    assert data[:5] == b"%PDF-" and len(re.findall(rb"/Type\s*/Page\b(?!s)", data)) >= 2  # 50 cards: several pages


class _Severities(HTMLParser):
    """The severities of the failed checks listed in the page's "Failed checks" section, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.section = ""
        self.severities: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "section":
            self.section = values.get("id") or ""
        if tag == "li" and self.section == "failed-checks" and values.get("data-severity"):
            self.severities.append(values["data-severity"] or "")


def test_a_paging_check_comes_first_with_its_severity_missing_share_and_window(tmp_path: Path) -> None:
    """The incident of the issue: ``amount`` 32% missing against its limit (a critical check, which pages)
    beside features that drift (warnings): amount's card comes first, marked as paging, its missing share
    beside its histogram; the report opens on the shortest window that pages and links the other windows."""
    config, current = _setup(tmp_path)
    rng = np.random.default_rng(3)
    reference = pd.read_parquet(tmp_path / "reference.parquet")
    reference["amount"] = rng.exponential(80, len(reference))
    reference.to_parquet(tmp_path / "reference.parquet")
    amount = rng.exponential(80, len(current))
    amount[rng.random(len(current)) < 0.32] = np.nan
    current["amount"] = amount
    current.to_json(tmp_path / "logs" / "a.jsonl", orient="records", lines=True)
    data = yaml.safe_load(config.read_text())
    data["models"][0]["features"]["numeric"].append("amount")
    write_config(config, data)
    html = _report(tmp_path, config)  # no --window
    page = _Page()
    page.feed(html)
    assert page.features[0] == "amount" and "x1" in page.features[1:3]
    assert "Window <strong>15m</strong>" in html  # the shortest window with a paging check, not the longest
    assert re.search(r'data-window="1h">\(\d+ failed, worst: page\)', html)
    severities = _Severities()
    severities.feed(html)
    assert severities.severities[0] == "critical" and "warning" in severities.severities
    assert severities.severities == sorted(severities.severities, key=["critical", "warning"].index)
    missing = float(np.isnan(amount).mean())
    card = html[html.index('data-feature="amount"'):]
    card = card[: card.index("</article>")]
    assert f"missing: <b class=\"bad\">{100 * missing:.2f}%</b>" in card
    assert f"Histogram of the values present ({100 * (1 - missing):.2f}% of the rows)" in card
    assert "amount completeness check failed" in card and ">page</span>" in card
    # Since when: every row is in one bucket, 10 minutes before the report's time.
    assert "failing since 2027-01-15 07:50:00 UTC or earlier (the window&#39;s first bucket)" in html


@pytest.mark.integration
def test_the_readme_picture_is_made_from_the_real_page(tmp_path: Path) -> None:
    """scripts/report_screenshot.py (which made docs/report.png) renders the demo's real report in Chromium."""
    import subprocess
    import sys

    out = tmp_path / "report.png"
    done = subprocess.run([sys.executable, str(Path(__file__).parents[2] / "scripts" / "report_screenshot.py"),
                           "--out", str(out), "--width", "1000", "--height", "1500"], capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _png_size(out) == (1000, 1500)
    assert _png_size(Path(__file__).parents[2] / "docs" / "report.png") == (1280, 2000)


def test_the_report_shows_the_models_world_as_check_computes_it(tmp_path: Path, capsys) -> None:
    """Label drift, multivariate drift, the concept-drift gap and the confidence's drift, with the numbers that
    ``check`` exports for the same window."""
    config, _ = _setup(tmp_path)
    html = _report(tmp_path, config, "--window", "1h")
    samples = check_samples(config, NOW, capsys)

    def value(name: str, **labels: str) -> float:
        key = json.dumps([name, sorted({"model": "fraud <&> model", "window": "1h", **labels}.items())])
        return samples[key]

    label = re.search(r'id="label-drift">.*?<b>([^<]+)</b>', html, re.S)
    assert label and float(label.group(1)) == pytest.approx(value("model_label_drift_score", method="js"), rel=1e-3)
    multivariate = re.search(r'id="multivariate-drift">.*?<b>([^<]+)</b>', html, re.S)
    assert multivariate and float(multivariate.group(1)) == pytest.approx(value("model_multivariate_drift_score"),
                                                                           rel=1e-3)
    gap = value("model_performance_estimation_gap", metric="accuracy")
    row = re.search(r"<td>accuracy</td>(.*?)</tr>", html, re.S)
    assert row and f"{gap:.4g}" in row.group(1)  # the Gap column
    for kind in ("realized", "estimated"):  # NannyML's band: 3 sampling errors
        error = value("model_performance_sampling_error", kind=kind, metric="accuracy")
        assert f"± {3 * error:.4g}" in row.group(1)
    assert value("model_prediction_drift_score", method="psi", output="confidence") >= 0
    assert re.search(r"<td>confidence</td>", html)
