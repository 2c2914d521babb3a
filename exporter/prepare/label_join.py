"""The label join: late labels find their predictions, in bounded memory.

A label that arrives after its prediction must land in the bucket of the
prediction's timestamp, so a past window's performance updates. The joiner
remembers, per prediction still waiting for its label, only what a label needs
(:class:`~exporter.prepare.pending.Pending`); a label that arrives before its
prediction waits in :class:`~exporter.prepare.pending.EarlyLabels`. Both are bounded,
and everything given up is counted by :class:`~exporter.values.vocabulary.JoinDrop`.
The joiner knows nothing of files or windows: it takes prepared rows and
returns the predictions that got their label as :class:`LabelledRows`.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from exporter.baseline.targets import Targets
from exporter.prepare.pending import EarlyLabels, Pending, PendingPredictions, estimates
from exporter.prepare.preparer import LabelledRows, PreparedBatch, PreparedLabels
from exporter.values.vocabulary import RejectReason


class LabelJoiner:
    def __init__(self, segment_columns: tuple[str, ...], max_pending: int, early_retention: float,
                 classification: bool, classes: int = 0):
        self.segment_columns = segment_columns
        #: Multiclass with probability columns: how many classes a waiting prediction's probabilities hold.
        self.classes = classes
        self.classification = classification
        self.pending = PendingPredictions(max_pending)
        self.early = EarlyLabels(max_pending, early_retention)
        self.dropped: Counter[str] = Counter()

    def waiting(self) -> tuple[int, int]:
        """(predictions waiting for a label, labels waiting for their prediction)"""
        return len(self.pending), len(self.early)

    def on_predictions(self, batch: PreparedBatch) -> None:
        """Give waiting labels to the rows of ``batch`` (label and delay set in place); keep the rest waiting.

        ``batch.ids`` must be the ids as text.
        """
        assert batch.ids is not None
        labelled = batch.outputs.labelled()
        t = batch.outputs
        codes = [batch.segments[c] for c in self.segment_columns]
        estimate = t.class_proba if t.class_proba is not None else t.est_error
        if t.class_proba is not None and t.class_scores is not None:  # and the probabilities as logged (ROC AUC)
            estimate = np.concatenate([t.class_proba, t.class_scores], axis=1)
        for i, ident in enumerate(batch.ids.tolist()):
            if ident is None or labelled[i]:
                continue
            early = self.early.pop(ident)
            if early is not None:
                t.label[i] = early[0]
                batch.label_delay[i] = max(0.0, early[2] - float(batch.ts[i]))
                continue
            self.pending.add(ident, Pending(float(batch.ts[i]), float(t.score[i]), int(t.pred_class[i]),
                                            float(t.pred_value[i]), tuple(int(c[i]) for c in codes),
                                            () if estimate is None else tuple(estimate[i].tolist())), self.dropped)

    def on_labels(self, labels: PreparedLabels, now: float, rejected: Counter[str]) -> LabelledRows | None:
        """The waiting predictions that ``labels`` complete; labels of unseen predictions wait as early labels.

        A label's delay is its own time (``labels.ts``) minus its prediction's; a label without one (no
        timestamp column, or an unusable value) is taken as labelled when it was read, at ``now``."""
        joined: list[tuple[Pending, float, float]] = []
        stamps = labels.ts.tolist() if labels.ts is not None else [math.nan] * len(labels.ids)
        for ident, value, absent, unknown, stamp in zip(labels.ids, labels.values.tolist(), labels.missing.tolist(),
                                                        labels.unknown.tolist(), stamps, strict=True):
            if unknown:
                continue
            if ident is None:
                rejected[RejectReason.MISSING_ID] += 1
                continue
            if absent:
                rejected[RejectReason.MISSING_LABEL] += 1
                continue
            at = stamp if math.isfinite(stamp) else now
            pending = self.pending.pop(ident)
            if pending is None:
                self.early.add(ident, (value, now, at), self.dropped)
            else:
                joined.append((pending, value, at))
        if not joined:
            return None
        ts = np.array([p.ts for p, _, _ in joined])
        values = np.array([v for _, v, _ in joined])
        labelled_at = np.array([at for _, _, at in joined])
        outputs = Targets(
            out_index=np.full(ts.size, -1, dtype=np.int32),
            out_value=np.zeros(ts.size),
            score=np.array([p.score for p, _, _ in joined]),
            pred_class=np.array([p.pred_class for p, _, _ in joined], dtype=np.int32),
            pred_value=np.array([p.pred_value for p, _, _ in joined]),
            label=values.astype(np.int32) if self.classification else values,
        )
        estimate = estimates([p.estimate for p, _, _ in joined])
        if estimate.shape[1]:
            if self.classification:
                # The calibrated probabilities, then (saved since release 5) the probabilities as logged.
                classes = self.classes or estimate.shape[1]
                outputs.class_proba = estimate[:, :classes]
                if estimate.shape[1] == 2 * classes:
                    outputs.class_scores = estimate[:, classes:]
            else:
                outputs.est_error = estimate
        segments = {column: np.array([p.segments[i] for p, _, _ in joined], dtype=np.int64)
                    for i, column in enumerate(self.segment_columns)}
        return LabelledRows(ts, outputs, segments, np.maximum(0.0, labelled_at - ts))

    def expire(self, now: float, max_delay: float) -> bool:
        """Forget predictions older than ``max_delay`` and early labels past their retention; True if any."""
        before = self.waiting()
        self.pending.expire(now - max_delay, self.dropped)
        self.early.expire(now, self.dropped)
        return before != self.waiting()

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays = {f"pending/{k}": v for k, v in self.pending.to_arrays().items()}
        arrays.update({f"early/{k}": v for k, v in self.early.to_arrays().items()})
        return {"dropped": dict(self.dropped)}, arrays

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.pending.restore({k[len("pending/"):]: v for k, v in arrays.items() if k.startswith("pending/")})
        self.early.restore({k[len("early/"):]: v for k, v in arrays.items() if k.startswith("early/")})
        self.dropped = Counter(meta["dropped"])



