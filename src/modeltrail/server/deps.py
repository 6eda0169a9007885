"""Typed FastAPI dependencies of the routes: the app's state, its trail, the authenticated identity."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..errors import PermissionDeniedError
from ..identity import Identity, resolve_identity
from ..trail import Trail
from .state import AppState

bearer = HTTPBearer(auto_error=False, description="An API token from `modeltrail token create`.")


class Unauthorized(Exception):
    """No valid bearer token: answered 401 with ``WWW-Authenticate: Bearer`` (see :mod:`.errors`)."""


def app_state(request: Request) -> AppState:
    """The :class:`AppState` of the app serving ``request``."""
    state: AppState = request.app.state.modeltrail
    return state


State = Annotated[AppState, Depends(app_state)]


def open_trail_of(state: State) -> Trail:
    """The app's trail."""
    return state.trail()


TrailDep = Annotated[Trail, Depends(open_trail_of)]


def identity(
    request: Request, state: State, _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Identity:
    """The identity of the request's bearer token, under the policy in force (raises :class:`Unauthorized`)."""
    header = request.headers.get("authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token")
    try:
        return resolve_identity(state.trail(), state.policy(), token=token.strip())
    except PermissionDeniedError as exc:
        raise Unauthorized(str(exc)) from None


Auth = Annotated[Identity, Depends(identity)]
