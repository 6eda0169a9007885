"""Generate documents: collect evidence, take a checkpoint, render, store, sign and record ``doc.generated``.

Every generation is bound to the state it describes: a checkpoint is taken first (so every cited event is
inside it), the document names that checkpoint (size and root) and the seqs of the events it was built
from, each rendered file goes into the blob store and is signed (:mod:`modeltrail.documents.signing`), and a
``doc.generated`` event records kind, subject, the files' sha256, the checkpoint, the basis, the open items
and the signature. :mod:`modeltrail.documents.staleness` later compares that basis with the trail.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..events import Actor, format_ts
from ..governance.namespace import record_governed
from ..version import __version__
from .evidence import Evidence, collect, resolve_target
from .kinds import KINDS, Builder, KindSpec, kind_spec
from .model import Document, Table
from .render import pdf_available, render_pdf, render_text, template_dirs
from .signing import sign_document

if TYPE_CHECKING:
    from ..identity import Identity
    from ..trail import Trail

DOC_EVENT = "doc.generated"
DEFAULT_FORMATS = ("md", "html")
EXTENSIONS = {"md": "md", "html": "html", "pdf": "pdf", "json": "json"}


@dataclass
class GeneratedDocument:
    """One generated document: where its files are and what the ledger recorded about it."""

    kind: str
    subject: str
    system: str
    seq: int
    files: dict[str, Path]
    sha256: dict[str, str]
    checkpoint_size: int
    checkpoint_root: str
    basis: list[int]
    open_items: list[str]
    gaps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (paths as strings)."""
        d = dict(self.__dict__)
        d["files"] = {k: str(v) for k, v in self.files.items()}
        return d


def first_raised(trail: Trail, system: str) -> dict[str, str]:
    """When each open item was first listed by a generated document of ``system`` (ISO 8601)."""
    out: dict[str, str] = {}
    for ev in trail.events(DOC_EVENT, system=system):
        for key in ev.payload.get("open_items") or []:
            out.setdefault(str(key), ev.ts)
    return out


def build_model(
    kind: KindSpec, ev: Evidence, raised: Mapping[str, str] | None = None, dataset_ref: str | None = None
) -> list[Document]:
    """The unrendered document(s) of ``kind``: one, or one dataset card per dataset version."""
    if kind.scope == "dataset":
        datasets = [d for _, d in ev.datasets if dataset_ref is None or d.subject == dataset_ref]
        if dataset_ref is not None and not datasets:
            raise ValidationError(f"{dataset_ref} is not a dataset of {ev.model_ref}", field="dataset")
        return [kind.build(Builder(ev, dict(raised or {}), d)) for d in datasets]
    return [kind.build(Builder(ev, dict(raised or {})))]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def _authority(doc: Document) -> list[str]:
    if doc.kind != "declaration_of_conformity":
        return []
    return sorted(
        {
            r[2]
            for s in doc.sections
            for b in s.blocks
            if isinstance(b, Table) and b.caption == "Approvals"
            for r in b.rows
            if r[4] == "approved"
        }
    )


def _record(
    trail: Trail,
    doc: Document,
    *,
    target: str,
    formats: Sequence[str],
    actor: Actor,
    out_dir: Path,
    dirs: list[Path],
    dataset: str | None,
) -> GeneratedDocument:
    basis = sorted(doc.seqs())
    cp = trail.checkpoint()
    root_hex = cp.root.hex()
    authority = _authority(doc)
    context = {
        "generated": format_ts(datetime.now(UTC)),
        "generator": f"modeltrail {__version__}",
        "checkpoint": {"size": cp.size, "root": root_hex},
        "origin": trail.origin,
        "basis": basis,
        "signing": "trail key "
        + trail.signer().key_id_hex
        + (f" on behalf of the approvers {', '.join(authority)}" if authority else ""),
        "open_items": doc.open_items(),
    }
    rendered: dict[str, bytes] = {}
    for fmt in formats:
        if fmt == "pdf":
            rendered["pdf"] = render_pdf(rendered.get("html", b"").decode() or render_text(doc, "html", context, dirs))
        elif fmt == "json" and doc.data is None:
            continue  # only the registration data has a JSON form; asking for it on every kind is harmless
        else:
            rendered[fmt] = render_text(doc, fmt, context, dirs).encode("utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = _slug(f"{doc.kind}-{doc.subject.split(':', 1)[-1]}")
    files: dict[str, Path] = {}
    digests: dict[str, str] = {}
    signatures: dict[str, str] = {}
    signer = ""
    for fmt, data in rendered.items():
        digests[fmt] = trail.blobs.put_bytes(data)
        sig = sign_document(trail, doc.kind, doc.subject, fmt, data, cp.size, root_hex, authority)
        path = out_dir / f"{stem}.{EXTENSIONS[fmt]}"
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        path.with_suffix(path.suffix + ".sig").write_text(sig.note, encoding="utf-8")
        files[fmt] = path
        signatures[fmt], signer = sig.note, sig.signer
    primary = next(iter(digests.values()))
    # doc.generated is gate evidence, a governance event: it goes through the governed append path.
    receipt = record_governed(
        trail,
        DOC_EVENT,
        system=doc.system,
        actor=actor,
        subject=doc.subject,
        payload={
            "kind": doc.kind,
            "title": doc.title,
            "target": target,
            "dataset": dataset,
            "sha256": primary,
            # The file path relative to the project folder when it lies inside it (it moves with the project).
            "formats": {
                f: {"sha256": digests[f], "path": _relative(files[f], trail.root), "signature": signatures[f]}
                for f in digests
            },
            "checkpoint": {"size": cp.size, "root_hex": root_hex},
            "basis": basis,
            "open_items": [a.key for a in doc.open_items()],
            "gaps": doc.gaps(),
            "signer": signer,
            "authority": authority,
            "generator": f"modeltrail {__version__}",
        },
        refs=[f"blob:sha256:{d}" for d in digests.values()],
    )
    return GeneratedDocument(
        doc.kind,
        doc.subject,
        doc.system,
        receipt.seq,
        files,
        digests,
        cp.size,
        root_hex,
        basis,
        [a.key for a in doc.open_items()],
        doc.gaps(),
    )


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path.resolve())


