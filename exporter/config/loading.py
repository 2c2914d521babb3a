"""Reading the configuration: YAML parsed, validated against the schema, and relative paths resolved
against the folder of the config file (as Prometheus does). Every mistake is one message naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from exporter.config.logs import SqlConfig
from exporter.config.schema import Config
from exporter.config.types import ConfigError


def _location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _format_validation_error(source: str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = _location(tuple(p for p in item["loc"] if not str(p).startswith("function-")))
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif item["type"] == "missing":
            message = "required key is missing"
        lines.append(f"{source}: {where}: {message}")
    return "\n".join(lines)


def _resolve(base: Path, path: Path | str) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() else base / path


def _resolve_sql(base: Path, sql: SqlConfig | None) -> SqlConfig | None:
    """``sql`` with its password file, and the file of a SQLite URL, made absolute."""
    if sql is None:
        return None
    update: dict[str, Any] = {}
    if sql.password_file is not None:
        update["password_file"] = _resolve(base, sql.password_file)
    prefix, sep, database = sql.url.partition(":///")
    if prefix.split("+")[0] == "sqlite" and sep and database and not database.startswith((":memory:", "file:")):
        path, query_sep, query = database.partition("?")
        update["url"] = f"{prefix}:///{_resolve(base, path)}{query_sep}{query}"
    return sql.model_copy(update=update)


def _resolve_log(base: Path, log: Any) -> Any:
    """A predictions or labels section with its file glob or database made absolute."""
    return log.model_copy(update={"path": str(_resolve(base, log.path)) if log.path is not None else None,
                                  "sql": _resolve_sql(base, log.sql)})


def resolve_paths(config: Config, base: Path) -> Config:
    """Make every path in ``config`` absolute, relative to ``base`` (the config's folder)."""
    models = []
    for model in config.models:
        update: dict[str, Any] = {
            "reference": _resolve(base, model.reference) if model.reference is not None else None,
            "baseline": _resolve(base, model.baseline) if model.baseline is not None else None,
            "constraints": _resolve(base, model.constraints) if model.constraints is not None else None,
            "predictions": _resolve_log(base, model.predictions),
        }
        if model.labels is not None:
            update["labels"] = _resolve_log(base, model.labels)
        models.append(model.model_copy(update=update))
    server = config.server
    if server.web_config_file is not None:
        server = server.model_copy(update={"web_config_file": _resolve(base, server.web_config_file)})
    return config.model_copy(update={"models": models, "state_dir": _resolve(base, config.state_dir), "server": server})


def parse_config(data: Any, source: str = "config", base: Path | None = None) -> Config:
    """Validate already-parsed YAML/JSON ``data``; raise :class:`ConfigError` on any problem."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping with a 'models' list")
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(source, error)) from None
    config = resolve_paths(config, base or Path.cwd())
    for index, model in enumerate(config.models):
        for key in ("reference", "baseline", "constraints"):
            path = getattr(model, key)
            if path is not None and not path.is_file():
                raise ConfigError(f"{source}: models[{index}].{key}: file not found: {path}")
    if config.server.web_config_file is not None and not config.server.web_config_file.is_file():
        raise ConfigError(f"{source}: server.web_config_file: file not found: {config.server.web_config_file}")
    return config


def _yaml_problem(error: yaml.YAMLError) -> str:
    """The parser's complaint on one line, with the line and column it points at."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{' '.join(str(problem).split())}"


def load_config(path: str | Path) -> Config:
    """Read, validate and resolve the YAML configuration at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(error)}") from None
    return parse_config(data, source=str(path), base=path.resolve().parent)
