"""The words the exporter counts things by, defined once.

Every reason a row is rejected, every stage that can fail, every reason a
prediction or label is given up while waiting to be joined, every schema
check and the name of every check of :data:`exporter.components.checks.CHECKS` is
a member of one of these enums. The code counts with the members, the
exposition creates the zero series of every member (so ``rate()`` sees the
first event), and the README lists them: nothing else spells these strings.
"""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    """``model_monitor_rejected_rows_total{reason}``: rows that could not be used."""

    MALFORMED_JSON = "malformed_json"
    MALFORMED_CSV = "malformed_csv"
    MISSING_TIMESTAMP = "missing_timestamp"
    BAD_TIMESTAMP = "bad_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    TOO_OLD = "too_old"
    DUPLICATE_ID = "duplicate_id"
    UNREADABLE_FILE = "unreadable_file"
    #: A JSON line nested deeper or holding more keys than ``input_limits`` allow.
    TOO_COMPLEX = "too_complex"
    INGEST_ERROR = "ingest_error"
    #: Label rows: the labels log lacks its id or label column.
    MISSING_LABEL_COLUMN = "missing_label_column"
    #: Label rows without an id.
    MISSING_ID = "missing_id"
    #: Label rows whose label is empty.
    MISSING_LABEL = "missing_label"
    #: Labels (in the labels log or the label column) that match no class of a binary model: the label
    #: is dropped, a prediction row is kept.
    UNKNOWN_LABEL = "unknown_label"
    #: Logged predictions of a binary model that match no class: the row is kept without a decision.
    UNKNOWN_PREDICTION = "unknown_prediction"
    #: Labels or predictions of a multiclass model beyond the tracked classes (the reference's and
    #: 20 new ones): the row is kept, and left out of realized performance.
    UNTRACKED_CLASS = "untracked_class"


class ErrorStage(StrEnum):
    """``model_monitor_errors_total{stage}``: where an update failed."""

    READ = "read"
    LABELS = "labels"
    INGEST = "ingest"
    COMPUTE = "compute"
    STATE = "state"


class JoinDrop(StrEnum):
    """``model_label_join_dropped_total{reason}``: predictions or labels given up while waiting."""

    PREDICTION_EXPIRED = "prediction_expired"
    LABEL_EXPIRED = "label_expired"
    PENDING_OVERFLOW = "pending_overflow"
    EARLY_OVERFLOW = "early_label_overflow"
    DUPLICATE_ID = "duplicate_id"
    DUPLICATE_LABEL = "duplicate_label"


class SchemaCheck(StrEnum):
    """``model_data_quality_violations_total{check}``, in SageMaker Model Monitor's vocabulary."""

    MISSING_COLUMN = "missing_column"
    EXTRA_COLUMN = "extra_column"
    DATA_TYPE = "data_type"


class CheckName(StrEnum):
    """The checks of :data:`exporter.components.checks.CHECKS` (``model-monitor check``'s lines, verdict names)."""

    FEATURE_DRIFT = "feature_drift"
    DATASET_DRIFT = "dataset_drift"
    MULTIVARIATE_DRIFT = "multivariate_drift"
    PREDICTION_DRIFT = "prediction_drift"
    LABEL_DRIFT = "label_drift"
    COMPLETENESS = "completeness"
    CATEGORICAL_VALUES = "categorical_values"
    OUT_OF_RANGE = "out_of_range"
    DATA_TYPE = "data_type"
    PERFORMANCE = "performance"
    ESTIMATED_PERFORMANCE = "estimated_performance"
    CONCEPT_DRIFT = "concept_drift"
    LABEL_COVERAGE = "label_coverage"
    UPDATE = "update"
    NO_DATA = "no_data"
    SCHEMA = "schema"
