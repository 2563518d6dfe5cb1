"""Settings for both defaults, and one clear line for a bad environment variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from ichweb.config import broker_config, database_config, env_bool, env_int, secret_key

ROOT = Path(__file__).resolve().parents[2]


def test_embedded_default_is_sqlite_under_var(tmp_path):
    config = database_config(None, tmp_path / "var" / "ichweb.sqlite3")
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(tmp_path / "var" / "ichweb.sqlite3")
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_database_url_switches_to_postgresql(tmp_path):
    config = database_config("postgres://ich:secret@db.example.org:5433/ichweb", tmp_path / "x.sqlite3")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"]) == (
        "db.example.org",
        5433,
        "ichweb",
        "ich",
    )


@pytest.mark.parametrize("url", ["mysql://u@h/db", "nonsense", "postgres://u@host:5432/", "sqlite://"])
def test_bad_database_url_names_the_variable(url, tmp_path):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        database_config(url, tmp_path / "x.sqlite3")


def test_embedded_broker_is_the_filesystem_transport(tmp_path):
    url, options = broker_config(None, tmp_path)
    assert url == "filesystem://"
    assert Path(options["data_folder_in"]).is_dir()
    assert options["data_folder_in"] == options["data_folder_out"]
    assert Path(options["control_folder"]).is_dir()


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "amqp://guest:guest@127.0.0.1:5672//"])
def test_broker_url_switches_to_redis_or_rabbitmq(url, tmp_path):
    assert broker_config(url, tmp_path) == (url, {})


@pytest.mark.parametrize("url", ["kafka://broker:9092", "redis:/no-slashes", "127.0.0.1:6379"])
def test_unknown_broker_scheme_names_the_variable(url, tmp_path):
    with pytest.raises(ImproperlyConfigured, match="CELERY_BROKER_URL"):
        broker_config(url, tmp_path)


def test_env_bool_and_int_fail_loudly():
    assert env_bool("DEBUG", False, {"DEBUG": "yes"}) is True
    assert env_bool("DEBUG", True, {}) is True
    with pytest.raises(ImproperlyConfigured, match="DEBUG='maybe'"):
        env_bool("DEBUG", False, {"DEBUG": "maybe"})
    with pytest.raises(ImproperlyConfigured, match="SESSION_COOKIE_AGE"):
        env_int("SESSION_COOKIE_AGE", 10, {"SESSION_COOKIE_AGE": "ten"})


def test_secret_key_is_generated_once_and_kept(tmp_path):
    first = secret_key({}, tmp_path)
    assert len(first) >= 50
    assert secret_key({}, tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        secret_key({"SECRET_KEY": "short"}, tmp_path)
    key_file = tmp_path / "key.txt"
    key_file.write_text("k" * 30 + "abcdefghijklmnopqrstuvwxyz\n")
    assert secret_key({"SECRET_KEY_FILE": str(key_file)}, tmp_path).startswith("kkk")


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "ICHWEB_VAR_DIR": str(ROOT / "var"), **env}
    return subprocess.run(args, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("DATABASE_URL", "mysql://root@localhost/ich"), ("CELERY_BROKER_URL", "kafka://localhost:9092")],
)
@pytest.mark.parametrize("entry", ["manage", "celery"])
def test_bad_environment_stops_start_up_with_one_line(entry, variable, value):
    args = (
        [sys.executable, "manage.py", "check"]
        if entry == "manage"
        else [sys.executable, "-m", "celery", "-A", "ichweb", "inspect", "ping"]
    )
    result = _run(args, **{variable: value})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ichweb: configuration error:") and variable in lines[0]


PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "prod-" + "x7Q2kLm9vB3nR8tY1wE5uI0oP4aS6dF" * 2,
    "ALLOWED_HOSTS": "ichweb.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://ichweb.example.org",
}


def test_check_deploy_with_production_environment_has_no_warnings():
    result = _run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION_ENV
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
