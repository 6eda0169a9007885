"""The HTTP API (``[server]`` extra): :func:`create_app` builds the ASGI application."""

from .app import create_app, fastapi_app

__all__ = ["create_app", "fastapi_app"]
