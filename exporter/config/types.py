"""The building blocks of the configuration's schema: its error, durations and windows, method and task names,
and the strict base model (unknown keys rejected, values frozen)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from exporter.values.durations import format_duration, parse_duration


class ConfigError(Exception):
    """The configuration cannot be used; the message says what to fix."""


DriftMethod = Literal["psi", "ks", "js", "wasserstein", "chi2", "auto"]


Task = Literal["binary_classification", "multiclass_classification", "regression"]


#: Methods only defined for numbers; categorical features fall back to ``categorical_method``.
NUMERIC_ONLY_METHODS = frozenset({"ks", "wasserstein"})


#: Threshold used when a method is chosen without one. chi2 is a p-value test: drift below it.
DEFAULT_THRESHOLDS = {"psi": 0.2, "ks": 0.1, "js": 0.1, "wasserstein": 0.1, "chi2": 0.05}


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
