#!/usr/bin/env bash
# Installs the exporter in .venv (override with VENV=...) and runs the embedded demo:
# a simulated model writes a prediction log, the exporter watches it, /metrics is live.
# Extra arguments go to `model-monitor demo`, e.g. scripts/demo.sh --port 9200 --drift-after 60
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
if ! python3 -c "import ensurepip" 2>/dev/null; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e .
exec "$VENV/bin/model-monitor" demo "$@"
