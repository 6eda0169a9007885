"""Alerts that act: levels from the policy's ``monitoring:`` rules, and the actions an alert takes.

A finding at ``warn`` level is recorded and notified (when ``notify`` is among ``on_alert``); at
``alert`` level every action of ``on_alert`` runs:

* ``notify``: a JSON POST to the policy's webhook, signed ``X-Modeltrail-Signature: sha256=<HMAC-SHA256
  of the body>`` with the key in the environment variable ``secret_env`` (never in the policy or the
  ledger), retried with exponential backoff on connection errors and 5xx answers; and an e-mail over SMTP;
* ``require_review``: every decision of the model goes to the review queue until the alert is cleared.
  It is the kill switch with the ``human_review`` fallback (``model.suspended``), the mechanism every
  guard already follows within a poll interval; clearing the alert with ``resume`` lifts it;
* ``suspend`` / ``fallback``: the kill switch with the policy's fallback.

Each alert is a ``monitor.alert`` event about the model version that refs the window's check event,
its first and last decision events and the blob listing every decision id of the window; each action is
a ``monitor.action`` event that refs the alert (with its outcome, also when it failed). Clearing is
``monitor.alert_cleared``, recorded with the human who cleared it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from ..errors import LifecycleError, ModeltrailError, NotFoundError, PermissionDeniedError, ValidationError
from ..events import Actor, Receipt
from ..identity import Identity
from ..policy.model import Monitoring, Notify

if TYPE_CHECKING:
    from ..trail import Trail

ALERT = "monitor.alert"
ACTION = "monitor.action"
CLEARED = "monitor.alert_cleared"
SIGNATURE_HEADER = "X-Modeltrail-Signature"
LEVELS = ("ok", "warn", "alert")


@dataclass
class Finding:
    """One rule's verdict on a window: level, the value against the threshold, and what drove it."""

    rule: str
    level: str
    metric: str
    value: float | None
    warn: float | None = None
    alert: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return dict(self.__dict__)


def level_above(value: float, warn: float, alert: float) -> str:
    """``alert`` when ``value >= alert``, ``warn`` when ``value >= warn``, else ``ok``."""
    if value >= alert:
        return "alert"
    if value >= warn:
        return "warn"
    return "ok"


def worst(levels: Sequence[str]) -> str:
    """The most severe of ``levels``."""
    return max(levels, key=LEVELS.index, default="ok")


@dataclass
class Outcome:
    """What one action did: ``ok`` or ``failed``, attempts made, and a short detail (never a secret)."""

    action: str
    ok: bool
    detail: str
    attempts: int = 1
    target: str | None = None
    receipt: Receipt | None = None


