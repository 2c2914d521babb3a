"""Multivariate drift: Model Monitor's PCA reconstruction error beside NannyML 0.13's, per chunk.

    .venv-bench/bin/python -m benchmarks.multivariate_nannyml [--fixture tests/data/nannyml_car_price]

In the benchmark environment (benchmarks/run-peers.sh creates it), on the data of ``benchmarks.dle_nannyml``
(NannyML's synthetic car prices, chunks of 6,000 rows): NannyML's ``DataReconstructionDriftCalculator`` with
its defaults, and Model Monitor's reconstruction built as ``serve`` builds it from the reference file, each
chunk's rows binned as logged rows are. ``--fixture DIR`` writes NannyML's per-chunk values beside the data
for ``tests/baseline/test_multivariate.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.dle_nannyml import CHUNK, FEATURES, car_price_baseline, load

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")


def nannyml_errors(reference: pd.DataFrame, analysis: pd.DataFrame) -> dict[str, list[float]]:
    import nannyml as nml

    calculator = nml.DataReconstructionDriftCalculator(column_names=FEATURES, chunk_size=CHUNK)
    calculator.fit(reference)
    data = calculator.calculate(analysis).filter(period="analysis").to_df()
    return {"value": [float(v) for v in data[("reconstruction_error", "value")]],
            "upper_threshold": [float(v) for v in data[("reconstruction_error", "upper_threshold")]],
            "lower_threshold": [float(v) for v in data[("reconstruction_error", "lower_threshold")]]}


def model_monitor_errors(reference: pd.DataFrame, analysis: pd.DataFrame, folder: Path) -> list[float]:
    from exporter.prepare.rows import Rejections, bin_features

    baseline = car_price_baseline(reference, folder, dle=False)
    reconstruction = baseline.reference.multivariate
    assert reconstruction is not None
    return [float(reconstruction.errors(bin_features(analysis.iloc[start:start + CHUNK], baseline.reference,
                                                     Rejections()).inputs()).mean())
            for start in range(0, len(analysis), CHUNK)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", type=Path, help="write NannyML's per-chunk values for the tests here")
    args = parser.parse_args(argv)
    import nannyml

    reference, analysis = load()
    theirs = nannyml_errors(reference, analysis)
    with tempfile.TemporaryDirectory() as folder:
        ours = model_monitor_errors(reference, analysis, Path(folder))
    print(f"NannyML {nannyml.__version__}, pandas {pd.__version__}\n")
    print("| chunk | Model Monitor | NannyML | relative difference | NannyML's band |")
    print("| ---: | ---: | ---: | ---: | --- |")
    for i, (a, b) in enumerate(zip(ours, theirs["value"], strict=True)):
        band = f"{theirs['lower_threshold'][i]:.4f} to {theirs['upper_threshold'][i]:.4f}"
        print(f"| {i} | {a:.6f} | {b:.6f} | {(a - b) / b:+.2e} | {band} |")
    print(f"\nlargest relative difference: {np.max(np.abs(np.array(ours) / np.array(theirs['value']) - 1)):.2e}")
    if args.fixture:
        args.fixture.mkdir(parents=True, exist_ok=True)
        document = {"nannyml": nannyml.__version__, "chunk_size": CHUNK, "reconstruction_error": theirs}
        (args.fixture / "nannyml_multivariate.json").write_text(json.dumps(document, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
