"""Settings come from the environment: the embedded default, the services mode, production.

Each case runs in a fresh interpreter, as the server would start.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPORT = """
import json, django
from django.conf import settings
django.setup()
from django.db import connection
report = {
    "engine": settings.DATABASES["default"]["ENGINE"],
    "name": str(settings.DATABASES["default"]["NAME"]),
    "broker": settings.CELERY_BROKER_URL,
    "transport_options": settings.CELERY_BROKER_TRANSPORT_OPTIONS,
    "cache": settings.CACHES["default"]["BACKEND"],
    "cache_location": settings.CACHES["default"].get("LOCATION"),
    "debug": settings.DEBUG,
    "encryption_keys": len(settings.ENCRYPTION_KEYS),
    "pool": settings.CELERY_WORKER_POOL,
    "concurrency": settings.CELERY_WORKER_CONCURRENCY,
}
if report["engine"].endswith("sqlite3"):
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        report["journal_mode"] = cursor.fetchone()[0]
print(json.dumps(report))
"""
MANAGED = (
    "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL",
    "ENRICH_ENCRYPTION_KEYS", "ENRICH_QUEUE_DIR", "ENRICH_TASK_QUEUE", "ENRICH_VAR_DIR",
    "DJANGO_SETTINGS_MODULE",
)  # fmt: skip


def start(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in MANAGED}
    env.update(DJANGO_SETTINGS_MODULE="enrich.settings", ENRICH_VAR_DIR=str(tmp_path / "var"))
    env.update(variables)
    return subprocess.run(
        [sys.executable, "-c", REPORT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def report(tmp_path: Path, **variables: str) -> dict:
    result = start(tmp_path, **variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_embedded_default_needs_no_environment(tmp_path: Path) -> None:
    values = report(tmp_path)

    var = tmp_path / "var"
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(var / "enrich.sqlite3")
    assert values["journal_mode"] == "wal"
    assert values["broker"] == "filesystem://"
    assert values["transport_options"]["data_folder_in"].startswith(str(var))
    assert values["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert values["debug"] is True
    assert values["pool"] == "threads"
    for key_file in ("secret_key", "encryption_key"):
        assert stat.S_IMODE((var / key_file).stat().st_mode) == 0o600


def test_dev_keys_are_generated_once_and_kept(tmp_path: Path) -> None:
    report(tmp_path)
    first = (tmp_path / "var" / "secret_key").read_text()
    report(tmp_path)
    assert (tmp_path / "var" / "secret_key").read_text() == first


def test_database_and_redis_urls_switch_to_postgresql_and_redis(tmp_path: Path) -> None:
    values = report(
        tmp_path,
        DATABASE_URL="postgres://enrich:pw@db.internal:5432/enrich",
        REDIS_URL="redis://cache.internal:6379/2",
    )

    assert values["engine"] == "django.db.backends.postgresql"
    assert values["name"] == "enrich"
    assert values["broker"] == "redis://cache.internal:6379/2"
    assert values["transport_options"]["ack_emulation"] is False  # the database is the record
    assert values["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert values["cache_location"] == "redis://cache.internal:6379/2"


def test_a_separate_broker_url_wins_over_redis_url(tmp_path: Path) -> None:
    values = report(
        tmp_path,
        REDIS_URL="redis://cache.internal:6379/2",
        CELERY_BROKER_URL="redis://queue.internal:6379/0",
    )
    assert values["broker"] == "redis://queue.internal:6379/0"
    assert values["cache_location"] == "redis://cache.internal:6379/2"


@pytest.mark.parametrize(
    ("variables", "missing"),
    [
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": "x" * 50}, "ENRICH_ENCRYPTION_KEYS"),
    ],
)
def test_production_without_keys_refuses_to_start_naming_the_variable(
    tmp_path: Path, variables: dict[str, str], missing: str
) -> None:
    result = start(tmp_path, DEBUG="0", **variables)

    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr
    assert not (tmp_path / "var" / "secret_key").exists()


def test_production_with_keys_starts(tmp_path: Path) -> None:
    values = report(
        tmp_path,
        DEBUG="0",
        SECRET_KEY="x" * 50,
        ENRICH_ENCRYPTION_KEYS="a2V5LW9uZS1rZXktb25lLWtleS1vbmUta2V5LW9uZSE=, b2xkZXIta2V5",
    )
    assert values["debug"] is False
    assert values["encryption_keys"] == 2


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG must be one of"),
        ("ENRICH_WORKER_CONCURRENCY", "many", "ENRICH_WORKER_CONCURRENCY must be a whole number"),
        ("ENRICH_WORKER_CONCURRENCY", "0", "ENRICH_WORKER_CONCURRENCY must be at least 1"),
    ],
)
def test_a_malformed_variable_is_a_clear_start_up_error(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    result = start(tmp_path, **{name: value})
    assert result.returncode != 0
    assert message in result.stderr
