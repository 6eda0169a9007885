"""The oversight console: server-rendered pages at ``/`` beside the API, for reviewers, approvers, on-call
and auditors.

Design, in one place:

* **Pages** are Jinja2 templates (``modeltrail/templates/console``) rendered by :mod:`.pages`; htmx 2
  (vendored under ``static/htmx``) only enhances them (forms work without JavaScript). Charts are inline
  SVG from the server (:func:`modeltrail.documents.render.svg_chart`, the reports' charts).
* **Sign-in** (:mod:`.auth`): local users with argon2id hashes in ``keys/console.sqlite`` (0600), set with
  ``modeltrail console user add``; sessions kept server-side (the cookie carries a random token, the store
  its SHA-256); cookie ``HttpOnly; SameSite=Strict; Path=/`` and ``Secure`` when the request came over
  TLS; a CSRF token per session on every form (and in htmx's headers); failed sign-ins throttled per user
  and per client address.
* **Roles** come from the policy in force (``users:``), resolved per request with
  :func:`modeltrail.identity.identity_for_user`; every action is a library call (approve, reject, suspend,
  resume, review, clear an alert) with the signed-in person as actor, so the library's rules (roles,
  four-eyes, kill switch) decide and refusals are recorded exactly as from the CLI.
* **Speed**: every page reads projections or one page of ``trail.events(..., limit=, descending=True)``;
  nothing scans the ledger per request (``bench/console.py`` measures it on 1,000,000 events).
"""

from .app import install

__all__ = ["install"]
