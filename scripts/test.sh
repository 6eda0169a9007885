#!/usr/bin/env bash
# The project's one test command: sets up .venv from the project's own files (every extra: [all,dev], so
# the shap, server, MLflow, PDF and PostgreSQL paths all run), lints, type-checks and runs the test
# suite (PostgreSQL tests included; the server is started if it is down).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet -e '.[all,dev]' 2> >(grep -v "^WARNING: Location" >&2)

# System packages some tests need, from Debian (root only; a fresh machine may need the package lists first).
apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -qq "$@" >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$@" >/dev/null 2>&1; } || true
  fi
}

# PDF documents (the [pdf] extra): WeasyPrint renders with the base system's Pango; HarfBuzz-Subset (Debian
# libharfbuzz-subset0) halves the time of a PDF and is required by future WeasyPrint versions.
if ! ldconfig -p 2>/dev/null | grep -q libharfbuzz-subset; then
  apt_install libharfbuzz-subset0
fi

# The console's browser tests (tests/test_console_browser.py) drive Debian's Chromium through Playwright;
# the browser comes from apt, never from `playwright install`.
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi

# PostgreSQL: start the local cluster if it is installed but down (CI runs right after a session).
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q 2>/dev/null; then
  ver=$(ls /etc/postgresql 2>/dev/null | head -n1)
  [ -n "$ver" ] && pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 1 30); do pg_isready -q 2>/dev/null && break; sleep 1; done
fi

echo "== ruff"
.venv/bin/ruff check .
echo "== mypy --strict src/"
.venv/bin/mypy
echo "== mypy --strict tests/typecheck/ (the public API as users write it)"
MYPYPATH=src .venv/bin/mypy tests/typecheck/api_usage.py
echo "== pytest"
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
code=$?
set -e
# Exit code 5 means no test was collected: that is a failure of the suite, not a pass.
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$code"
