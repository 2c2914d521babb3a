#!/usr/bin/env bash
# Side-by-side benchmark against Evidently and NannyML (benchmarks/peers.py), in its own virtual
# environment .venv-bench (override with VENV=...), since Evidently 0.7 needs pandas < 3.
# Arguments go to benchmarks/peers.py, e.g. benchmarks/run-peers.sh --sizes 100000,1000000,10000000
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv-bench}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[bench]'
exec "$VENV/bin/python" -m benchmarks.peers "$@"
