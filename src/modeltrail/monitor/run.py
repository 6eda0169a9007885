"""One monitoring pass: windows of logged decisions → drift, performance, fairness → checks and alerts.

Each checked window is a ``monitor.checked`` event (subject the model version) that refs the profile it
was compared with, its first and last decision events, a blob with the full results and a blob listing
its decision ids; its findings against the policy's ``monitoring:`` rules decide whether an alert is
raised (:mod:`.alerts`). A pass resumes after the last decision a previous check covered, so re-running
it (or :func:`watch`, which loops) never checks a decision twice.

How a drift rule's ``metric`` is read per feature: ``psi``, ``js`` (Jensen–Shannon distance) and
``wasserstein`` (normed by the reference std) are the distances themselves; ``ks`` is the KS statistic
*D* (larger = more drift, so ``warn`` ≤ ``alert`` holds as for the others); ``chi2`` is Cramér's V of the
chi-square statistic (0–1). The Evidently-default report (per-column default method, dataset drift
share) is computed as well and stored with the check.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NotFoundError, ValidationError
from ..events import Actor
from ..ledger.store import EventQuery
from ..policy.model import Monitoring, Policy
from .alerts import Finding, Outcome, level_above, raise_alert, worst
from .drift import DriftReport, column_drift, drift_report
from .fairness import fairness_figures, selection_parity
from .performance import cbpe, labelled_figures
from .profile import SCORE, ReferenceProfile, load_profile
from .projection import BUDGET_ROWS, MonitorProjection, state_path
from .sealed import sealed_drift, window_aggregates
from .windows import DECISION, Window, labels_for, model_ref, parse_every

if TYPE_CHECKING:
    from ..trail import Trail

CHECKED = "monitor.checked"
MIN_LABELS = 30
RULE_METHOD = {"psi": "psi", "js": "jensenshannon", "wasserstein": "wasserstein", "ks": "ks", "chi2": "chisquare"}
PAGE = 10_000  # decisions read per page: bounds what a pass holds besides its open windows
MONITOR_ACTOR = Actor("modeltrail-monitor", "ops", "service")


@dataclass
class WindowResult:
    """The outcome of checking one window."""

    window: dict[str, Any]
    drift: DriftReport | None
    rule_values: dict[str, float]
    performance: dict[str, float]
    estimated: dict[str, dict[str, float]]
    fairness: dict[str, Any]
    findings: list[Finding]
    level: str
    check_seq: int | None = None
    alert_seq: int | None = None
    outcomes: list[Outcome] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-safe summary (what ``monitor run --json`` prints)."""
        return {
            "window": self.window,
            "level": self.level,
            "check_seq": self.check_seq,
            "alert_seq": self.alert_seq,
            "dataset_drift": None if self.drift is None else self.drift.dataset_drift,
            "drifted_columns": [] if self.drift is None else self.drift.drifted_columns,
            "rule_values": self.rule_values,
            "performance": self.performance,
            "estimated": self.estimated,
            "fairness": self.fairness,
            "findings": [f.to_dict() for f in self.findings],
            "actions": [{"action": o.action, "ok": o.ok, "detail": o.detail} for o in self.outcomes],
        }


def _rule_value(profile: ReferenceProfile, window: Window, column: str, metric: str) -> float:
    ref = profile.column(column)
    method = RULE_METHOD[metric]
    if ref.kind == "categorical" and method in ("ks", "wasserstein"):
        method = "jensenshannon"  # a distance on categories; documented in the guide
    if column not in window.frame.columns and column in window.sealed:
        if method in ("ks", "wasserstein"):
            return math.nan  # needs values: a sealed field has only binned counts (see monitor.sealed)
        r = sealed_drift(ref, window.sealed[column], method=method)
    elif window.drift_of is not None:
        r = window.drift_of(column, method)
    else:
        r = column_drift(ref, window.frame[column], method=method)
    if method == "ks":
        return float(r.statistic) if r.statistic is not None else math.nan
    if method == "chisquare":
        if r.statistic is None or r.n_current == 0:
            return math.nan
        k = max(len(ref.counts or {}) if ref.kind == "categorical" else ref.unique, 2)
        return math.sqrt(r.statistic / (r.n_current * (k - 1)))
    return r.value


