"""Rows and labelled rows per window, and label coverage."""

from __future__ import annotations

import numpy as np

from exporter.components.base import Component, HasLabels, WindowContext
from exporter.components.checks import LABEL_COVERAGE_MIN
from exporter.prepare.preparer import PreparedBatch
from exporter.summary.results import WindowBuilder
from exporter.summary.sketch import FieldSpec, Groups, Summary
from exporter.values.vocabulary import CheckName


class Volume(Component):
    name = "volume"

    def __init__(self, expects_labels: bool):
        self.expects_labels = expects_labels

    def fields(self) -> dict[str, FieldSpec]:
        return {"rows": FieldSpec((), np.int64), "labelled": FieldSpec((), np.int64)}

    def summarize(self, batch: PreparedBatch, groups: Groups) -> Summary:
        return {"rows": groups.rows(len(batch))}

    def summarize_labels(self, rows: HasLabels, groups: Groups) -> Summary:
        return {"labelled": groups.rows(len(rows), rows.outputs.labelled())}

    def evaluate(self, merged: Summary, ctx: WindowContext, out: WindowBuilder) -> None:
        coverage = ctx.labelled / ctx.rows if ctx.rows and self.expects_labels else None
        out.set(labelled_rows=ctx.labelled, label_coverage=coverage)
        if coverage is not None and coverage < LABEL_COVERAGE_MIN:
            out.verdict(CheckName.LABEL_COVERAGE, coverage, LABEL_COVERAGE_MIN, coverage < LABEL_COVERAGE_MIN)