def sign(body: bytes, secret: bytes) -> str:
    """The signature header value of ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, secret: bytes, header: str) -> bool:
    """Constant-time check of a received signature header (for receivers of the webhook)."""
    return hmac.compare_digest(sign(body, secret), header)


def post_webhook(
    url: str,
    message: Mapping[str, Any],
    *,
    secret: bytes | None,
    retries: int = 3,
    backoff: float = 0.5,
    timeout: float = 5.0,
) -> Outcome:
    """POST ``message`` as JSON to ``url``; retried on connection errors and 5xx, not on 4xx."""
    body = json.dumps(message, sort_keys=True, separators=(",", ":")).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "modeltrail-monitor"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    last = ""
    for attempt in range(1, retries + 2):
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Outcome("notify", True, f"webhook answered {resp.status}", attempt, url)
        except urllib.error.HTTPError as exc:
            last = f"webhook answered {exc.code}"
            if exc.code < 500:
                return Outcome("notify", False, last, attempt, url)
        except (urllib.error.URLError, OSError) as exc:
            last = f"webhook unreachable: {getattr(exc, 'reason', exc)}"
        if attempt <= retries:
            time.sleep(backoff * 2 ** (attempt - 1))
    return Outcome("notify", False, last, retries + 1, url)


def send_email(notify: Notify, subject: str, text: str, *, timeout: float = 10.0) -> Outcome:
    """Send the alert text to ``notify.email`` over SMTP at ``notify.smtp``."""
    host, _, port = notify.smtp.rpartition(":")
    msg = EmailMessage()
    msg["From"] = notify.sender
    msg["To"] = ", ".join(notify.email)
    msg["Subject"] = subject
    msg.set_content(text)
    try:
        with smtplib.SMTP(host.strip("[]"), int(port), timeout=timeout) as smtp:
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        return Outcome("notify", False, f"smtp failed: {exc}", 1, notify.smtp)
    return Outcome("notify", True, f"mailed {len(notify.email)} recipient(s)", 1, notify.smtp)


def _record_action(
    trail: Trail, system: str, actor: Actor, alert: Receipt, model: str, outcome: Outcome, extra: Mapping[str, Any]
) -> Receipt:
    return trail.record(
        ACTION,
        system=system,
        actor=actor,
        subject=model,
        payload={
            "alert_seq": alert.seq,
            "action": outcome.action,
            "ok": outcome.ok,
            "detail": outcome.detail,
            "attempts": outcome.attempts,
            "target": outcome.target,
            **extra,
        },
        refs=[f"event:{alert.seq}", model],
    )


def raise_alert(
    trail: Trail,
    findings: Sequence[Finding],
    *,
    model: str,
    env: str | None,
    window: Mapping[str, Any],
    check_seq: int,
    decisions_blob: str,
    monitoring: Monitoring,
    system: str,
    actor: Actor,
    retries: int = 3,
    backoff: float = 0.5,
) -> tuple[Receipt, list[Outcome]]:
    """Record ``monitor.alert`` for the window's non-ok findings and run the actions its level calls for."""
    bad = [f for f in findings if f.level != "ok"]
    if not bad:
        raise ValidationError("no finding at warn or alert level", field="findings")
    level = worst([f.level for f in bad])
    actions = list(monitoring.on_alert) if level == "alert" else [a for a in monitoring.on_alert if a == "notify"]
    refs = [model, f"event:{check_seq}", f"blob:sha256:{decisions_blob}"]
    for key in ("first_seq", "last_seq"):
        if window.get(key) is not None:
            refs.append(f"event:{window[key]}")
    receipt = trail.record(
        ALERT,
        system=system,
        actor=actor,
        subject=model,
        payload={
            "level": level,
            "env": env,
            "findings": [f.to_dict() for f in bad],
            "window": dict(window),
            "check_seq": check_seq,
            "decisions_sha256": decisions_blob,
            "actions": actions,
        },
        refs=list(dict.fromkeys(refs)),
    )
    outcomes: list[Outcome] = []
    message = {
        "alert_seq": receipt.seq,
        "level": level,
        "model": model,
        "env": env,
        "window": dict(window),
        "findings": [f.to_dict() for f in bad],
        "trail": trail.origin,
    }
    for action in actions:
        if action == "notify":
            outcomes.extend(_notify(monitoring.notify, message, retries, backoff))
        else:
            outcomes.append(_kill_switch(trail, action, model, env, actor, receipt.seq, level))
    for o in outcomes:
        extra = {"env": env}
        o.receipt = _record_action(trail, system, actor, receipt, model, o, extra)
    return receipt, outcomes


def _notify(notify: Notify | None, message: Mapping[str, Any], retries: int, backoff: float) -> list[Outcome]:
    if notify is None or (notify.webhook is None and not notify.email):
        return [Outcome("notify", False, "no monitoring.notify target in the policy", 0)]
    out = []
    if notify.webhook is not None:
        secret = os.environ.get(notify.secret_env)
        out.append(
            post_webhook(
                notify.webhook, message, secret=secret.encode() if secret else None, retries=retries, backoff=backoff
            )
        )
    if notify.email:
        subject = f"[modeltrail] {message['level']}: {message['model']} ({message.get('env') or 'all envs'})"
        out.append(send_email(notify, subject, json.dumps(message, indent=2, sort_keys=True)))
    return out


