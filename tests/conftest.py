"""Shared fixtures (temporary: sqlite only until the PostgreSQL backend lands)."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["sqlite"])
def backend_url(request: pytest.FixtureRequest) -> str | None:
    return None