def _formats(formats: Sequence[str] | str) -> list[str]:
    items = [f.strip() for f in (formats.split(",") if isinstance(formats, str) else formats) if f.strip()]
    if not items:
        raise ValidationError("expected at least one format of md, html, pdf, json", field="format")
    for f in items:
        if f not in EXTENSIONS:
            raise ValidationError(f"expected md, html, pdf or json, got {f!r}", field="format")
    if "pdf" in items and not pdf_available():
        raise ValidationError("PDF output needs the [pdf] extra: pip install 'modeltrail[pdf]'", field="format")
    return items


def _actor(actor: Actor | Identity | Mapping[str, str]) -> Actor:
    from ..identity import Identity

    if isinstance(actor, Identity):
        return actor.acting_as()
    if isinstance(actor, Actor):
        return actor
    if isinstance(actor, Mapping) and "id" in actor and "role" in actor:
        return Actor(actor["id"], actor["role"], actor.get("kind", "human"))
    raise ValidationError("expected an Actor, an Identity or {id, role}", field="actor")


def build_documents(
    trail: Trail,
    target: str,
    kinds: Sequence[str] | str = "all",
    *,
    actor: Actor | Identity | Mapping[str, str],
    formats: Sequence[str] | str = DEFAULT_FORMATS,
    out_dir: str | os.PathLike[str] | None = None,
    templates: str | os.PathLike[str] | None = None,
    dataset: str | None = None,
) -> list[GeneratedDocument]:
    """Generate documents of ``kinds`` (``all`` or names of :data:`~modeltrail.documents.kinds.KINDS`) for
    ``target`` (``MODEL@VERSION`` or a system name) in ``formats``; returns what was written and recorded.

    Files go to ``out_dir`` (default ``<project>/documents/<system>/``). Every argument is checked before
    anything is written.
    """
    names = list(KINDS) if kinds == "all" or kinds == ["all"] else [kinds] if isinstance(kinds, str) else list(kinds)
    specs = [kind_spec(k) for k in names]
    fmts = _formats(formats)
    who = _actor(actor)
    dirs = template_dirs(trail.root, templates)
    system, model = resolve_target(trail, target)
    folder = Path(out_dir) if out_dir is not None else trail.root / "documents" / _slug(system)
    out: list[GeneratedDocument] = []
    for spec in specs:
        if spec.scope in ("model", "dataset") and model is None:
            raise ValidationError(f"a {spec.kind} needs a model version; {system!r} has none", field="target")
        # Evidence is read again for every kind: a kind may cite the documents generated just before it.
        ev = collect(trail, system, model)
        raised = first_raised(trail, system)
        for doc in build_model(spec, ev, raised, dataset):
            out.append(
                _record(
                    trail,
                    doc,
                    target=target,
                    formats=fmts,
                    actor=who,
                    out_dir=folder,
                    dirs=dirs,
                    dataset=doc.subject if spec.scope == "dataset" else None,
                )
            )
    return out


def generate_all(
    trail: Trail,
    target: str,
    *,
    actor: Actor | Identity | Mapping[str, str],
    out_dir: str | os.PathLike[str] | None = None,
    pdf_kinds: Sequence[str] = ("declaration_of_conformity",),
) -> list[GeneratedDocument]:
    """Every kind for ``target`` in Markdown and HTML (registration data also as JSON), and the kinds in
    ``pdf_kinds`` also as PDF when the ``[pdf]`` extra is installed (the demo: PDF costs about a second a
    document, so it prints only the declaration by default)."""
    pdf = pdf_available()
    out: list[GeneratedDocument] = []
    for kind in KINDS:
        formats = ["md", "html", "json"] + (["pdf"] if pdf and kind in pdf_kinds else [])
        out += build_documents(trail, target, [kind], actor=actor, formats=formats, out_dir=out_dir)
    return out
