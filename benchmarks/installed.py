"""The product installed as a user installs it, for benchmarks: ``pip install <checkout>`` into a fresh
virtual environment, with whatever versions pip resolves today, and those versions reported.

    python -m benchmarks.installed [--commit REV] [--venv DIR]

Benchmarks run the installed ``model-monitor`` from a folder outside the source tree, so they import
the installed package (compiled at install, as a user's is), never the checkout beside it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The distributions whose versions are printed beside every figure.
REPORTED = ("model-monitor", "pandas", "pyarrow", "numpy", "scipy", "prometheus-client", "pydantic", "APScheduler")


def checkout(commit: str | None) -> Path:
    """The source tree to install: this working tree, or ``commit`` exported to a temporary folder."""
    if commit is None:
        return ROOT
    folder = Path(tempfile.mkdtemp(prefix=f"model-monitor-{commit[:10]}-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def install(source: Path, venv: Path, extras: str = "") -> Path:
    """``pip install source[extras]`` (not editable) into the virtual environment ``venv`` (made if missing);
    its Python."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    target = f"{source}[{extras}]" if extras else str(source)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--upgrade",
                    "--force-reinstall", "--no-deps", str(source)], check=True, capture_output=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", target], check=True,
                   capture_output=True)
    return python


def versions(python: Path) -> dict[str, str]:
    """The installed versions of :data:`REPORTED` in the environment of ``python``."""
    code = ("import importlib.metadata as m, json, sys; "
            "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))")
    out = subprocess.run([str(python), "-c", code, *REPORTED], check=True, capture_output=True, text=True,
                         cwd=tempfile.gettempdir()).stdout
    return json.loads(out)


def describe(found: dict[str, str]) -> str:
    return ", ".join(f"{name} {version}" for name, version in found.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commit", help="install this commit instead of the working tree")
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv-user")
    args = parser.parse_args()
    python = install(checkout(args.commit), args.venv)
    print(f"{python}: {describe(versions(python))}")


if __name__ == "__main__":
    main()
