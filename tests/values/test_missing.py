"""One notion of missing in every format: null, NaN, an empty CSV cell and blank text by default, and the tokens a
model declares (``missing_values``), matched the same way whatever carries them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from exporter.cli import main
from exporter.config import ConfigError, parse_config
from exporter.values.missing import tokens
from tests.helpers import write_config

#: pandas' and Arrow's default null tokens: values, unless a model declares them missing.
NULL_LOOKALIKES = ["n/a", "NA", "N/A", "null", "NULL", "NaN", "nan", "#N/A", "#NA", "-NaN", "-nan", "1.#QNAN"]


@pytest.mark.parametrize("series", [
    pd.Series(["NA", "x", "-999", "-999.0", None, "na", " NA"], dtype=object),
    pd.Series(["NA", "x", "-999", "-999.0", None, "na", " NA"], dtype="string[pyarrow]"),
    pd.Series(["NA", "x", "-999", "-999.0", None, "na", " NA"], dtype="str"),
], ids=["object", "arrow", "str"])
def test_text_tokens_match_as_written_and_numeric_text_by_value(series: pd.Series) -> None:
    missing = tokens(["NA", -999]).mask(series)
    np.testing.assert_array_equal(missing, [True, False, True, True, False, False, False])


def test_numbers_match_numeric_tokens_and_never_text_ones() -> None:
    found = tokens(["NA", "-999"])
    np.testing.assert_array_equal(found.mask(pd.Series([1.0, -999.0, np.nan])), [False, True, False])
    np.testing.assert_array_equal(found.mask(pd.Series([1, -999], dtype=np.int64)), [False, True])
    np.testing.assert_array_equal(found.mask(pd.Series([True, False])), [False, False])
    mixed = pd.Series(["NA", 1, True, -999, -999.0, "b", None], dtype=object)  # JSON Lines
    np.testing.assert_array_equal(found.mask(mixed), [True, False, False, True, True, False, False])
    assert not tokens([]).mask(pd.Series(["NA"])).any()


def test_applied_tokens_become_missing_values_of_the_column_s_kind() -> None:
    found = tokens([-1])
    numbers = found.apply(pd.Series([3, -1, 2], dtype=np.int64))
    assert numbers.dtype == np.float64 and numbers.isna().tolist() == [False, True, False]
    text = found.apply(pd.Series(["-1", "a"], dtype="string[pyarrow]"))
    assert text.isna().tolist() == [True, False]


@pytest.mark.parametrize("token", [True, "", "  ", None, [1]])
def test_a_token_yaml_would_misread_or_that_means_nothing_is_refused(tmp_path: Path, token: object) -> None:
    (tmp_path / "r.parquet").write_bytes(b"")
    data = {"models": [{"name": "m", "task": "regression", "reference": str(tmp_path / "r.parquet"),
                        "predictions": {"path": "logs/*.jsonl"}, "missing_values": [token]}]}
    with pytest.raises(ConfigError, match="missing_values"):
        parse_config(data)


def _write(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".csv":
        path.write_text(frame.to_csv(index=False))
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in frame.to_dict("records")))
    else:
        frame.to_parquet(path)


def _check(tmp_path: Path, reference: str, log: str, capsys: pytest.CaptureFixture[str],
           **model: object) -> dict[tuple[str, str], float]:
    """``check``'s feature metrics of a CSV, JSON Lines or Parquet reference and log of the same rows: half of the
    ``country`` values are ``NA`` (Namibia, or missing), the rest ``DE``; ``x`` holds -999 where unknown."""
    now = 1_800_000_000.0
    rng = np.random.default_rng(1)
    n = 400
    frame = pd.DataFrame({"country": np.where(np.arange(n) % 2 == 0, "NA", "DE"),
                          "x": np.where(np.arange(n) % 4 == 0, -999.0, rng.normal(0, 1, n)),
                          "prediction": rng.normal(0, 1, n)})
    folder = tmp_path / f"{reference}-{log}"
    (folder / "logs").mkdir(parents=True)
    _write(frame, folder / f"reference.{reference}")
    _write(frame.assign(ts=now - 30), folder / "logs" / f"a.{log}")
    config = write_config(folder / "monitor.yaml", {"models": [{
        "name": "m", "task": "regression", "reference": f"reference.{reference}",
        "predictions": {"path": f"logs/*.{log}", "timestamp_column": "ts"}, "prediction_column": "prediction",
        "windows": ["5m"], "features": {"numeric": ["x"], "categorical": ["country"]}, **model}]})
    assert main(["--log-level", "ERROR", "check", "--config", str(config), "--now", str(now)]) == 0
    samples = json.loads(capsys.readouterr().out)["metrics"]
    return {(s["name"], s["labels"]["feature"]): s["value"] for s in samples
            if "feature" in s["labels"] and "window" in s["labels"]}


@pytest.mark.parametrize(("reference", "log"), [("csv", "parquet"), ("parquet", "csv"), ("jsonl", "csv"),
                                                ("csv", "jsonl")])
def test_every_format_reads_the_same_rows_the_same_way(tmp_path: Path, reference: str, log: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Without tokens ``NA`` is a category everywhere; with ``missing_values: [NA, -999]`` it is missing everywhere."""
    plain = _check(tmp_path / "plain", reference, log, capsys)
    assert plain[("model_feature_missing_ratio", "country")] == 0.0
    assert plain[("model_feature_new_category_ratio", "country")] == 0.0
    assert plain[("model_feature_drifted", "country")] == 0.0
    assert plain[("model_feature_out_of_range_ratio", "x")] == 0.0  # -999 is a value of the reference too
    declared = _check(tmp_path / "declared", reference, log, capsys, missing_values=["NA", -999])
    assert declared[("model_feature_missing_ratio", "country")] == 0.5
    assert declared[("model_feature_missing_ratio", "x")] == 0.25
    assert declared[("model_feature_new_category_ratio", "country")] == 0.0
    assert declared[("model_feature_drifted", "x")] == declared[("model_feature_drifted", "country")] == 0.0
    same = _check(tmp_path / "same", "parquet", "parquet", capsys, missing_values=["NA", -999])
    assert same == declared


def test_a_feature_s_own_tokens_replace_the_model_s(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    metrics = _check(tmp_path, "csv", "csv", capsys, missing_values=["NA", -999],
                     quality={"features": {"x": {"missing_values": []}, "country": {"missing_values": ["DE"]}}})
    assert metrics[("model_feature_missing_ratio", "x")] == 0.0
    assert metrics[("model_feature_missing_ratio", "country")] == 0.5  # DE now, not NA


@pytest.mark.parametrize("token", NULL_LOOKALIKES)
def test_pandas_null_lookalikes_are_values_in_csv_by_default(tmp_path: Path, token: str) -> None:
    from exporter.sources.tables import read_table

    path = tmp_path / "t.csv"
    path.write_text(f"c,n\n{token},1\nx,\n")
    frame = read_table(path)
    assert frame["c"].tolist()[0] == token and pd.isna(frame["n"].tolist()[1])
    assert pa.array(frame["c"]).null_count == 0
