"""A credit-scoring API served through the modeltrail guard (FastAPI).

Every ``POST /predict`` is decided by the guarded model and logged as an ``inference.decision`` event:
input fields handled by the policy's data policy (the applicant id pseudonymised, age and personal status
sealed, the telephone flag dropped), low-confidence or out-of-range applications routed to human review,
and the kill switch honoured (``modeltrail suspend credit --env production`` switches the API to the
fallback within a second). ``GET /health`` reports the model, the suspension state and logger counters.

Run it::

    MODELTRAIL_URL=/path/to/project uvicorn examples.fastapi_app.app:app

Configuration (environment): ``MODELTRAIL_URL`` (the trail; created with a demo model when empty),
``MODELTRAIL_MODEL`` (``name@version`` of a registered model; default: a logistic-regression pipeline
trained at start-up on ``MODELTRAIL_EXAMPLE_DATA``, the German Credit CSV), ``MODELTRAIL_ENV``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, Field
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import modeltrail
from modeltrail.errors import ModeltrailError, SuspendedError, ValidationError
from modeltrail.policy import load_policy
from modeltrail.runtime import Guard, guard
from modeltrail.trail import Trail

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[1] / "tests" / "data" / "german_credit.csv"
DEMO_POLICY = HERE.parents[1] / "src" / "modeltrail" / "data" / "demo" / "policy.yaml"

NUMERIC = [
    "duration_months",
    "credit_amount",
    "installment_rate",
    "residence_since",
    "age_years",
    "existing_credits",
    "num_dependents",
]
CATEGORICAL = [
    "checking_status",
    "credit_history",
    "purpose",
    "savings",
    "employment_since",
    "personal_status_sex",
    "other_debtors",
    "property",
    "other_installment_plans",
    "housing",
    "job",
    "telephone",
    "foreign_worker",
]


class Application(BaseModel):
    """One credit application in the shape of the German Credit data (Statlog)."""

    applicant_id: str = Field(min_length=1, max_length=64)
    checking_status: str
    duration_months: int = Field(ge=1, le=120)
    credit_history: str
    purpose: str
    credit_amount: float = Field(gt=0)
    savings: str
    employment_since: str
    installment_rate: int = Field(ge=1, le=4)
    personal_status_sex: str
    other_debtors: str
    residence_since: int = Field(ge=1, le=4)
    property: str
    age_years: int = Field(ge=18, le=120)
    other_installment_plans: str
    housing: str
    existing_credits: int = Field(ge=1, le=10)
    job: str
    num_dependents: int = Field(ge=1, le=10)
    telephone: str
    foreign_worker: str


class DecisionOut(BaseModel):
    """The decision returned to the client."""

    decision_id: str
    output: Any
    score: float | None
    confidence: float | None
    route: Literal["auto", "review", "fallback"]
    fallback: str | None
    model: str
    durable_seq: int | None = None


def train_demo_model(csv_path: Path) -> Pipeline:
    """A real, small credit model: one-hot categoricals, scaled numbers, logistic regression."""
    df = pd.read_csv(csv_path)
    X, y = df[NUMERIC + CATEGORICAL], (df["credit_risk"] == "good").astype(int)
    pre = ColumnTransformer(
        [("num", StandardScaler(), NUMERIC), ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)]
    )
    return Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=2000))]).fit(X, y)


def build_guard(trail: Trail) -> Guard:
    """The guard for this app: a registered model when ``MODELTRAIL_MODEL`` names one, else the demo model."""
    env = os.environ.get("MODELTRAIL_ENV", "production")
    ref = os.environ.get("MODELTRAIL_MODEL")
    if ref:
        return guard(trail, ref, env=env)
    data = Path(os.environ.get("MODELTRAIL_EXAMPLE_DATA", DEFAULT_DATA))
    df = pd.read_csv(data)
    ranges = {c: [float(df[c].min()), float(df[c].max())] for c in NUMERIC}
    return guard(
        trail,
        train_demo_model(data),
        name="credit",
        env=env,
        policy=load_policy(DEMO_POLICY),
        training_range=ranges,
    )


def get_guard(request: Request) -> Guard:
    """FastAPI dependency: the app's guard (one per process, shared by all requests)."""
    g: Guard = request.app.state.guard
    return g


GuardDep = Annotated[Guard, Depends(get_guard)]


def create_app(trail_location: str | os.PathLike[str] | None = None) -> FastAPI:
    """Build the app; the trail is opened (or created) at start-up and the logger flushed at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        location = trail_location or os.environ.get("MODELTRAIL_URL") or "."
        try:
            trail = modeltrail.open(location)
        except ModeltrailError:
            trail = modeltrail.init(location)
        app.state.trail = trail
        app.state.guard = build_guard(trail)
        try:
            yield
        finally:
            app.state.guard.logger.flush(30)  # nothing acknowledged may be lost at shutdown
            trail.close()

    app = FastAPI(title="credit-scoring (guarded by modeltrail)", lifespan=lifespan)

    @app.post("/predict", response_model=DecisionOut)
    def predict(application: Application, g: GuardDep, durable: bool = False) -> DecisionOut:
        """Decide on one application. ``?durable=true`` answers only once the decision is in the ledger."""
        features = application.model_dump()
        try:
            d = g.decide(features, subject=application.applicant_id)
        except SuspendedError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
        except ValidationError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        seq = d.durable(timeout=5).seq if durable else None
        return DecisionOut(
            decision_id=d.decision_id,
            output=d.output,
            score=d.score,
            confidence=d.confidence,
            route=d.route,
            fallback=d.fallback,
            model=d.model,
            durable_seq=seq,
        )

    @app.get("/health")
    def health(g: GuardDep) -> dict[str, Any]:
        """Liveness plus what an operator needs: the model, its suspension state, logger counters."""
        s = g.suspension
        return {
            "status": "suspended" if s else "ok",
            "model": g.model_ref,
            "env": g.env,
            "suspension": None if s is None else {"reason": s.reason, "since": s.ts, "by": s.actor},
            "fallback": g.fallback,
            "logger": g.logger.stats(),
        }

    return app


app = create_app()
