"""The checks only a run that reads the logs once makes (``check``, ``report``): a model that read no usable
row (``no_data``, with the reason in one line), and configured columns absent from the rows read (``schema``).

A live exporter that reads nothing waits for data; a nightly ``check`` that read nothing has checked nothing,
and says so with a failed check, never a silent green.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from exporter.monitor.counters import Counters
from exporter.sources.files import FileSource
from exporter.summary.results import Verdict
from exporter.values.vocabulary import CheckName, SchemaCheck

if TYPE_CHECKING:
    from exporter.monitor.sources import Source


def one_shot_verdicts(counters: Counters, source: Source) -> list[Verdict]:
    """The failed one-shot checks of a model whose counters are ``counters``, read from ``source``: ``no_data``
    when no row was usable, and a ``schema`` verdict for each configured column absent from the rows read (a
    typo in a column name then fails, never silently changes what the columns are)."""
    verdicts = []
    if counters.predictions_total == 0:
        verdicts.append(Verdict(CheckName.NO_DATA, (), 0.0, 1.0, True, (("reason", no_data_reason(counters, source)),)))
    for (check, column), count in sorted(counters.violations.items()):
        if check == SchemaCheck.MISSING_COLUMN and count:
            verdicts.append(Verdict(CheckName.SCHEMA, (("column", column),), float(count), 0.0, True))
    return verdicts


def no_data_reason(counters: Counters, source: Source) -> str:
    """Why a one-shot run read no usable row, in one line: no file, an empty source, or every row rejected."""
    rejected = Counter({str(reason): count for reason, count in counters.rejected.items() if count})
    if rejected:
        reasons = ", ".join(f"{reason} {count}" for reason, count in rejected.most_common())
        return f"{sum(rejected.values())} rows read from {source.pattern}, none usable ({reasons})"
    if isinstance(source, FileSource) and not source.seen:
        return f"no file matches {source.pattern}"
    return f"no row in {source.pattern}"