def _window_drift(profile: ReferenceProfile, window: Window, cols: list[str]) -> DriftReport | None:
    """The Evidently-default report of a window: from its rows, its summary (beyond budget), sealed aggregates."""
    drift = None
    if cols and window.n:
        if window.drift_of is None:
            drift = drift_report(profile, window.frame, columns=cols, keep_shares=True)
        else:
            drift = DriftReport({c: window.drift_of(c) for c in cols}, n_current=window.n)
    sealed = [c for c in profile.columns if c not in cols and c in window.sealed]
    if sealed:
        if drift is None:
            drift = DriftReport({}, n_current=window.n)
        for c in sealed:
            drift.columns[c] = sealed_drift(profile.column(c), window.sealed[c], keep_shares=True)
    return drift


def _binary(values: Sequence[Any]) -> np.ndarray[Any, Any] | None:
    arr = np.asarray(values, dtype=object)
    try:
        out = arr.astype(np.float64)
    except (TypeError, ValueError):
        return None
    return out if np.isin(out, (0.0, 1.0)).all() else None


def check_window(
    trail: Trail | None,
    window: Window,
    profile: ReferenceProfile,
    monitoring: Monitoring | None,
    *,
    system: str = "",
    actor: Actor = MONITOR_ACTOR,
    profile_seq: int | None = None,
    threshold: float = 0.5,
    record: bool = True,
    retries: int = 3,
    backoff: float = 0.5,
) -> WindowResult:
    """Check one window against the profile and the policy's rules; record the check (and an alert)."""
    mon = monitoring or Monitoring()
    cols = [c for c in profile.columns if c in window.frame.columns]
    drift = _window_drift(profile, window, cols)
    findings: list[Finding] = []
    rule_values: dict[str, float] = {}
    if mon.drift is not None and window.n:
        wanted = list(mon.drift.features) or [*cols, *(c for c in profile.columns if c in window.sealed)]
        for c in wanted:
            if (c in window.frame.columns or c in window.sealed) and c in profile.columns:
                rule_values[c] = _rule_value(profile, window, c, mon.drift.metric)
        finite = {k: v for k, v in rule_values.items() if math.isfinite(v)}
        top = max(finite.values(), default=0.0)
        lvl = level_above(top, mon.drift.warn, mon.drift.alert)
        findings.append(
            Finding(
                "drift",
                lvl,
                mon.drift.metric,
                top,
                mon.drift.warn,
                mon.drift.alert,
                {"features": sorted(k for k, v in finite.items() if v >= mon.drift.warn)},
            )
        )
    scores = window.frame[SCORE].to_numpy(dtype=np.float64, na_value=np.nan) if SCORE in window.frame else None
    performance: dict[str, float] = {}
    estimated: dict[str, dict[str, float]] = {}
    ids = window.decision_ids
    labelled = [i for i, d in enumerate(ids) if d in window.labels]
    y = _binary([window.labels[ids[i]] for i in labelled]) if labelled else None
    enough = y is not None and len(labelled) >= MIN_LABELS and 0 < y.sum() < len(y)
    if scores is not None and y is not None and enough and np.isfinite(scores[labelled]).all():
        performance = labelled_figures(y, scores[labelled], threshold)
    if scores is not None and np.isfinite(scores).sum() >= 2:
        estimated = {
            f"performance.{k}": v.to_dict()
            for k, v in cbpe(
                scores, threshold=threshold, calibrate=profile.calibrate if profile.calibration else None
            ).items()
        }
    if mon.performance is not None and (performance or estimated):
        findings.append(
            _bound_finding(
                "performance", mon.performance.metric, mon.performance.min, mon.performance.max, performance, estimated
            )
        )
    fairness: dict[str, Any] = {}
    if mon.fairness is not None and scores is not None and window.n:
        pred = (np.nan_to_num(scores, nan=0.0) >= threshold).astype(int)
        for g in mon.fairness.groups:
            if g not in window.frame.columns:
                continue
            par = selection_parity(pred, window.frame[g].to_numpy())
            fairness[g] = par
            if y is not None and len(labelled) >= MIN_LABELS:
                figs = fairness_figures(y, pred[labelled], {g: window.frame[g].to_numpy()[labelled]})
                fairness[g]["labelled"] = figs
        values = []
        for g, par in fairness.items():
            key = f"{mon.fairness.metric}[{g}]"
            v = par.get("labelled", {}).get(key)
            if v is None and mon.fairness.metric.endswith("demographic_parity_difference"):
                v = par["demographic_parity_difference"]
            if v is not None:
                values.append((g, float(v), par["interval"]))
        if values:
            g, v, (lo, hi) = max(values, key=lambda t: t[1])
            bound = mon.fairness.max
            lvl = "ok" if bound is None or v <= bound else ("alert" if lo > bound else "warn")
            findings.append(
                Finding("fairness", lvl, mon.fairness.metric, v, None, bound, {"group": g, "interval": [lo, hi]})
            )
    level = worst([f.level for f in findings])
    res = WindowResult(window.describe(), drift, rule_values, performance, estimated, fairness, findings, level)
    if record and trail is not None:
        _record(trail, res, window, profile, profile_seq, mon, system, actor, retries, backoff)
    return res


