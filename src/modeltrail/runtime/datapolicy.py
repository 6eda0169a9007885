"""The policy's ``data_policy`` applied to the inputs of a decision, field by field.

Actions (``modeltrail.policy.DATA_ACTIONS``):

- ``keep``: the value is logged in clear under ``payload.input`` (for monitoring and reconstruction);
- ``pseudonymise``: ``payload.pseudonyms[field]`` holds a pseudonym, linkable across decisions and not
  reversible. A trail whose config says ``"pseudonyms": "vault"`` (every new trail) records a random
  token from the pseudonym vault (:mod:`modeltrail.crypto.vault`, ``ps2:``), whose link to the id erasure
  deletes; older trails keep ``HMAC-SHA256(pseudonym key, field, value)``
  (:class:`~modeltrail.crypto.pseudonym.Pseudonymiser`, ``ps1:``), which stays readable;
- ``seal``: the value is encrypted (AES-256-GCM) under the data subject's own key from
  ``<trail>/keys/subjects.db``, the ciphertext goes to the blob store and the event's ``sealed[field]``
  carries only ``{alg, key_id, sha256}``; erasing the subject's key makes it unreadable;
- ``drop``: the value is not logged at all.

Fields the policy does not list get ``data_policy.default`` (``keep`` unless the policy says otherwise).
A missing value (None, NaN, ``pd.NA``) is kept as JSON null; it has nothing to pseudonymise or seal, so
those actions leave it out (as ``drop`` does) and :attr:`AppliedInput.missing` names it either way.
The field-to-action plan is compiled once per guard; applying it is one dictionary lookup per field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..crypto.pseudonym import Pseudonymiser, Scalar
from ..crypto.seal import Sealer, SubjectKeyStore
from ..crypto.vault import VAULT_FILE, PseudonymVault
from ..errors import NotFoundError, ValidationError
from ..ledger import encoding
from ..ledger.encoding import MAX_SAFE_INTEGER
from ..policy import DATA_ACTIONS, DataPolicy
from ._encoding.encode import is_missing, normalise

_INFINITIES = (math.inf, -math.inf)

if TYPE_CHECKING:
    from ..trail import Trail

SUBJECT_KEYS_FILE = "subjects.db"
PSEUDONYM_KEY = "pseudonym"

KEEP, PSEUDONYMISE, SEAL, DROP = DATA_ACTIONS


def seal_context(decision_id: str, field: str) -> str:
    """The authenticated context a decision's sealed field is bound to (it opens nowhere else)."""
    return f"inference.decision/{decision_id}/{field}"


def load_pseudonymiser(trail: Trail) -> Pseudonymiser:
    """The trail's pseudonymiser (key ``keys/pseudonym.secret``); NotFoundError if the key is missing."""
    try:
        from ..crypto.keys import load_secret_key

        return Pseudonymiser(load_secret_key(Path(trail.keys_dir), PSEUDONYM_KEY))
    except NotFoundError:
        raise
    except (ImportError, AttributeError):  # an older key module: read the 32-byte file directly
        path = Path(trail.keys_dir) / f"{PSEUDONYM_KEY}.secret"
        if not path.is_file():
            raise NotFoundError(f"no pseudonym key at {path}") from None
        return Pseudonymiser(path.read_bytes())


def uses_vault(trail: Trail) -> bool:
    """Whether the trail records vault tokens (``ps2:``) rather than keyed pseudonyms (``ps1:``)."""
    return getattr(trail.config, "pseudonyms", "keyed") == "vault"


def open_vault(trail: Trail) -> PseudonymVault:
    """The trail's pseudonym vault (``keys/pseudonyms.db``), created on first use."""
    return PseudonymVault(Path(trail.keys_dir) / VAULT_FILE, load_pseudonymiser(trail))


def pseudonym_function(trail: Trail) -> Callable[[Scalar, str], str]:
    """``f(value, field)`` giving the pseudonym this trail records (vault token or keyed hash)."""
    if uses_vault(trail):
        vault = open_vault(trail)
        trail.on_close(vault.close)
        return vault.token
    return load_pseudonymiser(trail).pseudonym


