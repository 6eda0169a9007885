"""Write docs/openapi.json from the HTTP API (``tests/test_server.py`` checks it is current)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from modeltrail.server import create_app, fastapi_app

OUT = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


def main() -> int:
    """Regenerate (or with --check, compare) the OpenAPI document."""
    spec = fastapi_app(create_app("/nonexistent")).openapi()
    text = json.dumps(spec, indent=2, sort_keys=True) + "\n"
    if "--check" in sys.argv:
        return 0 if OUT.exists() and OUT.read_text() == text else 1
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
