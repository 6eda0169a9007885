"""Risk classification of an AI system under the EU AI Act.

A fixed questionnaire screens the system against Art. 5 (prohibited practices), Art. 6(1) with Annex I
(regulated products), Art. 6(2) with the eight Annex III areas, the Art. 6(3) derogation and its profiling
exception, the Art. 50 transparency duties, and the general-purpose AI model rules (Art. 53, 55). Every
question and every reason cites requirement ids of the packaged catalogue (:mod:`modeltrail.requirements`);
the article labels shown come from the catalogue, never from this module.

Outcome precedence: any Art. 5 practice makes the system ``prohibited``; otherwise an Annex I product needing
third-party assessment, or an Annex III use case without a valid Art. 6(3) derogation, makes it ``high``;
otherwise any Art. 50 duty makes it ``limited``; else ``minimal``. Art. 50 duties apply on top of ``high``
(``also_limited``); a general-purpose AI model is flagged separately (``gpai``) because Chapter V obligations
attach to the model, not to the tier of a system.

This is a screening aid that records who answered what; it is not legal advice.

This module only screens (no ledger); :mod:`modeltrail.registry.classification` records the outcome as
``system.classified`` with who answered. For example::

    >>> from modeltrail.registry.classify import QUESTIONS, classify
    >>> result = classify({q.id: False if q.kind == "bool" else "no" for q in QUESTIONS})
    >>> result.tier
    'minimal'
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ValidationError
from ..policy.defaults import default_policy
from ..policy.model import Policy
from ..requirements import Catalogue, load_catalogue

Answer = bool | str
NO = "no"
"""The negative option of every multiple-choice question (YAML ``no`` / ``false`` are accepted for it too)."""


@dataclass(frozen=True)
class Option:
    """One answer of a multiple-choice question; ``point`` is the sub-point letter it stands for (``b``)."""

    value: str
    label: str
    point: str = ""


@dataclass(frozen=True)
class Question:
    """A screening question. Without ``options`` it is answered yes/no (a boolean)."""

    id: str
    section: str
    text: str
    help: str
    refs: tuple[str, ...]
    options: tuple[Option, ...] = ()
    ask_if: Callable[[Mapping[str, Answer]], bool] | None = field(default=None, compare=False, repr=False)

    @property
    def kind(self) -> str:
        """``bool`` for yes/no questions, ``choice`` for multiple choice."""
        return "choice" if self.options else "bool"

    def relevant(self, answers: Mapping[str, Answer]) -> bool:
        """Whether the question applies given the earlier ``answers``."""
        return self.ask_if is None or self.ask_if(answers)

    def option(self, value: str) -> Option:
        """The option with ``value`` (:class:`KeyError` if none)."""
        for opt in self.options:
            if opt.value == value:
                return opt
        raise KeyError(value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description (for listings and the HTTP API)."""
        return {
            "id": self.id,
            "section": self.section,
            "text": self.text,
            "help": self.help,
            "refs": list(self.refs),
            "kind": self.kind,
            "options": [{"value": o.value, "label": o.label, "point": o.point} for o in self.options],
        }


@dataclass(frozen=True)
class Reason:
    """Why the classification came out as it did: a provision, its catalogue id and an explanation."""

    article: str
    requirement_id: str
    text: str

    def to_dict(self) -> dict[str, str]:
        """JSON-safe dictionary form."""
        return {"article": self.article, "requirement_id": self.requirement_id, "text": self.text}


