"""OpenLineage RunEvents for the training run of a model version, emitted through openlineage-python.

START at ``run.started``, then COMPLETE or FAIL at ``run.ended``: the job is the run's name in the
trail's namespace, the inputs are the dataset versions (with their content hash as the dataset version
facet), the output is the model version. Parameters travel in the standard execution-parameters run
facet; metrics, which OpenLineage has no standard facet for, in a ``modeltrail_metrics`` custom run
facet (custom facets are part of the spec: a ``_producer`` and a ``_schemaURL``).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from ..errors import ValidationError
from ..trail import Trail
from ..version import __version__
from .facts import ModelFacts, model_facts

PRODUCER = f"https://github.com/modeltrail/modeltrail/tree/v{__version__}"
METRICS_SCHEMA = "https://modeltrail.dev/openlineage/MetricsRunFacet.json"


def _run_uuid(run_ref: str) -> str:
    """The run's id as a UUID (modeltrail run ids are 32 hex digits, UUIDv7 layout)."""
    raw = run_ref.removeprefix("run:")
    try:
        return str(uuid.UUID(hex=raw))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, run_ref))


def run_events(trail: Trail, model: str) -> list[Any]:
    """The OpenLineage ``RunEvent`` objects (START, then COMPLETE or FAIL) of the run that trained ``model``."""
    import attr
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import (
        RunFacet,
        dataset_version_dataset,
        execution_parameters_run,
        job_type_job,
    )

    @attr.define
    class MetricsRunFacet(RunFacet):
        """Metrics the run and its evidence reports recorded (custom facet)."""

        metrics: dict[str, float] = attr.field(factory=dict)

        @staticmethod
        def _get_schema() -> str:
            return METRICS_SCHEMA

    f: ModelFacts = model_facts(trail, model)
    if f.run is None:
        raise ValidationError(f"{f.ref} was not registered from a tracked run", field="model")
    namespace = f"modeltrail://{trail.origin}"
    run_id = _run_uuid(str(f.run.subject))
    job = Job(
        namespace=namespace,
        name=str(f.run.payload.get("name") or f.run.subject),
        facets={
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="MODELTRAIL", jobType="TRAINING", producer=PRODUCER
            )
        },
    )
    inputs = [
        InputDataset(
            namespace=namespace,
            name=str(ds.subject),
            facets={
                "version": dataset_version_dataset.DatasetVersionDatasetFacet(
                    datasetVersion=str(ds.payload.get("content_hash") or ds.subject), producer=PRODUCER
                )
            },
        )
        for ds, _ in f.datasets
    ]
    sha = str(f.artifact.get("sha256") or "")
    outputs = [
        OutputDataset(
            namespace=namespace,
            name=f.ref,
            facets={
                "version": dataset_version_dataset.DatasetVersionDatasetFacet(
                    datasetVersion=sha or f.version, producer=PRODUCER
                )
            },
        )
    ]
    params = execution_parameters_run.ExecutionParametersRunFacet(
        parameters=[
            execution_parameters_run.ExecutionParameter(key=str(k), value=json.dumps(v))
            for k, v in sorted(f.params.items())
        ],
        producer=PRODUCER,
    )
    start = RunEvent(
        eventType=RunState.START,
        eventTime=f.run.ts,
        producer=PRODUCER,
        run=Run(runId=run_id, facets={"executionParameters": params}),
        job=job,
        inputs=inputs,
        outputs=[],
    )
    out = [start]
    end = f.run_end
    if end is not None:
        state = RunState.COMPLETE if end.payload.get("status") == "completed" else RunState.FAIL
        metrics = MetricsRunFacet(metrics=f.metrics, producer=PRODUCER)
        out.append(
            RunEvent(
                eventType=state,
                eventTime=end.ts,
                producer=PRODUCER,
                run=Run(runId=run_id, facets={"executionParameters": params, "modeltrail_metrics": metrics}),
                job=job,
                inputs=inputs,
                outputs=outputs if state == RunState.COMPLETE else [],
            )
        )
    return out


def write_openlineage(trail: Trail, model: str, path: str | Path) -> int:
    """Emit the run events of ``model`` through openlineage-python's file transport into ``path`` (JSON
    lines, one event per line); returns the number of events."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.file import FileConfig, FileTransport

    events = run_events(trail, model)
    target = Path(path)
    if target.exists():
        target.unlink()  # the transport appends; an export is written whole
    client = OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=str(target), append=True)))
    for ev in events:
        client.emit(ev)
    return len(events)