def _bound_finding(
    rule: str,
    metric: str,
    lo: float | None,
    hi: float | None,
    realised: dict[str, float],
    est: dict[str, dict[str, float]],
) -> Finding:
    def breached(v: float) -> bool:
        return (lo is not None and v < lo) or (hi is not None and v > hi)

    if metric in realised:
        v = realised[metric]
        return Finding(
            rule, "alert" if breached(v) else "ok", metric, v, None, lo if lo is not None else hi, {"source": "labels"}
        )
    e = est.get(metric)
    if e is None or not math.isfinite(e["value"]):
        return Finding(rule, "ok", metric, None, None, lo if lo is not None else hi, {"source": "none"})
    v = e["value"]
    level = "ok"
    if breached(v):
        # Certain only when the whole interval is on the wrong side of the bound.
        level = "alert" if breached(e["high"]) and breached(e["low"]) else "warn"
    return Finding(
        rule,
        level,
        metric,
        v,
        None,
        lo if lo is not None else hi,
        {"source": "cbpe", "interval": [e["low"], e["high"]]},
    )


def _record(
    trail: Trail,
    res: WindowResult,
    window: Window,
    profile: ReferenceProfile,
    profile_seq: int | None,
    mon: Monitoring,
    system: str,
    actor: Actor,
    retries: int,
    backoff: float,
) -> None:
    full = {**res.summary(), "drift": None if res.drift is None else res.drift.to_dict()}
    if res.drift is not None:
        full["distributions"] = {n: c.shares for n, c in res.drift.columns.items() if c.shares is not None}
    results_blob = trail.blobs.put_bytes(json.dumps(full, sort_keys=True, default=_json).encode("utf-8"))
    if window.ids_file is not None:  # beyond the budget: every id, streamed from the spill file
        decisions_blob = _ids_blob(trail, window.ids_file)
    else:
        decisions_blob = trail.blobs.put_bytes("\n".join(window.decision_ids).encode("utf-8"))
    compact = {}
    if res.drift is not None:
        compact = {
            n: {"method": c.method, "value": _finite(c.value), "drifted": c.drifted}
            for n, c in res.drift.columns.items()
        }
    payload = {
        "window": res.window,
        "env": window.env,
        "profile_seq": profile_seq,
        "level": res.level,
        "drift": compact,
        "dataset_drift": None if res.drift is None else res.drift.dataset_drift,
        "share_drifted": None if res.drift is None else res.drift.share_drifted,
        "rule_values": {k: _finite(v) for k, v in res.rule_values.items()},
        "performance": res.performance,
        "estimated": res.estimated,
        "findings": [f.to_dict() for f in res.findings],
        "results_sha256": results_blob,
        "decisions_sha256": decisions_blob,
    }
    refs = [window.model, f"blob:sha256:{results_blob}", f"blob:sha256:{decisions_blob}"]
    if profile_seq is not None:
        refs.append(f"event:{profile_seq}")
    for s in (window.first_seq, window.last_seq):
        if s is not None:
            refs.append(f"event:{s}")
    r = trail.record(
        CHECKED,
        system=system,
        actor=actor,
        subject=window.model,
        payload=json.loads(json.dumps(payload, default=_json)),
        refs=list(dict.fromkeys(refs)),
    )
    res.check_seq = r.seq
    if res.level != "ok":
        alert, outcomes = raise_alert(
            trail,
            res.findings,
            model=window.model,
            env=window.env,
            window=res.window,
            check_seq=r.seq,
            decisions_blob=decisions_blob,
            monitoring=mon,
            system=system,
            actor=actor,
            retries=retries,
            backoff=backoff,
        )
        res.alert_seq, res.outcomes = alert.seq, outcomes


