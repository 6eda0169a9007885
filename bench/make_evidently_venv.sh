#!/usr/bin/env bash
# Creates the environment bench/monitoring.py runs Evidently in (the baseline), apart from modeltrail's:
# Evidently 0.7.x does not import with pandas 3, which modeltrail's environment has.
#   bash bench/make_evidently_venv.sh [VENV_DIR]      (default /tmp/evidently-venv)
set -euo pipefail
VENV="${1:-/tmp/evidently-venv}"
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet 'evidently>=0.7,<0.8' 'pandas>=2.1,<3' pyarrow
"$VENV/bin/python" -c "import evidently, pandas; print('evidently', evidently.__version__, 'pandas', pandas.__version__)"
