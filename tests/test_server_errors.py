"""One mapping from errors to HTTP statuses: the error classes carry it, one handler applies it."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

import modeltrail
from modeltrail import errors
from modeltrail.ledger.note import MalformedNoteError
from modeltrail.server import create_app, fastapi_app

STATUS = {
    errors.ModeltrailError: 400,
    errors.ValidationError: 422,
    errors.PolicyError: 422,
    MalformedNoteError: 422,  # a SignatureError and a ValidationError: the bad input wins
    errors.NotFoundError: 404,
    errors.PermissionDeniedError: 403,
    errors.GateFailedError: 409,
    errors.ApprovalError: 409,
    errors.LifecycleError: 409,
    errors.SuspendedError: 503,
    errors.TrailNotFoundError: 400,
    errors.StoreError: 400,
    errors.TrustError: 400,
}


@pytest.mark.parametrize("cls,status", STATUS.items(), ids=[c.__name__ for c in STATUS])
def test_each_error_class_declares_its_status(cls: type[errors.ModeltrailError], status: int) -> None:
    assert cls.http_status == status


class _Teapot(errors.ModeltrailError):
    http_status = 418


def test_the_handler_answers_with_the_status_of_the_raised_class(tmp_path: Path) -> None:
    modeltrail.init(tmp_path / "t").close()
    app = create_app(str(tmp_path / "t"))
    inner = fastapi_app(app)

    @inner.get("/test/teapot")
    def teapot() -> None:
        raise _Teapot("short and stout")

    @inner.get("/test/invalid")
    def invalid() -> None:
        raise errors.ValidationError("expected a number", field="x")

    @inner.get("/test/missing")
    def missing() -> None:
        raise errors.NotFoundError("no such thing")

    c = TestClient(app, raise_server_exceptions=False)
    r = c.get("/test/teapot")
    assert (r.status_code, r.json()) == (418, {"error": "short and stout"})
    r = c.get("/test/invalid")
    assert (r.status_code, r.json()) == (422, {"error": "expected a number", "field": "x"})
    r = c.get("/test/missing")
    assert (r.status_code, r.json()) == (404, {"error": "no such thing"})
