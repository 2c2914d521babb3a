"""What the tests of the documentation share: the pages, and their code blocks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tests.stack import ROOT

DOCS = ROOT / "docs"

_BLOCK = re.compile(r"^```(?P<lang>[a-z]*)(?P<info>[^\n]*)\n(?P<body>.*?)^```$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    page: Path
    lang: str
    title: str
    body: str


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of ``page``: their language, ``title="..."`` and text."""
    out = []
    for match in _BLOCK.finditer(page.read_text()):
        title = re.search(r'title="([^"]+)"', match.group("info"))
        out.append(Block(page, match.group("lang"), title.group(1) if title else "", match.group("body")))
    return out
