"""Shared fixtures: every ledger test that takes ``backend_url`` runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

import modeltrail
from modeltrail.trail import Trail

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def pg_base_url() -> str:
    """The server the PostgreSQL tests use (``MODELTRAIL_TEST_PG_URL`` or the local test database)."""
    return os.environ.get("MODELTRAIL_TEST_PG_URL", DEFAULT_PG_URL)


def _pg_available() -> str | None:
    """None when the server answers, else the reason."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(pg_base_url(), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {pg_base_url()} is unreachable: {exc}"
    return None


_PG_PROBLEM: str | bool | None = False  # False: not probed yet


def require_pg() -> None:
    """Skip (or, in CI, fail) when PostgreSQL cannot be reached."""
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _pg_available()
    if isinstance(_PG_PROBLEM, str):
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {_PG_PROBLEM}")
        pytest.skip(_PG_PROBLEM)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL trail URL in a fresh schema, dropped afterwards."""
    require_pg()
    from modeltrail.ledger.pgstore import PostgresStore

    schema = "mt_test_" + secrets.token_hex(6)
    base = pg_base_url()
    url = f"{base}{'&' if '?' in base else '?'}schema={schema}"
    yield url
    store = PostgresStore(url)
    try:
        store.drop()
    finally:
        store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for the embedded SQLite trail, or a PostgreSQL URL with a fresh schema."""
    if request.param == "sqlite":
        yield None
        return
    yield request.getfixturevalue("pg_url")


@pytest.fixture()
def trail(tmp_path: Path, backend_url: str | None) -> Iterator[Trail]:
    """A fresh trail on each backend (SQLite, then PostgreSQL); closed after the test."""
    t = modeltrail.init(tmp_path, url=backend_url)
    yield t
    t.close()