def _ids_blob(trail: Trail, path: str) -> str:
    """The decisions blob (ids joined by newlines, as for a window in memory) from a spill file."""

    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(suffix=".ids")
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as f:
            pending = b""
            while block := f.read(1 << 20):
                out.write(pending)
                pending = block
            out.write(pending.removesuffix(b"\n"))
        return trail.blobs.put_file(tmp)
    finally:
        os.unlink(tmp)


def _finite(v: float) -> float | None:
    return v if isinstance(v, float) and math.isfinite(v) else None


def _json(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    raise TypeError(type(o).__name__)


def last_checked_seq(trail: Trail, model: str, env: str | None) -> int | None:
    """The last decision seq covered by a recorded check of ``model`` in ``env`` (where a pass resumes)."""
    for ev in trail.events(CHECKED, subject=model_ref(model), descending=True):
        if ev.payload.get("env") == env:
            last = ev.payload.get("window", {}).get("last_seq")
            return int(last) if last is not None else None
    return None


def _policy(trail: Trail, system: str) -> Policy | None:
    from ..registry.policy_store import current_policy

    try:
        return current_policy(trail, system)
    except NotFoundError:
        return None


def _system_of(trail: Trail, model: str) -> str:
    from ..registry.lifecycle import get_version

    return get_version(trail, model_ref(model).removeprefix("model:")).system


def monitor(
    trail: Trail,
    model: str,
    env: str | None = None,
    *,
    every: str | float | None = None,
    count: int | None = None,
    policy: Policy | None = None,
    actor: Actor = MONITOR_ACTOR,
    complete_only: bool = False,
    resume: bool = True,
    threshold: float = 0.5,
    retries: int = 3,
    backoff: float = 0.5,
    budget_rows: int = BUDGET_ROWS,
    keep_state: bool = True,
) -> list[WindowResult]:
    """Check the windows of ``model`` (``name@version``) in ``env`` not checked yet.

    ``every`` defaults to the policy's drift window. With ``complete_only`` a time window is checked
    only once it has ended (and a count window once full), so a watcher never checks a partial one.

    Decisions are read once, in pages, into the monitoring projection (:mod:`.projection`): a window is
    checked as soon as it is complete and then dropped, so a pass holds one open window at a time, each
    exact up to ``budget_rows`` decisions and bounded beyond. With ``keep_state`` the open windows are
    saved under the trail and the next pass starts after the last decision read, not the last checked.
    """
    ref = model_ref(model)
    if "@" not in ref:
        raise ValidationError(f"expected a model version such as credit@2, got {model!r}", field="model")
    if every is not None and count is not None:
        raise ValidationError("give a time window or a count, not both", field="window")
    if count is not None and count < 1:
        raise ValidationError("must be at least 1", field="count")
    system = _system_of(trail, ref)
    pol = policy if policy is not None else _policy(trail, system)
    mon = pol.monitoring if pol is not None else None
    if every is None and count is None:
        every = mon.drift.window if mon is not None and mon.drift is not None else "1d"
    profile, profile_seq = load_profile(trail, ref)
    after = last_checked_seq(trail, ref, env) if resume else None
    groups = list(mon.fairness.groups) if mon is not None and mon.fairness is not None else []
    state_dir = Path(trail.path) / "monitor"
    state_dir.mkdir(exist_ok=True)
    proj = MonitorProjection(
        profile, ref, env, every=every, count=count, budget_rows=budget_rows, keep=groups, spill_dir=state_dir
    )
    path = state_path(trail, proj) if keep_state and resume else None
    start = -1 if after is None else after
    if path is not None and path.exists():
        saved = MonitorProjection(
            profile, ref, env, every=every, count=count, budget_rows=budget_rows, keep=groups, spill_dir=state_dir
        )
        # A state is reused only when it starts where the checks stopped (no window checked since it was saved).
        if (
            saved.load(path)
            and saved.last_seq >= start
            and all((w.first_seq or 0) > start for w in saved.windows.values())
        ):
            proj = saved
    if proj.last_seq < start:
        proj.last_seq = start

    out: list[WindowResult] = []

    def check(key: float) -> None:
        w = proj.window(key)
        if w.decision_ids:
            labels = labels_for(trail, w.decision_ids, after_seq=(w.first_seq or 1) - 1)
            w.labels = {d: labels[d] for d in w.decision_ids if d in labels}
        if proj.seconds is not None:
            w.sealed = window_aggregates(trail, ref, env, w.start, w.end, profile.digest)
        out.append(
            check_window(
                trail,
                w,
                profile,
                mon,
                system=system,
                actor=actor,
                profile_seq=profile_seq,
                threshold=threshold,
                retries=retries,
                backoff=backoff,
            )
        )
        proj.pop(key)

    while True:
        after_seq = proj.last_seq if proj.last_seq >= 0 else None
        page = [r.leaf for r in trail.store.query_events(EventQuery(DECISION, after_seq=after_seq, limit=PAGE))]
        if not page:
            break
        proj.fold_leaves(page)
        for key in proj.closed():
            check(key)
    now = datetime.now(UTC)
    for key in sorted(proj.windows):
        if complete_only:
            if proj.count is not None:
                continue  # not full (full ones were checked above)
            if proj.seconds is not None and key + proj.seconds > now.timestamp():
                continue
        check(key)
    if path is not None:
        proj.save(path)
    return out


def watch(
    trail: Trail,
    model: str,
    env: str | None,
    *,
    every: str | float,
    window: str | float | None = None,
    actor: Actor = MONITOR_ACTOR,
    stop: threading.Event | None = None,
    on_pass: Callable[[list[WindowResult]], None] | None = None,
    max_passes: int | None = None,
) -> int:
    """Run :func:`monitor` every ``every`` until SIGTERM/SIGINT (or ``stop``); returns the passes made.

    A signal ends the wait at once and lets the pass under way finish (each check is one event, so
    nothing is half-written); the next start resumes after the last checked decision.
    """
    period = parse_every(every)
    stop = stop or threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    passes = 0
    try:
        while not stop.is_set():
            t0 = time.monotonic()
            res = monitor(trail, model, env, every=window, actor=actor, complete_only=True)
            passes += 1
            if on_pass is not None:
                on_pass(res)
            if max_passes is not None and passes >= max_passes:
                break
            stop.wait(max(0.0, period - (time.monotonic() - t0)))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return passes
