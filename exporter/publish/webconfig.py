"""TLS and basic auth for /metrics, configured like every Prometheus exporter (``--web.config.file``).

The file format is the exporter-toolkit's:

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # optional, with client_ca_file
      client_ca_file: ca.crt
      min_version: TLS12
    basic_auth_users:
      prometheus: $2b$12$...                          # bcrypt hash, never the password

Paths are relative to the web config file. Passwords are checked with bcrypt;
a successful check is remembered (as a SHA-256 of the password, never the
password) so that scrapes do not pay bcrypt's cost each time. Nothing secret
is ever logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ssl
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import bcrypt
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from exporter.config import ConfigError
from exporter.publish.http import StartResponse, WSGIApp


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TLSConfig(_Strict):
    cert_file: Path
    key_file: Path
    client_auth_type: Literal["NoClientCert", "RequireAndVerifyClientCert", "VerifyClientCertIfGiven"] = (
        "NoClientCert")
    client_ca_file: Path | None = None
    min_version: Literal["TLS12", "TLS13"] = "TLS12"


class HTTPConfig(_Strict):
    http2: bool = True
    headers: dict[str, str] = Field(default_factory=dict)


class WebConfig(_Strict):
    tls_server_config: TLSConfig | None = None
    http_server_config: HTTPConfig = Field(default_factory=HTTPConfig)
    basic_auth_users: dict[str, str] = Field(default_factory=dict)


def load_web_config(path: Path) -> WebConfig:
    """Read and check ``path``; ConfigError naming the problem (never a secret)."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
        config = WebConfig.model_validate(data)
    except OSError as error:
        raise ConfigError(f"web config {path}: cannot read: {error.strerror}") from None
    except yaml.YAMLError:
        raise ConfigError(f"web config {path}: not valid YAML") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"web config {path}: {where}: {first['msg']}") from None
    base = path.resolve().parent
    tls = config.tls_server_config
    if tls is not None:
        update = {"cert_file": base / tls.cert_file, "key_file": base / tls.key_file}
        if tls.client_ca_file is not None:
            update["client_ca_file"] = base / tls.client_ca_file
        tls = tls.model_copy(update=update)
        config = config.model_copy(update={"tls_server_config": tls})
        if tls.client_auth_type != "NoClientCert" and tls.client_ca_file is None:
            raise ConfigError(f"web config {path}: tls_server_config.client_ca_file is needed for "
                              f"client_auth_type {tls.client_auth_type}")
    for user, hashed in config.basic_auth_users.items():
        if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise ConfigError(f"web config {path}: basic_auth_users.{user}: not a bcrypt hash")
    return config


def ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3 if tls.min_version == "TLS13" else ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
        if tls.client_ca_file is not None:
            context.load_verify_locations(str(tls.client_ca_file))
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"tls_server_config: cannot load certificate or key: {error}") from None
    if tls.client_auth_type == "RequireAndVerifyClientCert":
        context.verify_mode = ssl.CERT_REQUIRED
    elif tls.client_auth_type == "VerifyClientCertIfGiven":
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


class BasicAuth:
    """WSGI middleware: answers 401 unless the request carries a valid user and password."""

    def __init__(self, app: WSGIApp, users: dict[str, str], headers: dict[str, str] | None = None):
        self.app = app
        self.users = {user: hashed.encode() for user, hashed in users.items()}
        self.headers = list((headers or {}).items())
        self._verified: dict[tuple[str, bytes], bool] = {}
        self._lock = threading.Lock()

    def _check(self, user: str, password: bytes) -> bool:
        hashed = self.users.get(user)
        if hashed is None:
            bcrypt.checkpw(password, bcrypt.hashpw(b"x", bcrypt.gensalt(4)))  # same work for unknown users
            return False
        key = (user, hashlib.sha256(password).digest())
        with self._lock:
            if key in self._verified:
                return self._verified[key]
        ok = bcrypt.checkpw(password, hashed)
        with self._lock:
            if len(self._verified) > 1000:
                self._verified.clear()
            self._verified[key] = ok
        return ok

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        if self.users:
            header = environ.get("HTTP_AUTHORIZATION", "")
            scheme, _, encoded = header.partition(" ")
            user, password = "", b""
            if scheme.lower() == "basic":
                try:
                    decoded = base64.b64decode(encoded.strip(), validate=True)
                    raw_user, _, password = decoded.partition(b":")
                    user = raw_user.decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    user = ""
            if not user or not self._check(user, password):
                start_response("401 Unauthorized", [("Content-Type", "text/plain"),
                                                    ("WWW-Authenticate", 'Basic realm="model-monitor"'),
                                                    *self.headers])
                return [b"Unauthorized\n"]

        def _start(status: str, response_headers: list[tuple[str, str]], *args: object) -> object:
            return start_response(status, response_headers + self.headers, *args)

        return self.app(environ, _start)