@dataclass(frozen=True)
class Classification:
    """The outcome of :func:`classify`."""

    tier: str
    also_limited: bool
    gpai: bool
    reasons: list[Reason]
    answers: dict[str, Answer]
    gpai_systemic_risk: bool = False
    derogation: str | None = None
    """The Art. 6(3) point (``a``-``d``) relied on to leave an Annex III system out of high risk."""
    catalogue_version: str = ""

    @property
    def requirement_ids(self) -> list[str]:
        """Catalogue ids cited by the reasons, without repeats, in order."""
        return list(dict.fromkeys(r.requirement_id for r in self.reasons))

    def policy(self, system: str = "unnamed-system", protected_attributes: tuple[str, ...] = ()) -> Policy:
        """The default policy for this classification's tier."""
        return default_policy(self.tier, system, protected_attributes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary form (suitable as a ``classification`` event payload)."""
        return {
            "tier": self.tier,
            "also_limited": self.also_limited,
            "gpai": self.gpai,
            "gpai_systemic_risk": self.gpai_systemic_risk,
            "derogation": self.derogation,
            "reasons": [r.to_dict() for r in self.reasons],
            "requirement_ids": self.requirement_ids,
            "answers": dict(self.answers),
            "catalogue_version": self.catalogue_version,
        }


# ------------------------------------------------------------------------------------------ questions


def _yes(qid: str) -> Callable[[Mapping[str, Answer]], bool]:
    return lambda answers: answers.get(qid) is True


def _any_annex3(answers: Mapping[str, Answer]) -> bool:
    return any(answers.get(q.id) not in (None, False, NO) for q in QUESTIONS if q.section == "annex3")


def _derogation_claimed(answers: Mapping[str, Answer]) -> bool:
    return _any_annex3(answers) and answers.get("derogation.condition") not in (None, False, NO)


def _area(qid: str, ref: str, text: str, help_: str, points: list[tuple[str, str, str]]) -> Question:
    options = (Option(NO, "none of these"), *(Option(v, label, p) for p, v, label in points))
    return Question(qid, "annex3", text, help_, (ref, "art6.2"), options)


QUESTIONS: tuple[Question, ...] = (
    # Art. 5 -------------------------------------------------------------------------------------------
    Question(
        "prohibited.manipulation",
        "prohibited",
        "Does the system use subliminal, purposefully manipulative or deceptive techniques that materially "
        "distort people's behaviour in a way likely to cause them significant harm?",
        "Persuasion that people can see through is not covered; techniques that bypass awareness are.",
        ("art5.1a",),
    ),
    Question(
        "prohibited.exploit_vulnerabilities",
        "prohibited",
        "Does it exploit vulnerabilities due to age, disability or a social or economic situation to distort "
        "behaviour in a way likely to cause significant harm?",
        "",
        ("art5.1b",),
    ),
    Question(
        "prohibited.intimate_imagery",
        "prohibited",
        "Is it meant to (or can it foreseeably, without adequate safeguards) produce realistic intimate or "
        "sexual images, video or audio of an identifiable person without their explicit consent?",
        "Ban added by Regulation (EU) 2026/1744.",
        ("art5.1ba",),
    ),
    Question(
        "prohibited.csam",
        "prohibited",
        "Is it meant to (or can it foreseeably, without adequate safeguards) generate or manipulate child "
        "sexual abuse material?",
        "Ban added by Regulation (EU) 2026/1744.",
        ("art5.1bb",),
    ),
    Question(
        "prohibited.social_scoring",
        "prohibited",
        "Does it score or rank people over time on their social behaviour or personal traits, leading to "
        "detrimental treatment in unrelated contexts or out of proportion to the behaviour?",
        "Credit scoring on financial data for a credit decision is not social scoring; a general 'citizen "
        "score' used across contexts is.",
        ("art5.1c",),
    ),
    Question(
        "prohibited.crime_prediction_profiling",
        "prohibited",
        "Does it predict whether a person will commit a crime based solely on profiling or personality "
        "traits?",
        "Support for a human assessment based on objective, verifiable facts linked to a crime is not "
        "covered.",
        ("art5.1d",),
    ),
    Question(
        "prohibited.facial_scraping",
        "prohibited",
        "Does it build or expand facial recognition databases by untargeted scraping of images from the "
        "internet or CCTV footage?",
        "",
        ("art5.1e",),
    ),
    Question(
        "prohibited.emotion_work_education",
        "prohibited",
        "Does it infer emotions of people at the workplace or in education institutions, other than for "
        "medical or safety reasons?",
        "",
        ("art5.1f",),
    ),
    Question(
        "prohibited.biometric_categorisation_sensitive",
        "prohibited",
        "Does it categorise people by biometric data to infer race, political opinions, trade-union "
        "membership, religious or philosophical beliefs, sex life or sexual orientation?",
        "Labelling or filtering lawfully acquired biometric data sets is not covered.",
        ("art5.1g",),
    ),
    Question(
        "prohibited.realtime_rbi_law_enforcement",
        "prohibited",
        "Is it used for real-time remote biometric identification in publicly accessible spaces for law "
        "enforcement, outside the narrow exceptions of Art. 5(1)(h)?",
        "Answer yes unless the use is one of the authorised exceptions with prior authorisation.",
        ("art5.1h",),
    ),
    # Art. 6(1) and Annex I ----------------------------------------------------------------------------
    Question(
        "annex1.product",
        "annex1",
        "Is the system a product, or a safety component of a product, covered by the EU harmonisation "
        "legislation listed in Annex I (machinery, toys, medical devices, lifts, radio equipment, vehicles, "
        "...)?",
        "AI used only for convenience, efficiency or quality control is not a safety component unless its "
        "failure endangers health or safety.",
        ("art6.1", "art6.1a"),
    ),
    Question(
        "annex1.third_party_assessment",
        "annex1",
        "Must that product undergo a third-party conformity assessment under that legislation?",
        "Third-party assessment needed only for non-safety reasons (e.g. radio spectrum) does not count.",
        ("art6.1", "art6.1a"),
        ask_if=_yes("annex1.product"),
    ),
    # Art. 6(2) and Annex III ----------------------------------------------------------------------------
    _area(
        "annex3.biometrics",
        "annex3.1",
        "Is it intended for one of these biometric uses (where permitted by law)?",
        "Verification that a person is who they claim to be (one-to-one) is not remote identification.",
        [
            ("a", "remote_identification", "remote biometric identification"),
            ("b", "categorisation", "biometric categorisation by sensitive or protected attributes"),
            ("c", "emotion_recognition", "emotion recognition"),
        ],
    ),
    Question(
        "annex3.critical_infrastructure",
        "annex3",
        "Is it a safety component in the management or operation of critical digital infrastructure, road "
        "traffic, or the supply of water, gas, heating or electricity?",
        "",
        ("annex3.2", "art6.2"),
    ),
    _area(
        "annex3.education",
        "annex3.3",
        "Is it intended for one of these uses in education or vocational training?",
        "",
        [
            (
                "a",
                "access_admission",
                "deciding access, admission or assignment to institutions or programmes",
            ),
            (
                "b",
                "learning_outcomes",
                "evaluating learning outcomes, including to steer the learning process",
            ),
            ("c", "education_level", "assessing the level of education a person will receive or can access"),
            (
                "d",
                "test_monitoring",
                "monitoring and detecting prohibited behaviour of students during tests",
            ),
        ],
    ),
    _area(
        "annex3.employment",
        "annex3.4",
        "Is it intended for one of these uses in employment or worker management?",
        "",
        [
            (
                "a",
                "recruitment",
                "recruitment or selection: targeted job ads, filtering applications, evaluating candidates",
            ),
            (
                "b",
                "work_decisions",
                "decisions on working conditions, promotion or termination, task allocation by behaviour or "
                "traits, or monitoring and evaluating workers",
            ),
        ],
    ),
    _area(
        "annex3.essential_services",
        "annex3.5",
        "Is it intended for one of these uses in access to essential private or public services?",
        "Systems used only to detect financial fraud are excluded from point (b).",
        [
            (
                "a",
                "public_benefits",
                "eligibility for public assistance benefits and services, including healthcare",
            ),
            ("b", "creditworthiness", "creditworthiness assessment or credit scoring of natural persons"),
            (
                "c",
                "life_health_insurance",
                "risk assessment and pricing of natural persons in life and health insurance",
            ),
            (
                "d",
                "emergency",
                "classifying emergency calls, dispatching emergency services, or patient triage",
            ),
        ],
    ),
    _area(
        "annex3.law_enforcement",
        "annex3.6",
        "Is it intended for one of these uses by or on behalf of law enforcement (where permitted by law)?",
        "",
        [
            ("a", "victim_risk", "assessing the risk of a person becoming a victim of crime"),
            ("b", "polygraph", "polygraphs or similar tools"),
            ("c", "evidence_reliability", "evaluating the reliability of evidence"),
            (
                "d",
                "offending_risk",
                "assessing the risk of (re-)offending not solely on the basis of profiling, or assessing "
                "personality traits or past criminal behaviour",
            ),
            (
                "e",
                "profiling",
                "profiling of persons in the detection, investigation or prosecution of crime",
            ),
        ],
    ),
    _area(
        "annex3.migration",
        "annex3.7",
        "Is it intended for one of these uses in migration, asylum or border control (where permitted by "
        "law)?",
        "Verification of travel documents is excluded from point (d).",
        [
            ("a", "polygraph", "polygraphs or similar tools"),
            ("b", "risk_assessment", "assessing security, irregular-migration or health risks of a person"),
            (
                "c",
                "applications",
                "examining applications for asylum, visas or residence permits and related complaints",
            ),
            ("d", "identification", "detecting, recognising or identifying persons"),
        ],
    ),
    _area(
        "annex3.justice_democracy",
        "annex3.8",
        "Is it intended for one of these uses in the administration of justice or democratic processes?",
        "Campaign tools whose output voters are not directly exposed to are excluded from point (b).",
        [
            (
                "a",
                "judicial",
                "assisting a judicial authority or alternative dispute resolution in researching and "
                "interpreting facts and law and applying the law to facts",
            ),
            ("b", "elections", "influencing the outcome of an election or referendum or voting behaviour"),
        ],
    ),
    # Art. 6(3) derogation ---------------------------------------------------------------------------------
    Question(
        "derogation.condition",
        "derogation",
        "Does the Annex III system pose no significant risk of harm because it only does one of the "
        "following? (The provider must document this assessment before release.)",
        "Choose 'no' unless the condition clearly holds; the system must also not materially influence the "
        "outcome of decisions.",
        ("art6.3", "art6.4"),
        (
            Option(NO, "no derogation claimed"),
            Option("narrow_procedural_task", "performs a narrow procedural task", "a"),
            Option(
                "improves_human_activity", "improves the result of a previously completed human activity", "b"
            ),
            Option(
                "detects_decision_patterns",
                "detects decision-making patterns or deviations without replacing or influencing the human "
                "assessment absent proper review",
                "c",
            ),
            Option(
                "preparatory_task", "performs a preparatory task to an assessment relevant to Annex III", "d"
            ),
        ),
        ask_if=_any_annex3,
    ),
    Question(
        "derogation.profiling",
        "derogation",
        "Does the system perform profiling of natural persons (automated evaluation of personal aspects such "
        "as work performance, economic situation, health, preferences, behaviour, location)?",
        "A system that profiles natural persons is always high-risk; the derogation then does not apply.",
        ("art6.3",),
        ask_if=_derogation_claimed,
    ),
    # Art. 50 --------------------------------------------------------------------------------------------
    Question(
        "transparency.interacts_with_people",
        "transparency",
        "Does it interact directly with natural persons (e.g. a chatbot or voice assistant)?",
        "Not needed where it is obvious to a reasonably well-informed person that they deal with an AI.",
        ("art50.1",),
    ),
    Question(
        "transparency.synthetic_content",
        "transparency",
        "Does it generate synthetic audio, image, video or text content?",
        "Purely assistive editing that does not substantially alter the input is exempt.",
        ("art50.2",),
    ),
    Question(
        "transparency.emotion_or_biometric_categorisation",
        "transparency",
        "Is it an emotion recognition or biometric categorisation system?",
        "",
        ("art50.3",),
    ),
    Question(
        "transparency.deep_fakes",
        "transparency",
        "Does it produce deep fakes, or text published to inform the public on matters of public interest?",
        "",
        ("art50.4",),
    ),
    # GPAI -----------------------------------------------------------------------------------------------
    Question(
        "gpai.model",
        "gpai",
        "Is this a general-purpose AI model that you provide (trained on broad data, competent at a wide "
        "range of distinct tasks, and integrable into downstream systems)?",
        "Chapter V applies to the model itself, in addition to any classification of systems built on it.",
        ("art53.1a", "art53.1b", "art53.1c", "art53.1d"),
    ),
    Question(
        "gpai.systemic_risk",
        "gpai",
        "Does the model have systemic risk (high-impact capabilities, e.g. presumed above 10^25 FLOP of "
        "training compute, or designated by the Commission)?",
        "",
        ("art55.1",),
        ask_if=_yes("gpai.model"),
    ),
)
"""The questionnaire, in asking order (a question's condition only looks at earlier answers)."""

_BY_ID = {q.id: q for q in QUESTIONS}


def question(question_id: str) -> Question:
    """The question ``question_id``; :class:`ValidationError` (with a suggestion) if there is none."""
    try:
        return _BY_ID[question_id]
    except KeyError:
        raise ValidationError(f"unknown question{_suggest(question_id)}", field=question_id) from None


def _suggest(word: str) -> str:
    close = difflib.get_close_matches(word, list(_BY_ID), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


# ------------------------------------------------------------------------------------------- answers


def coerce_answer(q: Question, raw: object) -> Answer:
    """Normalise a raw answer for ``q``; :class:`ValidationError` naming the question if it does not fit.

    Yes/no questions take ``True``/``False`` (and, from prompts, the words yes/no/y/n/true/false). Choice
    questions take an option value; ``False`` (YAML ``no``) means :data:`NO`.
    """
    if q.kind == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("y", "yes", "true", "n", "no", "false"):
            return raw.strip().lower() in ("y", "yes", "true")
        raise ValidationError(f"expected yes or no (true/false), got {raw!r}", field=q.id)
    values = [o.value for o in q.options]
    if raw is False:
        return NO
    if isinstance(raw, str) and raw.strip() in values:
        return raw.strip()
    raise ValidationError(f"expected one of {', '.join(values)}, got {raw!r}", field=q.id)


def validate_answers(answers: Mapping[str, object]) -> dict[str, Answer]:
    """Check and normalise a full set of answers, in questionnaire order.

    Raises :class:`ValidationError` naming the question for unknown ids, wrong types and missing answers to
    questions that apply. Answers to questions that do not apply (the derogation when no Annex III area is
    concerned, for instance) are dropped.
    """
    if not isinstance(answers, Mapping):
        raise ValidationError(f"expected a mapping of question id to answer, got {type(answers).__name__}")
    for key in answers:
        if not isinstance(key, str) or key not in _BY_ID:
            raise ValidationError(f"unknown question{_suggest(str(key))}", field=str(key))
    out: dict[str, Answer] = {}
    for q in QUESTIONS:
        if not q.relevant(out):
            continue
        if q.id not in answers:
            raise ValidationError(f"missing answer ({q.text})", field=q.id)
        out[q.id] = coerce_answer(q, answers[q.id])
    return out


def load_answers(path: str | Path) -> dict[str, Answer]:
    """Read answers from a YAML or JSON file (a mapping of question id to answer), validated."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"cannot read answers file: {exc.strerror or exc}", field=str(p)) from exc
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValidationError(
            f"not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'}: {exc}", field=str(p)
        ) from exc
    if not isinstance(data, dict):
        raise ValidationError("expected a mapping of question id to answer", field=str(p))
    return validate_answers(data)


# ------------------------------------------------------------------------------------------ outcome


def _reason(cat: Catalogue, requirement_id: str, text: str, point: str = "") -> Reason:
    req = cat.get(requirement_id)
    return Reason(f"{req.article}({point})" if point else req.article, req.id, text)


def classify(answers: Mapping[str, object], catalogue: Catalogue | None = None) -> Classification:
    """Classify a system from its answers (see :data:`QUESTIONS`); validates them first."""
    cat = catalogue or load_catalogue()
    a = validate_answers(answers)
    reasons: list[Reason] = []

    prohibited = [q for q in QUESTIONS if q.section == "prohibited" and a.get(q.id) is True]
    for q in prohibited:
        req = cat.get(q.refs[0])
        reasons.append(_reason(cat, req.id, f"prohibited practice: {req.title.lower()}"))

    annex1 = a.get("annex1.product") is True and a.get("annex1.third_party_assessment") is True
    if annex1:
        reasons.append(
            _reason(
                cat,
                "art6.1",
                "product or safety component under Annex I legislation needing third-party conformity "
                "assessment: high-risk",
            )
        )

    annex3_hits: list[Reason] = []
    for q in QUESTIONS:
        if q.section != "annex3" or a.get(q.id) in (None, False, NO):
            continue
        area = cat.get(q.refs[0])
        if q.kind == "choice":
            opt = q.option(str(a[q.id]))
            annex3_hits.append(
                _reason(cat, area.id, f"Annex III use case ({area.title.lower()}): {opt.label}", opt.point)
            )
        else:
            annex3_hits.append(_reason(cat, area.id, f"Annex III use case: {area.title.lower()}"))

    derogation: str | None = None
    annex3_high = False
    if annex3_hits:
        reasons.extend(annex3_hits)
        condition = a.get("derogation.condition", NO)
        if condition == NO:
            annex3_high = True
            reasons.append(
                _reason(cat, "art6.2", "Annex III system and no Art. 6(3) derogation claimed: high-risk")
            )
        else:
            opt = _BY_ID["derogation.condition"].option(str(condition))
            if a.get("derogation.profiling") is True:
                annex3_high = True
                reasons.append(
                    _reason(
                        cat,
                        "art6.3",
                        f"derogation claimed ({opt.label}) but the system profiles natural "
                        "persons: always high-risk",
                        opt.point,
                    )
                )
            else:
                derogation = opt.point
                reasons.append(
                    _reason(
                        cat, "art6.3", f"derogation: the system only {opt.label}; not high-risk", opt.point
                    )
                )
                reasons.append(_reason(cat, "art6.4", "document the not-high-risk assessment before release"))
                reasons.append(
                    _reason(cat, "art49.2", "register the system in the EU database despite the derogation")
                )

    limited_hits = [q for q in QUESTIONS if q.section == "transparency" and a.get(q.id) is True]
    for q in limited_hits:
        req = cat.get(q.refs[0])
        reasons.append(_reason(cat, req.id, f"transparency duty: {req.title[0].lower()}{req.title[1:]}"))

    gpai = a.get("gpai.model") is True
    systemic = gpai and a.get("gpai.systemic_risk") is True
    if gpai:
        reasons.append(
            _reason(cat, "art53.1a", "general-purpose AI model: Chapter V provider obligations apply")
        )
    if systemic:
        reasons.append(
            _reason(cat, "art55.1", "general-purpose AI model with systemic risk: additional duties")
        )

    if prohibited:
        tier = "prohibited"
    elif annex1 or annex3_high:
        tier = "high"
    elif limited_hits:
        tier = "limited"
    else:
        tier = "minimal"
        reasons.append(
            _reason(
                cat,
                "art4",
                "no prohibited practice, high-risk use case or transparency duty: minimal risk (AI literacy "
                "still applies)",
            )
        )
    return Classification(
        tier=tier,
        also_limited=bool(limited_hits),
        gpai=gpai,
        reasons=reasons,
        answers=a,
        gpai_systemic_risk=systemic,
        derogation=derogation,
        catalogue_version=cat.version,
    )


def interactive(
    prompt_fn: Callable[[Question], object], catalogue: Catalogue | None = None
) -> Classification:
    """Ask the questions that apply, one by one, through ``prompt_fn`` and classify the answers.

    ``prompt_fn(question)`` returns the raw answer (a bool, or a string for yes/no words or option values);
    answers are normalised with :func:`coerce_answer`, which raises :class:`ValidationError` on a bad one.
    """
    answers: dict[str, Answer] = {}
    for q in QUESTIONS:
        if q.relevant(answers):
            answers[q.id] = coerce_answer(q, prompt_fn(q))
    return classify(answers, catalogue)
