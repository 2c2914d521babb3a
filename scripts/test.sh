#!/usr/bin/env bash
# Installs everything the tests need, then runs ruff, the import layers check, mypy and the whole test suite.
#   Debian packages (when missing): prometheus (promtool), prometheus-alertmanager (amtool),
#   docker-compose (compose file check), chromium (renders the HTML report), postgresql (a throwaway
#   cluster for the SQL source's tests), python3-venv.
#   Python: a virtual environment in .venv (override with VENV=...) with the project and its test extras.
# Extra arguments go to pytest, e.g. scripts/test.sh -k statistics
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v chromium >/dev/null || need+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
python3 -c "import ensurepip" 2>/dev/null || need+=(python3-venv)
if ((${#need[@]})); then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    echo "installing Debian packages: ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

VENV="${VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
"$VENV/bin/ruff" check exporter tests benchmarks scripts
"$VENV/bin/lint-imports" --no-cache  # the layers of exporter/ and no import cycle (pyproject.toml)
"$VENV/bin/mypy"  # strict on values/, stats/ and baseline/ (pyproject.toml)
exec "$VENV/bin/python" -m pytest "$@"
