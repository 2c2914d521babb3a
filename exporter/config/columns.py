"""The columns a model's logs hold, by role: the one definition that preparation, the schema check, the
pushdown's narrow rows, the readers' text columns and the reference's feature inference all read."""

from __future__ import annotations

from exporter.config.schema import ModelConfig


def label_time(model: ModelConfig) -> tuple[str, str]:
    """The column of a labels log holding each label's own time, and its unit: ``labels.timestamp_column``,
    else a column named like ``predictions.timestamp_column`` (when the log has it); ``labels.timestamp_unit``,
    else the predictions'. ``serve``, ``check`` and ``backtest`` read label times through this one rule."""
    labels = model.labels
    column = (labels.timestamp_column if labels else None) or model.predictions.timestamp_column
    unit = (labels.timestamp_unit if labels else None) or model.predictions.timestamp_unit
    return column, unit


def role_columns(model: ModelConfig) -> tuple[str, ...]:
    """The columns of the prediction log that have a role, each once, in this order: timestamp, id, prediction,
    score, label, latency, error, class scores, segments. The one definition of what a role is: preparation,
    the schema check, the pushdown's narrow rows and the reference's feature inference all read it."""
    names = [model.predictions.timestamp_column, model.predictions.id_column, model.prediction_column,
             model.score_column, model.label_column, model.latency_column, model.error_column,
             *model.class_score_columns.values(), *model.segments]
    return tuple(dict.fromkeys(name for name in names if name))


def logged_roles(model: ModelConfig) -> tuple[str, ...]:
    """The role columns every chunk of the predictions log must hold besides the features and the timestamp:
    id, prediction, score, latency, error, class scores and segments, sorted. Not the label: a serving log
    without labels is common (``label_column`` then names the reference's), and shows as label coverage."""
    return tuple(sorted(set(role_columns(model)) - {model.predictions.timestamp_column, model.label_column}))


def never_features(model: ModelConfig) -> frozenset[str]:
    """The columns never taken for features when the features are inferred from the reference: the timestamp,
    id, prediction, score, label and latency columns, and the labels log's id and label. Segments, class scores
    and the error column are features too when nothing lists the features (their drift is then watched)."""
    shared = {model.error_column, *model.class_score_columns.values(), *model.segments} - {
        model.predictions.timestamp_column, model.predictions.id_column, model.prediction_column,
        model.score_column, model.label_column, model.latency_column}
    columns = set(role_columns(model)) - shared
    if model.labels is not None:
        columns |= {model.labels.id_column, model.labels.label_column}
    return frozenset(column for column in columns if column)


def text_columns(model: ModelConfig) -> frozenset[str]:
    """Columns whose values are text whatever they look like: configured categorical features, segments,
    ids, and the classes of a multiclass model (so "01234" never becomes 1234 in one format only)."""
    columns = set(model.segments) | {model.predictions.id_column or ""}
    if model.features is not None:
        columns |= set(model.features.categorical)
    if model.labels is not None:
        columns.add(model.labels.id_column)
        if model.task == "multiclass_classification":
            columns.add(model.labels.label_column)
    if model.task == "multiclass_classification":
        columns |= {model.prediction_column or "", model.label_column or ""}
    return frozenset(columns - {""})


def missing_values(model: ModelConfig, column: str) -> tuple[str, ...]:
    """The tokens that count as missing in feature ``column`` (:mod:`exporter.values.missing`), as text: its own
    (``quality.features``) or the model's."""
    own = model.quality.features.get(column)
    values = own.missing_values if own is not None and own.missing_values is not None else model.missing_values
    return tuple(dict.fromkeys(str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in values))
