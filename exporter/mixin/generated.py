"""Files generated from the code (rules, dashboards, the docs' reference pages): written when they differ, or,
with ``check``, listed as out of date, writing nothing."""

from __future__ import annotations

import sys
from pathlib import Path


def sync(files: dict[Path, str], check: bool, command: str, root: Path | None = None) -> int:
    """Write every file of ``files`` whose content differs (``check``: write nothing and list them); 1 when a
    file was out of date under ``check``, else 0. Paths are shown relative to ``root`` when it is given;
    ``command`` is what regenerates them."""
    stale = []
    for path, text in files.items():
        if path.exists() and path.read_text() == text:
            continue
        shown = str(path.relative_to(root)) if root is not None else str(path)
        if check:
            stale.append(shown)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {shown}")
    if stale:
        print(f"out of date (run {command}):\n  " + "\n  ".join(stale), file=sys.stderr)
        return 1
    return 0
