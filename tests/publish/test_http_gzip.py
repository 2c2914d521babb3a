"""``/metrics`` gzipped with the models' text compressed once per snapshot version: still one valid member."""

from __future__ import annotations

import gzip
import subprocess
import zlib

import numpy as np

from exporter.publish.http import GzipPrefix


def _text(rng: np.random.Generator, lines: int) -> str:
    return "".join(f'model_feature_drift_score{{feature="f{i}",model="m"}} {rng.random()!r}\n' for i in range(lines))


def test_each_scrape_is_the_gzip_of_the_models_text_and_its_own_tail() -> None:
    rng = np.random.default_rng(0)
    cache = GzipPrefix()
    text = _text(rng, 20_000)  # about a megabyte: longer than deflate's 32 KiB window
    for version, tail in ((1, b"process_cpu_seconds_total 1.5\n"), (1, b"process_cpu_seconds_total 2.25\n" * 3),
                          (1, b""), (2, None), (2, b"x 1\n")):
        if tail is None:  # a new snapshot version: new text
            text, tail = _text(rng, 500), b"process_cpu_seconds_total 3\n"
        body = cache.body(version, text, tail)
        assert gzip.decompress(body) == text.encode() + tail  # checks the CRC and the length in the trailer
        strict = zlib.decompressobj(16 + zlib.MAX_WBITS)
        assert strict.decompress(body) == text.encode() + tail and strict.eof and not strict.unused_data


def test_the_gzip_command_reads_it() -> None:
    body = GzipPrefix().body(7, _text(np.random.default_rng(1), 3000), b"tail 1\n")
    out = subprocess.run(["gzip", "-dc"], input=body, capture_output=True, check=True).stdout
    assert out.endswith(b"tail 1\n") and out.count(b"\n") == 3001
