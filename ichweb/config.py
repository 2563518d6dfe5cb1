"""Typed parsing of the environment for settings.py.

Every deployment knob is an environment variable with a safe default. A malformed value raises
``ImproperlyConfigured`` with one line that names the variable and says what to do; the entry points
(manage.py, wsgi, asgi, celery) turn that into a one-line exit instead of a traceback.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

#: Broker URL schemes that kombu serves here and that we document in README.
BROKER_SCHEMES = {
    "filesystem": "embedded (no server)",
    "memory": "in-process (tests only)",
    "redis": "Redis",
    "rediss": "Redis over TLS",
    "amqp": "RabbitMQ",
    "amqps": "RabbitMQ over TLS",
    "pyamqp": "RabbitMQ",
}
DATABASE_SCHEMES = {"sqlite", "postgres", "postgresql", "pgsql", "psql"}


def _bad(name: str, value: str, expected: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{name}={value!r} is not valid: expected {expected}.")


def env_str(name: str, default: str, env: Mapping[str, str] = os.environ) -> str:
    """A string, or the content of the file named by ``<name>_FILE`` (for secrets)."""
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read ({exc.strerror}).") from exc
    return env.get(name, default)


def env_bool(name: str, default: bool, env: Mapping[str, str] = os.environ) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _bad(name, raw, "one of true/false, 1/0, yes/no, on/off")


def env_int(name: str, default: int, env: Mapping[str, str] = os.environ, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(name, raw, "a whole number") from None
    if value < minimum:
        raise _bad(name, raw, f"a whole number >= {minimum}")
    return value


def env_rate(name: str, default: str, env: Mapping[str, str] = os.environ) -> str:
    """A DRF throttle rate such as ``2000/minute`` (requests per second, minute, hour or day)."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip()
    count, _, period = value.partition("/")
    if not count.isdigit() or not period or period[0] not in "smhd":
        raise _bad(name, raw, "a rate such as 2000/minute (per second, minute, hour or day)")
    return value


def env_list(name: str, default: list[str], env: Mapping[str, str] = os.environ) -> list[str]:
    raw = env.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_config(url: str | None, default_sqlite: Path) -> dict[str, Any]:
    """DATABASES['default'] from ``DATABASE_URL`` (PostgreSQL) or the embedded SQLite file."""
    if not url:
        return sqlite_config(default_sqlite)
    scheme = urlsplit(url).scheme
    if scheme not in DATABASE_SCHEMES:
        raise _bad(
            "DATABASE_URL", url, "postgres://USER:PASSWORD@HOST:PORT/NAME or sqlite:////absolute/path.sqlite3"
        )
    try:
        config = environ.Env.db_url_config(url)
    except Exception as exc:  # django-environ raises several types on malformed URLs
        raise _bad("DATABASE_URL", url, f"a database URL ({exc})") from None
    if scheme == "sqlite":
        name = config.get("NAME") or ""
        if not name or name == ":memory:":
            raise _bad("DATABASE_URL", url, "sqlite:////absolute/path.sqlite3 (a file the worker can share)")
        return sqlite_config(Path(name))
    if not config.get("NAME"):
        raise _bad("DATABASE_URL", url, "a database name after the host, e.g. postgres://u@host:5432/ichweb")
    config["CONN_MAX_AGE"] = 60
    config["CONN_HEALTH_CHECKS"] = True
    return config


def sqlite_config(path: Path) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        # The web process and the worker share the file: wait for locks, write-ahead log for readers.
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        "TEST": {"NAME": str(path.with_name(path.stem + "-test.sqlite3"))},
    }


def broker_config(url: str | None, var_dir: Path) -> tuple[str, dict[str, Any]]:
    """(broker_url, broker_transport_options) from ``CELERY_BROKER_URL`` or the embedded filesystem broker."""
    if not url:
        url = "filesystem://"
    scheme = urlsplit(url).scheme
    if not url.startswith(f"{scheme}://") or scheme not in BROKER_SCHEMES:
        known = ", ".join(f"{s}://" for s in BROKER_SCHEMES)
        raise _bad("CELERY_BROKER_URL", url, f"a URL starting with one of {known}")
    if scheme != "filesystem":
        return url, {}
    root = var_dir / "broker"
    folders = {
        "data_folder_in": root / "queue",
        "data_folder_out": root / "queue",
        "control_folder": root / "control",
    }
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return url, {key: str(value) for key, value in folders.items()}


def secret_key(env: Mapping[str, str], var_dir: Path) -> str:
    """``SECRET_KEY`` (or ``SECRET_KEY_FILE``); else a random key kept in var/secret_key (mode 0600)."""
    return persistent_secret("SECRET_KEY", env, var_dir)


def persistent_secret(name: str, env: Mapping[str, str], var_dir: Path) -> str:
    """``name`` (or ``name_FILE``) from the environment; else a random value made once in var/<name lower>."""
    key = env_str(name, "", env)
    if key:
        if len(key) < 50 or len(set(key)) < 5:
            raise _bad(name, "***", "at least 50 characters with at least 5 distinct ones")
        return key
    path = var_dir / name.lower()
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        # Write then link atomically, so a web process and a worker starting together agree on one value.
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(64))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
