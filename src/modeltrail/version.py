"""The installed modeltrail version (kept in its own module so that any module can import it)."""

from __future__ import annotations

__version__ = "0.1.0"
