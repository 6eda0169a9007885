"""The demo's closing act: a tabletop reconstruction, then an audit bundle exported and verified offline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..events import Actor
from ..trail import Trail
from .bundle import export_bundle
from .bundle_verify import verify_bundle
from .tabletop import tabletop


@dataclass(frozen=True)
class ExerciseResult:
    """The tabletop's verdict and the bundle's verification, in a few figures."""

    tabletop_passed: bool
    decision_id: str | None
    findings_failed: list[str]
    tabletop_event: int | None
    bundle: Path
    bundle_ok: bool
    bundle_events: int
    bundle_head: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}

    def lines(self) -> list[str]:
        """A short summary for a person."""
        verdict = "passed" if self.tabletop_passed else f"failed ({', '.join(self.findings_failed)})"
        ok = "verified offline" if self.bundle_ok else "FAILED verification"
        return [
            f"tabletop: decision {self.decision_id} reconstructed in full, {verdict} (event {self.tabletop_event})",
            f"bundle {self.bundle.name}: {self.bundle_events} events, signed head {self.bundle_head}, {ok}",
        ]


def audit_exercise(
    trail: Trail, *, system: str, auditor: Actor, bundle: str | Path, decision_id: str | None = None, seed: int = 7
) -> ExerciseResult:
    """Run a tabletop exercise (any decision up to now, ``seed`` for the draw), export the bundle of the drawn
    decision (or ``decision_id``) and verify it as an auditor would, with only the file."""
    res = tabletop(trail, actor=auditor, older_than=timedelta(0), seed=seed, system=system, now=datetime.now(UTC))
    did = decision_id or (None if res.decision is None else str(res.decision.payload.get("decision_id")))
    path = Path(bundle)
    ids = [did] if did else None
    info = export_bundle(trail, path, system=system, decisions=ids)
    check = verify_bundle(path, pinned_keys=[str(trail.get_event(0).payload["verifier_key"])])
    return ExerciseResult(
        tabletop_passed=res.passed,
        decision_id=did,
        findings_failed=[f["check"] for f in res.findings if not f["passed"] and f["required"]],
        tabletop_event=res.event_seq,
        bundle=path,
        bundle_ok=check.ok,
        bundle_events=info.events,
        bundle_head=info.head_size,
    )
