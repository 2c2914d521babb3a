"""Incremental reading: every complete row once, partial lines wait, rotation and removal break nothing."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from exporter.sources.files import FileSource


def _read_all(source: FileSource) -> pd.DataFrame:
    chunks, errors = source.read()
    assert errors == []
    for chunk in chunks:
        source.commit(chunk)
    frames = [c.frame for c in chunks if not c.frame.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def test_jsonl_appends_are_read_once_and_partial_lines_wait(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    log.write_text('{"x": 1}\n{"x": 2}\n{"x": 3')  # third line still being written
    source = FileSource(str(tmp_path / "*.jsonl"))
    assert _read_all(source)["x"].tolist() == [1, 2]
    assert _read_all(source).empty
    with open(log, "a") as handle:
        handle.write('}\n{"x": 4}\n')
    assert _read_all(source)["x"].tolist() == [3, 4]
    assert _read_all(source).empty


def test_uncommitted_chunks_are_read_again(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"x": 1}\n')
    source = FileSource(str(tmp_path / "*.jsonl"))
    chunks, _ = source.read()
    assert len(chunks) == 1
    chunks, _ = source.read()  # not committed: the same rows come back
    assert chunks[0].frame["x"].tolist() == [1]


def test_csv_header_is_kept_across_appends(tmp_path: Path) -> None:
    log = tmp_path / "a.csv"
    log.write_text("x,c\n1,a\n")
    source = FileSource(str(tmp_path / "*.csv"))
    assert _read_all(source).to_dict("records") == [{"x": 1, "c": "a"}]
    with open(log, "a") as handle:
        handle.write("2,b\n3,c,extra\n4,d\n")
    chunks, _ = source.read()
    assert chunks[0].frame.to_dict("records") == [{"x": 2, "c": "b"}, {"x": 4, "c": "d"}]
    assert chunks[0].rejected["malformed_csv"] == 1


def test_malformed_json_lines_are_counted_and_the_rest_kept(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b'{"x": 1}\nnot json\n[1, 2]\n\x00\xff\xfe\n{"x": 2}\n')
    source = FileSource(str(tmp_path / "*.jsonl"))
    chunks, _ = source.read()
    assert chunks[0].frame["x"].tolist() == [1, 2]
    assert chunks[0].rejected["malformed_json"] == 3


def test_new_files_rotation_and_removal(tmp_path: Path) -> None:
    first = tmp_path / "a.jsonl"
    first.write_text('{"x": 1}\n')
    source = FileSource(str(tmp_path / "*.jsonl"))
    assert _read_all(source)["x"].tolist() == [1]
    (tmp_path / "b.jsonl").write_text('{"x": 2}\n')
    assert _read_all(source)["x"].tolist() == [2]
    # Rotation: a.jsonl replaced by a new file with the same name (new inode).
    first.rename(tmp_path / "a.jsonl.1")
    (tmp_path / "a.jsonl").write_text('{"x": 3}\n{"x": 4}\n')
    assert sorted(_read_all(source)["x"].tolist()) == [3, 4]
    # Truncated in place below its cursor: read from the start.
    with open(tmp_path / "b.jsonl", "w") as handle:
        handle.write("")
    assert _read_all(source).empty
    os.remove(tmp_path / "a.jsonl")
    assert _read_all(source).empty
    assert str(tmp_path / "a.jsonl") not in source.cursors


def test_parquet_files_are_read_whole_once(tmp_path: Path) -> None:
    pd.DataFrame({"x": [1, 2, 3]}).to_parquet(tmp_path / "a.parquet")
    source = FileSource(str(tmp_path / "*.parquet"))
    assert _read_all(source)["x"].tolist() == [1, 2, 3]
    assert _read_all(source).empty


def test_truncated_parquet_is_reported_once_and_retried_when_it_changes(tmp_path: Path) -> None:
    pd.DataFrame({"x": range(100)}).to_parquet(tmp_path / "good.parquet")
    data = (tmp_path / "good.parquet").read_bytes()
    (tmp_path / "bad.parquet").write_bytes(data[: len(data) // 2])
    source = FileSource(str(tmp_path / "bad.parquet"))
    chunks, _ = source.read()
    assert chunks[0].rejected["unreadable_file"] == 1 and chunks[0].frame.empty
    chunks, _ = source.read()
    assert chunks == []  # same broken file: not reported again
    (tmp_path / "bad.parquet").write_bytes(data)
    assert len(_read_all(source)) == 100


def test_missing_folder_waits_without_error(tmp_path: Path) -> None:
    source = FileSource(str(tmp_path / "not-yet" / "*.jsonl"))
    assert source.read() == ([], [])


def test_one_read_is_bounded_across_files_and_the_rest_follows(tmp_path: Path) -> None:
    for i in range(5):
        pd.DataFrame({"x": range(i * 100, i * 100 + 100)}).to_parquet(tmp_path / f"part-{i}.parquet")
    size = (tmp_path / "part-0.parquet").stat().st_size
    source = FileSource(str(tmp_path / "*.parquet"), max_bytes=2 * size)
    seen = []
    while True:
        chunks, _ = source.read()
        for chunk in chunks:
            source.commit(chunk)
            seen.extend(chunk.frame["x"].tolist())
        assert len(chunks) <= 2
        if not any(chunk.more for chunk in chunks):
            break
    assert sorted(seen) == list(range(500))


#: Lines that crashed or hung a parser once; each must be skipped and counted, the rest parsed.
CRASH_CORPUS = [
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,  # segfault in pyarrow's JSON reader (stack overflow)
    b"[" * 200_000,  # deep and unterminated
    b'{"ts": 1, ' + b", ".join(b'"k%d": %d' % (i, i) for i in range(20_000)) + b"}",  # 20,000 columns
    b'{"ts": 1, "x": ' + b"[" * 70 + b"]" * 70 + b"}",  # just past the default depth
]


@pytest.mark.parametrize("index", range(len(CRASH_CORPUS)))
def test_crash_corpus_lines_are_skipped_and_counted(index: int) -> None:
    from exporter.sources.tables import parse_jsonl

    good = b'{"ts": 1, "x": 2}\n{"ts": 2, "x": [1, {"y": 3}]}\n'
    rejected: Counter[str] = Counter()
    frame = parse_jsonl(good + CRASH_CORPUS[index] + b"\n" + good, rejected)
    assert len(frame) == 4
    assert rejected == {"too_complex": 1}


def _nested(depth: int, kind: str) -> str:
    if kind == "object":
        return '{"a":' * depth + "1" + "}" * depth
    if kind == "array":
        return "[" * depth + "1" + "]" * depth
    return "[" * depth  # unterminated


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(
    st.builds(lambda d, k: '{"ts": 1, "x": ' + _nested(d, k) + "}", st.integers(0, 300),
              st.sampled_from(["object", "array", "broken"])),
    st.builds(lambda n: "{" + ", ".join(f'"k{i}": {i}' for i in range(n)) + "}",
              st.one_of(st.integers(0, 50), st.sampled_from([9_999, 10_001]))),
    st.builds(lambda d: _nested(d, "object"), st.sampled_from([0, 63, 64, 65, 1_000, 100_000])),
    st.text(max_size=40),
), min_size=1, max_size=8))
@example(["1", "{}"])  # found by this test: an empty object after a line that is not one was dropped
def test_fuzz_nested_and_wide_lines_are_parsed_or_counted(lines: list[str]) -> None:
    """Whatever the nesting and width, every non-blank line is a row or a counted rejection, and the
    fast parser never sees a line that could crash it."""
    from exporter.sources.tables import DEFAULT_LIMITS, parse_jsonl

    data = "\n".join(line.replace("\n", " ") for line in lines).encode("utf-8", "replace") + b"\n"
    rejected: Counter[str] = Counter()
    frame = parse_jsonl(data, rejected)
    # A source hands over a view of a chunk's complete lines, not a copy: the same rows and rejections.
    from_view: Counter[str] = Counter()
    pd.testing.assert_frame_equal(parse_jsonl(memoryview(data + b'{"partial": ')[: len(data)], from_view), frame)
    assert from_view == rejected
    non_blank = sum(1 for line in data.split(b"\n") if line.strip())
    assert len(frame) + sum(rejected.values()) == non_blank
    assert set(rejected) <= {"malformed_json", "too_complex"}
    too_deep = sum(1 for line in lines if line.startswith('{"a":' * (DEFAULT_LIMITS.max_depth + 1)))
    assert rejected["too_complex"] >= too_deep


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=120) | st.builds(lambda n, c: c * n, st.integers(0, 80),
                                                     st.sampled_from([b"{", b"[", b"{[", b"\x5b\x7b\xfb\xdb"])),
                max_size=12),
       st.integers(0, 70), st.integers(1, 40), st.sampled_from([1, 7, 64, 1 << 20]))
def test_guarded_lines_are_those_over_the_limits(lines: list[bytes], max_depth: int, max_keys: int,
                                                 block_size: int) -> None:
    """The byte scan that keeps lines from the fast parser finds exactly the lines with more opening
    brackets than ``max_depth`` or longer, with their newline, than 4 x ``max_keys`` (such a line may hold
    more keys), counted line by line in Python, whatever the blocks the bytes are scanned in. The exact
    parser then applies the limits themselves."""
    from exporter.sources.tables import InputLimits, _guarded_lines

    data = b"".join(lines)
    limits = InputLimits(max_depth=max_depth, max_keys=max_keys)
    expected = [i for i, line in enumerate(data.split(b"\n"))
                if line.count(b"{") + line.count(b"[") > max_depth or len(line) + 1 > 4 * max_keys]
    assert _guarded_lines(data, limits, block_size).tolist() == expected


def _drain_ids(source: FileSource, budget: int | None) -> list[int]:
    ids: list[int] = []
    source.drain(lambda chunk: ids.extend(chunk.frame["id"].tolist()), budget)
    return ids


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_a_long_text_log_is_read_once_in_order_through_budgets_and_restarts(tmp_path: Path, kind: str) -> None:
    """Chunk after chunk, the next read and parsed ahead: a budget that stops the read between two chunks
    drops the chunk read ahead (its memory is not held until the next update), and the next read, or a
    restart from the saved cursors, goes on from the first row not yet ingested."""
    n = 2_000
    frame = pd.DataFrame({"id": np.arange(n), "x": np.random.default_rng(0).normal(size=n)})
    path = tmp_path / f"big.{kind}"
    if kind == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_csv(path, index=False)
    pattern = str(tmp_path / f"*.{kind}")
    source = FileSource(pattern, max_bytes=5_000)  # about 120 rows a chunk
    ids = _drain_ids(source, budget=12_000)  # stops after the third chunk or so, the next read ahead
    assert 0 < len(ids) < n
    assert not source._lines_ahead  # dropped with the budget
    ids += _drain_ids(source, budget=12_000)
    restarted = FileSource(pattern, max_bytes=5_000)
    restarted.restore({key: cursor.to_json() for key, cursor in source.cursors.items()})
    ids += _drain_ids(restarted, budget=None)
    assert ids == list(range(n))
    with open(path, "a") as handle:  # appended to after its end was read
        handle.write('{"id": 2000, "x": 1.0}\n' if kind == "jsonl" else "2000,1.0\n")
    assert _drain_ids(restarted, budget=None) == [n]


@pytest.mark.parametrize("row_group_size", [70_000, 1_000_000])
def test_a_large_parquet_file_is_read_in_batches_once_through_budgets_and_restarts(
        tmp_path: Path, row_group_size: int) -> None:
    from exporter.sources.parquet import PARQUET_BATCH_ROWS

    n = 3 * PARQUET_BATCH_ROWS + 123
    pd.DataFrame({"id": np.arange(n), "x": np.random.default_rng(0).normal(size=n)}).to_parquet(
        tmp_path / "big.parquet", row_group_size=row_group_size)
    pattern = str(tmp_path / "*.parquet")
    source = FileSource(pattern)
    sizes: list[int] = []
    source.drain(lambda chunk: sizes.append(len(chunk.frame)), budget=1)  # one batch, then stop
    assert sizes == [PARQUET_BATCH_ROWS]
    ids = list(range(PARQUET_BATCH_ROWS))
    ids += _drain_ids(source, budget=1)  # goes on with the reader left open
    restarted = FileSource(pattern)  # a restart: the saved cursor says how many rows were read
    restarted.restore({key: cursor.to_json() for key, cursor in source.cursors.items()})
    ids += _drain_ids(restarted, budget=None)
    assert ids == list(range(n))
    assert _drain_ids(restarted, budget=None) == []  # read to its end: nothing more
    pd.DataFrame({"id": [-1, -2]}).to_parquet(tmp_path / "big.parquet")  # replaced: its rows are new
    assert _drain_ids(restarted, budget=None) == [-1, -2]


@pytest.mark.parametrize("whole_column_rows", [0, 1_000_000])
def test_a_small_parquet_file_read_a_column_at_a_time_gives_the_rows_of_a_streamed_one(
        tmp_path: Path, whole_column_rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files of up to PARQUET_WHOLE_COLUMN_ROWS rows are read a whole column at a time (less memory than
    a streaming reader's state for every column): the same frames, index and types as streamed batches,
    through budgets and a restart in the middle of the file."""
    from exporter.sources import parquet

    monkeypatch.setattr(parquet, "PARQUET_BATCH_ROWS", 1_000)  # several batches either way
    monkeypatch.setattr(parquet, "PARQUET_WHOLE_COLUMN_ROWS", whole_column_rows)
    n = 3_500
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({
        "id": np.arange(n), "x": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
        "c": rng.choice(np.array(["a", "b", None], dtype=object), n), "flag": rng.random(n) < 0.5,
        "when": pd.Timestamp("2026-12-05", tz="UTC") + pd.to_timedelta(np.arange(n), unit="s"),
    }, index=pd.Index(np.arange(n) * 2, name="row"))  # an index kept as a column, as pandas writes it
    frame.to_parquet(tmp_path / "a.parquet", row_group_size=1_200)
    pattern = str(tmp_path / "*.parquet")
    source = FileSource(pattern)
    frames: list[pd.DataFrame] = []
    source.drain(lambda chunk: frames.append(chunk.frame), budget=1)  # one batch, then stop
    restarted = FileSource(pattern)
    restarted.restore({key: cursor.to_json() for key, cursor in source.cursors.items()})
    restarted.drain(lambda chunk: frames.append(chunk.frame), budget=None)
    assert len(frames) > 2
    read = pd.concat(frames)
    pd.testing.assert_frame_equal(read, frame)