def _kill_switch(
    trail: Trail, action: str, model: str, env: str | None, actor: Actor, alert_seq: int, level: str
) -> Outcome:
    from ..registry.lifecycle import suspend

    if env is None:
        return Outcome(action, False, "the window names no environment; nothing to suspend", 0)
    fallback = "human_review" if action == "require_review" else None
    reason = f"monitoring {level} (alert event {alert_seq})" + (": decisions routed to review" if fallback else "")
    try:
        r = suspend(trail, model.removeprefix("model:"), env, actor=actor, reason=reason, fallback=fallback)
    except (LifecycleError, PermissionDeniedError, NotFoundError, ModeltrailError) as exc:
        return Outcome(action, False, str(exc), 1, f"{model} in {env}")
    return Outcome(
        action, True, f"model.suspended at event {r.seq} (fallback {fallback or 'policy'})", 1, f"{model} in {env}"
    )


@dataclass
class AlertState:
    """An alert as the projection sees it: its event, level, and whether it has been cleared."""

    seq: int
    ts: str
    model: str
    env: str | None
    level: str
    findings: list[dict[str, Any]]
    actions: list[str]
    cleared_by: str | None = None
    cleared_seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return dict(self.__dict__)


def alerts(trail: Trail, model: str | None = None, *, include_cleared: bool = False) -> list[AlertState]:
    """Alerts (open ones unless ``include_cleared``), rebuilt from the ledger."""
    out: dict[int, AlertState] = {}
    for ev in trail.events("monitor.alert*"):
        if ev.type == ALERT:
            p = ev.payload
            out[ev.seq] = AlertState(
                ev.seq, ev.ts, str(ev.subject), p.get("env"), p["level"], p["findings"], list(p.get("actions", []))
            )
        elif ev.type == CLEARED:
            a = out.get(int(ev.payload["alert_seq"]))
            if a is not None:
                a.cleared_by, a.cleared_seq = ev.actor.id, ev.seq
    res = [a for a in out.values() if model is None or a.model == model or a.model.startswith(model + "@")]
    return res if include_cleared else [a for a in res if a.cleared_seq is None]


def clear_alert(
    trail: Trail,
    alert_seq: int,
    *,
    actor: Actor | Identity,
    reason: str,
    resume: bool = False,
    system: str | None = None,
) -> Receipt:
    """Record a human clearing alert ``alert_seq``; with ``resume``, lift the suspension it caused.

    ``resume`` needs a role of the policy's ``roles.resume`` (checked by the registry).
    """
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("a reason is required to clear an alert", field="reason")
    who = actor if isinstance(actor, Actor) else actor.acting_as()
    if who.kind != "human":
        raise PermissionDeniedError("clearing an alert is a human action; a service may not clear it")
    ev = trail.get_event(alert_seq)
    if ev.type != ALERT:
        raise ValidationError(f"event {alert_seq} is a {ev.type}, not a {ALERT}", field="alert")
    if any(a.seq == alert_seq and a.cleared_seq is not None for a in alerts(trail, include_cleared=True)):
        raise ValidationError(f"alert {alert_seq} is already cleared", field="alert")
    refs = [f"event:{alert_seq}", str(ev.subject)]
    if resume and ev.payload.get("env"):
        from ..registry.lifecycle import resume as resume_model

        r = resume_model(
            trail,
            str(ev.subject).removeprefix("model:"),
            str(ev.payload["env"]),
            actor=actor,
            reason=f"alert {alert_seq} cleared: {reason}",
        )
        refs.append(f"event:{r.seq}")
    return trail.record(
        CLEARED,
        system=system or ev.system,
        actor=who,
        subject=ev.subject,
        payload={"alert_seq": alert_seq, "reason": reason, "resumed": resume},
        refs=refs,
    )
