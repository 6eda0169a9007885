"""Lineage: training runs, dataset versions, model versions and the graph that links them.

Everything here records ledger events (``run.*``, ``dataset.registered``, ``model.registered``) and reads
the lineage projection folded from them; see :mod:`modeltrail.lineage.projection` for the tables.

    >>> import modeltrail, tempfile
    >>> import pandas as pd
    >>> from modeltrail import Actor
    >>> trail = modeltrail.init(tempfile.mkdtemp())
    >>> alice = Actor("alice", "data_scientist")
    >>> data = trail.register_dataset(pd.DataFrame({"x": [1, 2, 3]}), name="toy", system="demo", actor=alice)
    >>> with trail.run("train", system="demo", actor=alice, datasets=[data]) as run:
    ...     _ = run.log_metric("auc", 0.9)
    >>> trail.lineage(run.ref, direction="up").refs("dataset") == [data.ref]
    True
    >>> trail.close()

DVC and MLflow imports live in :mod:`modeltrail.integrations`.
"""

from __future__ import annotations

from . import projection as projection  # registers the lineage projection
from .code import CodeInfo, capture_code
from .datasets import HASH_METHOD, content_hash, register_dataset
from .entities import DatasetVersion, ModelVersion, RunInfo
from .environment import EnvironmentInfo, capture_environment
from .models import infer_signature, load_model, register_model
from .queries import (
    Graph,
    downstream,
    export_dot,
    get_dataset,
    get_model_version,
    get_run,
    list_datasets,
    list_models,
    list_runs,
    metric_history,
    models_trained_on,
    resolve_ref,
    to_json,
    upstream,
)
from .runs import Run, attach_run, start_run, trail_run

__all__ = [
    "HASH_METHOD",
    "CodeInfo",
    "DatasetVersion",
    "EnvironmentInfo",
    "Graph",
    "ModelVersion",
    "Run",
    "RunInfo",
    "attach_run",
    "capture_code",
    "capture_environment",
    "content_hash",
    "downstream",
    "export_dot",
    "get_dataset",
    "get_model_version",
    "get_run",
    "infer_signature",
    "list_datasets",
    "list_models",
    "list_runs",
    "load_model",
    "metric_history",
    "models_trained_on",
    "register_dataset",
    "register_model",
    "resolve_ref",
    "start_run",
    "to_json",
    "trail_run",
    "upstream",
]