def test_a_backlog_of_parquet_files_is_read_one_file_at_a_time(tmp_path: Path) -> None:
    """Each open Parquet reader keeps per-column state (about 1.7 MiB a column), so a backlog of files is
    read through one file after the other, every row once, not a batch of every file at a time."""
    from exporter.sources.parquet import PARQUET_BATCH_ROWS

    n = PARQUET_BATCH_ROWS + 10  # two batches a file
    for i in range(3):
        pd.DataFrame({"id": np.arange(i * n, (i + 1) * n)}).to_parquet(tmp_path / f"{i}.parquet")
    source = FileSource(str(tmp_path / "*.parquet"))
    ids: list[int] = []
    open_readers: list[int] = []

    def consume(chunk) -> None:
        ids.extend(chunk.frame["id"].tolist())
        open_readers.append(len(source._parquet))

    assert source.drain(consume, None) == []
    assert sorted(ids) == list(range(3 * n)) and len(ids) == 3 * n
    assert len(open_readers) == 6 and max(open_readers) == 1


def test_parquet_files_removed_once_read_are_not_lost_but_half_read_ones_are(tmp_path: Path) -> None:
    from exporter.sources.parquet import PARQUET_BATCH_ROWS

    source = FileSource(str(tmp_path / "*.parquet"))
    read: list[int] = []
    for step in range(4):  # consumed, removed, the next one written (often on the same inode)
        path = tmp_path / f"{step}.parquet"
        pd.DataFrame({"id": range(step * 10, step * 10 + 10)}).to_parquet(path)
        read += _drain_ids(source, budget=None)
        path.unlink()
    _drain_ids(source, budget=None)
    assert read == list(range(40)) and source.lost_files == 0
    big = tmp_path / "big.parquet"
    pd.DataFrame({"id": np.arange(2 * PARQUET_BATCH_ROWS)}).to_parquet(big)
    assert len(_drain_ids(source, budget=1)) == PARQUET_BATCH_ROWS  # half read
    big.unlink()
    _drain_ids(source, budget=None)
    assert source.lost_files == 1


