"""The building blocks of the configuration's schema: its error, durations and windows, method and task names,
and the strict base model (unknown keys rejected, values frozen)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from exporter.stats.methods import all_methods, canonical
from exporter.values.durations import format_duration, parse_duration


class ConfigError(Exception):
    """The configuration cannot be used; the message says what to fix."""


def _method_name(value: Any) -> str:
    """A registered drift method's canonical name from any of its names (:mod:`exporter.stats.methods`)."""
    if not isinstance(value, str):
        raise ValueError(f"a drift method is a name, not {value!r}")
    return canonical(value)


def _method_or_auto(value: Any) -> str:
    if isinstance(value, str) and value.lower() == "auto":
        return "auto"
    return _method_name(value)


def _missing_token(value: Any) -> str | float:
    if isinstance(value, bool):
        raise ValueError("YAML reads yes, no, true, false, on and off as booleans: quote the token ('no')")
    if not isinstance(value, str | int | float):
        raise ValueError(f"a missing-value token is text or a number, not {value!r}")
    if isinstance(value, str) and not value.strip():
        raise ValueError("an empty or blank token: empty and blank text is missing already")
    return float(value) if isinstance(value, int) else value


#: A token that counts as a missing value (:mod:`exporter.values.missing`): text, or a number.
MissingToken = Annotated[str | float, BeforeValidator(_missing_token)]


#: A drift method by any of its names (stored as its canonical name), or ``auto``.
DriftMethod = Annotated[str, BeforeValidator(_method_or_auto)]
#: A drift method by any of its names (stored as its canonical name).
NamedDriftMethod = Annotated[str, BeforeValidator(_method_name)]


Task = Literal["binary_classification", "multiclass_classification", "regression"]


#: Each method's fixed threshold when a method is chosen without one (a test's p-value: drift below it).
DEFAULT_THRESHOLDS = {m.name: m.default_threshold for m in all_methods()}


def _duration(value: Any) -> float:
    return parse_duration(value)


Seconds = Annotated[float, BeforeValidator(_duration)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Window:
    """A sliding window: its label as configured (``5m``) and its length in seconds."""

    #: The window as configured (``5m``): the ``window`` label of its series.
    label: str
    #: Its length.
    seconds: float


def window(value: Any) -> Window:
    if isinstance(value, Window):
        return value
    seconds = parse_duration(value)
    label = value.strip() if isinstance(value, str) else format_duration(seconds)
    return Window(label=label, seconds=seconds)


WindowSpec = Annotated[Window, BeforeValidator(window), PlainSerializer(lambda w: w.label, return_type=str)]
