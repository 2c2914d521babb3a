"""Hostile names and values from a log, through a live ``serve``: ``/metrics``, ``/`` and ``/report``.

Feature names and category values come from whoever writes the log, model names from whoever writes the
config. Holding HTML, quotes, newlines or 10,000 characters, each must come out escaped: the label of a
sample in ``/metrics`` parses back to exactly the name, and the report rendered by a real headless
Chromium runs no script, makes no element of the payload, and stays as wide as the window.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import write_config
from tests.processes import LOOPBACK, free_port, run_chromium, start_exporter, wait_for

pytestmark = pytest.mark.integration

#: Each sets the page's title or adds an element with id "pwned" if it ever runs or parses as markup.
SCRIPT = "<script>document.title='PWNED'</script>"
IMAGE = "<img src=x onerror=\"document.title='PWNED'\">"
BREAKOUT = "\"><b id='pwned'>x</b><svg onload=\"document.title='PWNED'\">"
MODEL = "fraud <script>document.title='PWNED'</script> \"q\" 'a'\nline two"
FEATURES = {  # feature name -> its kind
    f"amount {SCRIPT}": "numeric",
    "quote\"s and 'apostrophes'\nand a newline": "numeric",
    "w" * 10_000: "numeric",
    f"country {BREAKOUT}": "categorical",
}
LONG_VALUE = "v" * 10_000
VALUES = ["US", "DE", SCRIPT, IMAGE, "line\nbreak \"quoted\"", LONG_VALUE]
WIDTH = 1280


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: set[str] = set()
        self.handlers: list[str] = []
        self.title = ""
        self.width: str | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        self.ids.add(values.get("id") or "")
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        self.width = values.get("data-width", self.width)
        self._in_title = tag == "title"

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False


def _dom(html: str) -> _Dom:
    dom = _Dom()
    dom.feed(html)
    return dom


def _write(folder: Path) -> Path:
    rng = np.random.default_rng(11)
    names = list(FEATURES)

    def frame(n: int) -> pd.DataFrame:
        data = {name: rng.normal(0, 1, n) for name, kind in FEATURES.items() if kind == "numeric"}
        data[names[3]] = rng.choice(VALUES, n)
        data["score"] = rng.random(n)
        data["prediction"] = (data["score"] > 0.5).astype(int)
        return pd.DataFrame(data)

    frame(3000).to_parquet(folder / "reference.parquet")
    log = frame(400)
    log["ts"] = time.time() - 30
    (folder / "logs").mkdir()
    log.to_json(folder / "logs" / "a.jsonl", orient="records", lines=True)
    return write_config(folder / "monitor.yaml", {"interval": "1s", "state_dir": str(folder / "state"), "models": [{
        "name": MODEL, "task": "binary_classification", "reference": "reference.parquet",
        "predictions": {"path": "logs/*.jsonl", "timestamp_column": "ts"},
        "features": {"numeric": names[:3], "categorical": [names[3]]},
        "prediction_column": "prediction", "score_column": "score", "windows": ["1h"], "min_window_rows": 10}]})


def test_hostile_names_are_escaped_on_metrics_the_index_and_the_report(tmp_path: Path) -> None:
    config = _write(tmp_path)
    port = free_port()
    process = start_exporter(config, port, tmp_path / "exporter.log")
    base = f"http://{LOOPBACK}:{port}"
    try:
        query = urllib.parse.urlencode({"model": MODEL, "window": "1h"})

        def report() -> str | None:  # 503 until the first update has computed the window
            with requests.get(f"{base}/report?{query}", timeout=10) as response:
                assert response.status_code in (200, 503), response.text[:500]
                return response.text if response.status_code == 200 else None

        report_html = wait_for(report, 60, "the report")
        with requests.get(f"{base}/metrics", timeout=5) as metrics:
            exposition = metrics.text
        with requests.get(f"{base}/report", timeout=5) as index:  # the index of every model's reports
            index_html = index.text
        assert "fraud &lt;script&gt;document.title=" in index_html
    finally:
        process.stop()

    # /metrics: every label parses back to exactly the name it carries.
    labels = [s.labels for family in text_string_to_metric_families(exposition) for s in family.samples]
    assert {lab["model"] for lab in labels if "model" in lab} == {MODEL}
    assert {lab["feature"] for lab in labels if "feature" in lab} >= set(FEATURES)

    # The index and the report, as served: the payloads are text, never markup.
    for html in (index_html, report_html):
        dom = _dom(html)
        assert "script" not in dom.tags and "img" not in dom.tags
        assert dom.handlers == [] and "pwned" not in dom.ids
    assert "&lt;script&gt;document.title=" in report_html
    page = _dom(report_html)
    assert page.tags.count("article") == len(FEATURES)

    # Headless Chromium: nothing ran, nothing was made of the payload, and the page keeps the window's width
    # (a script of the test's own, added to a copy, measures it: the page itself has none).
    served = tmp_path / "report.html"
    served.write_text(report_html, encoding="utf-8")
    rendered = _dom(run_chromium(["--dump-dom", served.as_uri()], tmp_path / "chromium.log"))
    assert rendered.title.startswith("fraud <script>") and "pwned" not in rendered.ids  # the name, as text
    assert {"script", "img"}.isdisjoint(rendered.tags) and rendered.handlers == []
    measured = tmp_path / "measured.html"
    probe = ("<script>document.body.setAttribute('data-width', JSON.stringify("
             "[document.documentElement.scrollWidth, window.innerWidth]))</script></body>")
    measured.write_text(report_html.replace("</body>", probe), encoding="utf-8")
    dom = _dom(run_chromium([f"--window-size={WIDTH},2000", "--dump-dom", measured.as_uri()],
                            tmp_path / "chromium-width.log"))
    assert dom.width is not None, "the probe did not run"
    scroll_width, inner_width = json.loads(dom.width)
    assert scroll_width <= inner_width, f"the page is {scroll_width}px wide in a {inner_width}px window"