def test_thousands_of_small_files_are_parsed_together_each_row_once(tmp_path: Path) -> None:
    """Small files read to their end are parsed as one text per format and header (one frame, one ingest for
    thousands of files), in the order of the files; each file's cursor is committed with that frame, so a
    restart or an append reads only what is new; a malformed line and a partial last line stay per file."""
    from exporter.sources.lines import PARSE_TOGETHER_BYTES

    expected: list[int] = []
    for k in range(2000):
        if k % 500 == 499:  # CSV files among them, under two headers
            header = "id,x" if k < 1000 else "x,id"
            body = "".join(f"{k * 10 + i},{i}\n" if header == "id,x" else f"{i},{k * 10 + i}\n" for i in range(3))
            (tmp_path / f"f{k:05d}.csv").write_text(header + "\n" + body)
        else:
            lines = [f'{{"id": {k * 10 + i}, "x": {i}}}\n' for i in range(3)]
            if k == 7:
                lines.insert(1, "{not json\n")
            tail = '{"id": 99999, "x"' if k == 11 else ""  # being written: waits for its newline
            (tmp_path / f"f{k:05d}.jsonl").write_text("".join(lines) + tail)
        expected += [k * 10 + i for i in range(3)]
    source = FileSource(str(tmp_path / "f*"), max_bytes=1 << 20)
    frames: list[pd.DataFrame] = []
    rejected: Counter[str] = Counter()

    def consume(chunk) -> None:
        frames.append(chunk.frame)
        rejected.update(chunk.rejected)

    assert source.drain(consume, None) == []
    ids = [int(i) for frame in frames for i in frame["id"]]
    assert ids == expected  # every row once, in the order of the files
    # Runs of JSON Lines between CSV files of another header: a handful of frames, not one per file (the file
    # with a malformed line is found by halving its run: about two frames per halving).
    assert len(frames) <= 2 * 4 + 1 + 2 * 11 + (sum(f.stat().st_size for f in tmp_path.iterdir())
                                                 // PARSE_TOGETHER_BYTES)
    assert rejected == {"malformed_json": 1}
    assert len(source.cursors) == 2000

    restarted = FileSource(str(tmp_path / "f*"), max_bytes=1 << 20)
    restarted.restore(source.saved()[0])
    with open(tmp_path / "f00011.jsonl", "a") as handle:
        handle.write(": 1}\n")
    with open(tmp_path / "f01998.jsonl", "a") as handle:
        handle.write('{"id": 123456, "x": 2}\n')
    again: list[pd.DataFrame] = []
    assert restarted.drain(lambda chunk: again.append(chunk.frame), None) == []
    assert sorted(int(i) for frame in again for i in frame["id"]) == [99999, 123456]


def test_small_files_parsed_together_keep_each_files_columns(tmp_path: Path) -> None:
    """A column that one file lacks stays absent from that file's rows (a schema violation the model counts),
    though its neighbours have it; a column given as null in every line of a file is present, with nulls."""
    for k in range(30):
        if k in (10, 11):
            rows = [f'{{"id": {k * 10 + i}}}' for i in range(3)]  # no "x" at all
        elif k == 20:
            rows = [f'{{"id": {k * 10 + i}, "x": null}}' for i in range(3)]
        else:
            rows = [f'{{"id": {k * 10 + i}, "x": {i}}}' for i in range(3)]
        (tmp_path / f"f{k:03d}.jsonl").write_text("\n".join(rows) + "\n")
    frames: list[pd.DataFrame] = []
    FileSource(str(tmp_path / "*.jsonl")).drain(lambda chunk: frames.append(chunk.frame), None)
    assert [int(i) for frame in frames for i in frame["id"]] == [k * 10 + i for k in range(30) for i in range(3)]
    lacking = [frame for frame in frames if "x" not in frame.columns]
    assert [int(i) for frame in lacking for i in frame["id"]] == [100, 101, 102, 110, 111, 112]
    nulls = [frame for frame in frames if "x" in frame.columns and frame["x"].isna().any()]
    assert [int(i) for frame in nulls for i in frame["id"]] == [200, 201, 202]
    assert len(frames) == 5  # files 0-9, 10-11, 12-19, 20, 21-29


@pytest.mark.parametrize("token", ["NA", "N/A", "n/a", "null", "NULL", "NaN", "nan", "#N/A", "#NA", "-NaN", "-nan",
                                   "1.#QNAN", "None"])
def test_a_csv_cell_is_missing_only_when_empty(tmp_path: Path, token: str) -> None:
    """pandas' and Arrow's default null tokens are text like any other in a CSV log, as in JSON Lines and
    Parquet: a category ``NA`` (Namibia) is a category in every format, and only an empty cell is missing."""
    frame = pd.DataFrame({"country": [token, "DE", None, token], "x": [1.5, None, 2.0, 3.0]})
    for name, write in (("a.csv", lambda p: frame.to_csv(p, index=False)),
                        ("b.jsonl", lambda p: frame.to_json(p, orient="records", lines=True)),
                        ("c.parquet", lambda p: frame.to_parquet(p))):
        folder = tmp_path / name
        folder.mkdir()
        write(folder / name)
        read = _read_all(FileSource(str(folder / "*")))
        assert [None if pd.isna(v) else v for v in read["country"]] == [token, "DE", None, token], name
        assert read["x"].isna().tolist() == [False, True, False, False], name
