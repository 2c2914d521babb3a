"""Durations as written in the config (``30s``, ``5m``, ``1h``, ``7d``) and back."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str | int | float) -> float:
    """Seconds in ``text``: a number of seconds, or a number with a unit s/m/h/d/w."""
    if isinstance(text, bool):
        raise ValueError("a duration is a number with a unit, e.g. 30s, 5m, 1h, 7d")
    if isinstance(text, int | float):
        seconds = float(text)
    elif not isinstance(text, str):
        raise ValueError("a duration is a number with a unit, e.g. 30s, 5m, 1h, 7d")
    else:
        match = _PATTERN.match(text)
        if not match:
            raise ValueError(f"{text!r} is not a duration: use a number with a unit s, m, h, d or w, e.g. 5m")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"a duration must be positive, got {text!r}")
    return seconds


def parse_for(text: str | int | float) -> float:
    """Seconds in an alert rule's ``for:`` duration: as :func:`parse_duration`, and zero too (``0s``, ``0m``:
    the alert fires as soon as its condition holds, as Prometheus reads it)."""
    match = _PATTERN.match(text) if isinstance(text, str) else None
    if match is not None and float(match.group(1)) == 0:
        return 0.0
    if isinstance(text, int | float) and not isinstance(text, bool) and text == 0:
        return 0.0
    return parse_duration(text)


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of ``seconds`` with one unit (``300`` -> ``5m``)."""
    for unit in ("w", "d", "h", "m"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:g}s"
