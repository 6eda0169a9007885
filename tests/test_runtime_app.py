"""The FastAPI example app serves a real model through the guard (fastapi.testclient)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient

import modeltrail
from modeltrail.events import Actor
from modeltrail.governance import record_governed

ROOT = Path(__file__).resolve().parents[1]


def _load_app_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("fastapi_example_app", ROOT / "examples" / "fastapi_app" / "app.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_example_app_predict_health_and_kill_switch(tmp_path: Path) -> None:
    modeltrail.init(tmp_path).close()
    mod = _load_app_module()
    app = mod.create_app(str(tmp_path))
    rows = pd.read_csv(ROOT / "tests" / "data" / "german_credit.csv").head(5)
    with TestClient(app) as client:
        assert client.get("/health").json()["status"] == "ok"
        outs = []
        for i, r in enumerate(rows.to_dict(orient="records")):
            body = {k: r[k] for k in mod.NUMERIC + mod.CATEGORICAL} | {"applicant_id": f"A-{i}"}
            res = client.post("/predict", params={"durable": "true"}, json=body)
            assert res.status_code == 200, res.text
            outs.append(res.json())
        assert all(o["output"] in (0, 1) and o["durable_seq"] is not None for o in outs)
        assert client.post("/predict", json={"applicant_id": "x"}).status_code == 422
        t = client.app.state.trail  # type: ignore[attr-defined]
        ev = t.get_event(outs[0]["durable_seq"])
        assert ev.payload["pseudonyms"]["applicant_id"].startswith("ps2:")
        assert set(ev.sealed) == {"age_years", "personal_status_sex"} and "telephone" not in ev.payload["input"]
        record_governed(
            t,
            "model.suspended",
            system="credit-scoring",
            actor=Actor("erin", "ops"),
            subject="model:credit",
            payload={"env": "production", "reason": "incident", "fallback": None},
        )
        client.app.state.guard.switch.poll()  # type: ignore[attr-defined]
        assert client.get("/health").json()["status"] == "suspended"
        res = client.post("/predict", json=body)
        assert res.json()["route"] == "fallback" and res.json()["output"] is None
