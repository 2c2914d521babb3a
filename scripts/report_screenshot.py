"""Regenerate the README's picture of the report (docs/report.png) from the real page.

    python scripts/report_screenshot.py [--out docs/report.png] [--width 1280] [--height 2000]

The demo model's traffic (the simulator of ``model-monitor demo``, seeded) is written for two minutes of
simulated time, drifting for the last 30 seconds, into a temporary folder; ``model-monitor report`` renders the
model's report at the end of those two minutes (the window it opens by default), and headless Chromium
(Debian's ``chromium``) takes the screenshot. ``tests/publish/test_report.py`` runs this script, so it keeps
working as the page changes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--hide-scrollbars")


def write_traffic(folder: Path, end: float, seconds: float = 120.0, drift_after: float = 60.0) -> Path:
    """The demo's reference, config and ``seconds`` of its logs ending at ``end``; the config's path."""
    from exporter.commands.demo import TrafficWriter, prepare_demo

    config = prepare_demo(folder)
    writer = TrafficWriter(folder, rate=40.0, drift_after=drift_after, label_delay=10.0, seed=7)
    writer.started = end - seconds
    (folder / "predictions").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    step = 0.5
    for k in range(int(seconds / step)):
        writer.write_once(writer.started + k * step, int(writer.rng.poisson(writer.rate * step)))
    return config


def screenshot(html: Path, out: Path, width: int, height: int) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not installed (scripts/test.sh installs it)")
    with tempfile.TemporaryDirectory() as profile:
        process = subprocess.Popen([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                    f"--window-size={width},{height}", f"--screenshot={out}", html.as_uri()],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            process.wait(timeout=60)
        finally:  # its helper processes share its group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2000)
    args = parser.parse_args()
    from exporter.cli import main as cli

    with tempfile.TemporaryDirectory(prefix="report-screenshot-") as tmp:
        folder = Path(tmp)
        end = 1_800_000_000.0
        config = write_traffic(folder / "demo", end, seconds=120.0, drift_after=90.0)
        html = folder / "report.html"
        code = cli(["--log-level", "ERROR", "report", "--config", str(config), "--now", str(end), "--out", str(html)])
        if code:
            raise SystemExit(code)
        screenshot(html, args.out.resolve(), args.width, args.height)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