def open_sealer(trail: Trail) -> Sealer:
    """A sealer over the trail's per-subject key store (``keys/subjects.db``, created on first use)."""
    return Sealer(SubjectKeyStore(Path(trail.keys_dir) / SUBJECT_KEYS_FILE))


@dataclass(frozen=True, slots=True)
class AppliedInput:
    """The loggable form of one decision's inputs."""

    kept: dict[str, Any]
    pseudonyms: dict[str, str]
    sealed: dict[str, dict[str, str]]
    fast: bool
    """True when every kept value can take the fast exact JSON path (see :mod:`.encode`)."""
    missing: tuple[str, ...] = ()
    """The fields whose value is missing (None, NaN, ``pd.NA``), in input order."""
    to_seal: dict[str, Any] | None = None
    """Values still to seal (:meth:`DataPolicyPlan.seal`); None once sealed or when nothing is."""


class DataPolicyPlan:
    """A compiled data policy bound to one trail's keys."""

    def __init__(self, trail: Trail, policy: DataPolicy | None = None) -> None:
        """Compile ``policy`` (default: keep every field). Keys are loaded only if an action needs them."""
        policy = policy or DataPolicy()
        for name, action in {**policy.fields, "(default)": policy.default}.items():
            if action not in DATA_ACTIONS:
                raise ValidationError(
                    f"expected one of {', '.join(DATA_ACTIONS)}, got {action!r}", field=f"data_policy.{name}"
                )
        self.trail = trail
        self.policy = policy
        self._actions: dict[str, str] = dict(policy.fields)
        self._default = policy.default
        actions = set(self._actions.values()) | {self._default}
        self._pseudonymiser = pseudonym_function(trail) if PSEUDONYMISE in actions else None
        self._sealer: Sealer | None = None
        self._needs_sealer = SEAL in actions
        self.all_kept = not self._actions and self._default == KEEP
        self.observer: Callable[[Mapping[str, Any]], None] | None = None
        """Called with a decision's to-be-sealed values just before sealing (the monitor's aggregates,
        :mod:`modeltrail.monitor.sealed`); it must keep no value. Unset, sealing costs nothing more."""

    def action_for(self, field: str) -> str:
        """The action for ``field``."""
        return self._actions.get(field, self._default)

    @property
    def sealer(self) -> Sealer:
        """The sealer (opened on first use: sealing is the only action that touches the key store)."""
        if self._sealer is None:
            self._sealer = open_sealer(self.trail)
        return self._sealer

    def apply(self, features: Mapping[str, Any], *, decision_id: str, subject: str | None) -> AppliedInput:
        """Split ``features`` into kept values, pseudonyms and sealed references (:meth:`check`, :meth:`seal`)."""
        return self.seal(self.check(features, subject=subject), decision_id=decision_id, subject=subject)

    def seal(self, applied: AppliedInput, *, decision_id: str, subject: str | None) -> AppliedInput:
        """``applied`` with its values to seal encrypted under ``subject``'s key, bound to ``decision_id``."""
        if not applied.to_seal:
            return applied
        # Through the batch path even for one decision: its fields' envelopes go to the blob store in one
        # write (one transaction), not one each.
        return self.seal_many([applied], [decision_id], [subject])[0]

    def seal_many(
        self, applied: Sequence[AppliedInput], decision_ids: Sequence[str], subjects: Sequence[str | None]
    ) -> list[AppliedInput]:
        """:meth:`seal` for a batch: the subjects' keys and the envelopes are read and written in batches."""
        items: list[tuple[str, Any, str]] = []
        owners: list[tuple[int, str]] = []
        for i, (a, did, subject) in enumerate(zip(applied, decision_ids, subjects, strict=True)):
            if a.to_seal:
                assert subject
                for name, v in a.to_seal.items():
                    items.append((subject, v, seal_context(did, name)))
                    owners.append((i, name))
        if not items:
            return list(applied)
        refs = self.sealer.seal_many_to(self.trail.blobs, items)
        sealed: dict[int, dict[str, dict[str, str]]] = {}
        for (i, name), ref in zip(owners, refs, strict=True):
            sealed.setdefault(i, {})[name] = ref
        return [
            AppliedInput(a.kept, a.pseudonyms, sealed[i], a.fast, a.missing) if i in sealed else a
            for i, a in enumerate(applied)
        ]

    def check(self, features: Mapping[str, Any], *, subject: str | None) -> AppliedInput:
        """Everything of :meth:`apply` but the sealing: no key store or blob is touched.

        Raises :class:`ValidationError` naming the field for a value that is not JSON-safe, and when a
        field must be sealed but no data ``subject`` was given (a sealed value belongs to one person).
        So a batch can be checked row by row before any model call or any write.
        """
        kept: dict[str, Any] = {}
        pseudonyms: dict[str, str] = {}
        sealed: dict[str, dict[str, str]] = {}
        to_seal: dict[str, Any] | None = None
        missing: list[str] | None = None
        fast = True
        actions = self._actions
        default = self._default
        for name, value in features.items():
            if type(name) is not str:
                raise ValidationError(f"feature names must be strings, got {name!r}", field="input")
            if not name.isascii():
                # Keys outside the BMP sort differently in JCS; the validating encoder handles them.
                fast = encoding.validate({name: None}, "input") and fast
            action = actions.get(name, default) if actions else default
            t = type(value)
            # The common kinds first: a call per value was a visible share of a batch's cost.
            if not (t is str or t is int or (t is float and value == value)) and is_missing(value):
                # Recorded as missing: null where the value would be kept, absent otherwise.
                if missing is None:
                    missing = []
                missing.append(name)
                if action == KEEP:
                    kept[name] = None
                continue
            if action == KEEP:
                # The common scalars inline, by the same rules as normalise(): a call per feature value
                # was half of a batch decision's cost on the calling thread (bench/runtime.py).
                if t is float and value == value and value not in _INFINITIES:
                    if not value.is_integer():
                        kept[name] = value
                        if fast and not 1e-4 <= (value if value > 0 else -value) < 1e16:
                            fast = False
                        continue
                    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                        kept[name] = int(value)
                        continue
                elif (t is str and value.isascii()) or (t is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER):
                    kept[name] = value
                    continue
                v, ok = normalise(value, f"input.{name}")
                kept[name] = v
                fast = fast and ok
            elif action == DROP:
                continue
            elif action == PSEUDONYMISE:
                assert self._pseudonymiser is not None
                # Normalised first, so an id read as 123.0 (a pandas column with gaps) links with 123.
                v, _ = normalise(value, f"input.{name}")
                if v is None:
                    continue  # nothing to link: an absent identifier stays absent
                if not isinstance(v, str | int | float | bool):
                    raise ValidationError("only scalar values can be pseudonymised", field=f"input.{name}")
                pseudonyms[name] = self._pseudonymiser(v, name)
            else:
                v, _ = normalise(value, f"input.{name}")
                if to_seal is None:
                    to_seal = {}
                to_seal[name] = v
        if to_seal:
            if not subject:
                raise ValidationError(
                    f"the data policy seals {', '.join(sorted(to_seal))}; pass subject=<data subject id> so the "
                    "values are encrypted under that person's key",
                    field="subject",
                )
            if self.observer is not None:
                self.observer(to_seal)  # the monitor counts values before they are encrypted (aggregates only)
        return AppliedInput(kept, pseudonyms, sealed, fast, tuple(missing) if missing else (), to_seal)


__all__ = [
    "SUBJECT_KEYS_FILE",
    "AppliedInput",
    "DataPolicyPlan",
    "load_pseudonymiser",
    "open_sealer",
    "open_vault",
    "pseudonym_function",
    "seal_context",
    "uses_vault",
]
