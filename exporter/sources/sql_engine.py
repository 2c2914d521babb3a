"""Connecting to a database through SQLAlchemy: the URL with its password from the environment or a file, the
engine, and messages that never show the password."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from exporter.config import ConfigError, SqlConfig

if TYPE_CHECKING:
    import sqlalchemy as sa


def redacted(url: str) -> str:
    """``url`` with its password hidden, for log lines and errors."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # an unparseable URL: show only its scheme
        return url.split(":", 1)[0] + "://..."


def engine_url(sql: SqlConfig) -> Any:
    """The SQLAlchemy URL of ``sql`` with the password from its environment variable or file."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(sql.url)
    except ArgumentError as error:
        raise ConfigError(f"sql.url {redacted(sql.url)}: {error}") from None
    if sql.password_env is not None:
        password = os.environ.get(sql.password_env)
        if password is None:
            raise ConfigError(f"sql.password_env: the environment variable {sql.password_env} is not set")
        url = url.set(password=password)
    elif sql.password_file is not None:
        try:
            password = sql.password_file.read_text(encoding="utf-8").splitlines()[0] if \
                sql.password_file.stat().st_size else ""
        except OSError as error:
            raise ConfigError(f"sql.password_file: cannot read {sql.password_file}: {error.strerror}") from None
        url = url.set(password=password)
    return url


def create_engine(sql: SqlConfig) -> sa.Engine:
    """An engine that checks a pooled connection before use (so a restarted database is reconnected)."""
    import sqlalchemy as sa

    url = engine_url(sql)
    connect_args: dict[str, Any] = {}
    backend = url.get_backend_name()
    if backend == "postgresql":
        connect_args["connect_timeout"] = max(1, int(sql.connect_timeout))
    elif backend == "sqlite":
        connect_args["timeout"] = sql.connect_timeout
    try:
        return sa.create_engine(url, pool_pre_ping=True, pool_size=1, max_overflow=1, connect_args=connect_args) \
            if backend != "sqlite" else sa.create_engine(url, connect_args=connect_args)
    except (ImportError, ModuleNotFoundError) as error:
        raise ConfigError(f"sql.url {redacted(sql.url)}: the database driver is not installed ({error}); "
                          "for PostgreSQL: pip install 'model-monitor[postgres]'") from None
    except (sa.exc.ArgumentError, ValueError, TypeError) as error:
        raise ConfigError(f"sql.url {redacted(sql.url)}: {error}") from None


def error_message(error: Exception) -> str:
    """The database's own message, on one line, without SQLAlchemy's SQL echo and links."""
    original = getattr(error, "orig", None)
    text = str(original if original is not None else error)
    return " ".join(text.split())[:500]
