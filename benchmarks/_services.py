"""What the benchmarks that need PostgreSQL share: is a port answering, and a throw-away
database made fresh and dropped after (not a benchmark itself: ``run.py`` skips ``_`` files)."""

from __future__ import annotations

import socket

POSTGRES_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"


def reachable(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port``."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def recreate_database(name: str) -> None:
    """Drop the database ``name`` if it exists (sessions and all) and create it empty."""
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    """Drop the database ``name`` if it exists."""
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
