"""Documents generated from evidence, bound to the ledger state they describe.

- :mod:`~modeltrail.documents.evidence` reads what the trail holds for a system and a model version;
- :mod:`~modeltrail.documents.statements` and :mod:`~modeltrail.documents.risks` record the human parts
  (statements, the Art. 9 risk register) as events;
- :mod:`~modeltrail.documents.kinds` builds each document kind; :mod:`~modeltrail.documents.render` renders
  Markdown, HTML and PDF through user-overridable Jinja2 templates;
- :mod:`~modeltrail.documents.generate` checkpoints, stores, signs (:mod:`~modeltrail.documents.signing`)
  and records ``doc.generated``; :mod:`~modeltrail.documents.staleness` says which documents went stale;
- :mod:`~modeltrail.documents.status` gives the per-system compliance status against the catalogue.

See docs/guides/documents.md.
"""

from __future__ import annotations

from .generate import GeneratedDocument, build_documents, generate_all
from .kinds import KINDS, kind_spec
from .risks import identify_risk, mitigate_risk, proposed_risks, review_risk, risk_register
from .statements import STATEMENTS, load_answers, record_answers, record_statement, statements

__all__ = [
    "KINDS",
    "STATEMENTS",
    "GeneratedDocument",
    "build_documents",
    "generate_all",
    "identify_risk",
    "kind_spec",
    "load_answers",
    "mitigate_risk",
    "proposed_risks",
    "record_answers",
    "record_statement",
    "review_risk",
    "risk_register",
    "statements",
]
