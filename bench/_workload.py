"""The synthetic workload the ledger and HTTP benchmarks share: inference-decision-shaped payloads."""

from __future__ import annotations

import random
from typing import Any


def decision_payload(rng: random.Random) -> dict[str, Any]:
    """One decision payload (scores, a pseudonym, two features), deterministic for the generator's seed."""
    return {
        "model": "credit@3",
        "score": round(rng.random(), 6),
        "decision": "approve" if rng.random() > 0.3 else "refer",
        "latency_us": rng.randint(50, 900),
        "applicant": f"ps1:{rng.getrandbits(96):024x}",
        "features": {
            "duration_months": rng.randint(4, 72),
            "credit_amount": rng.randint(250, 18000),
        },
    }
