"""Evidence reports: data governance (with PII scan), fairness, performance, explainability, robustness.

The report functions are imported on first use, so ``import modeltrail.evidence`` stays light::

    from modeltrail.evidence import fairness_report, record_report
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Report": "report",
    "data_report": "data_report",
    "fairness_report": "fairness",
    "performance_report": "performance",
    "explainability_report": "explain",
    "DecisionExplainer": "explain",
    "robustness_report": "robustness",
    "record_report": "record",
    "RecordedReport": "record",
    "render_html": "render",
}

__all__ = sorted(_EXPORTS)

# ``data_report`` is both a submodule and its main function: bind the function eagerly, or importing
# the submodule would leave the package attribute pointing at the module.
from .data_report import data_report  # noqa: E402, F401


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modeltrail.evidence' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
