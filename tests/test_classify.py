"""Risk classification: outcomes for typical systems, answer validation, catalogue references."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from modeltrail.errors import ValidationError
from modeltrail.registry.classify import (
    NO,
    QUESTIONS,
    Answer,
    Question,
    classify,
    coerce_answer,
    interactive,
    load_answers,
    validate_answers,
)
from modeltrail.requirements import load_catalogue

DEMO_ANSWERS = Path(
    str(
        resources.files("modeltrail")
        .joinpath("data")
        .joinpath("demo")
        .joinpath("classification-answers.yaml")
    )
)


def baseline(**overrides: Answer) -> dict[str, Answer]:
    """Answers of a system to which nothing applies, with ``overrides`` (``.`` spelt ``__``)."""
    answers: dict[str, Answer] = {}
    for q in QUESTIONS:
        if q.ask_if is None:
            answers[q.id] = NO if q.kind == "choice" else False
    answers.update({k.replace("__", "."): v for k, v in overrides.items()})
    return answers


def test_every_reference_exists_in_the_catalogue() -> None:
    cat = load_catalogue()
    refs = {ref for q in QUESTIONS for ref in q.refs}
    missing = sorted(r for r in refs if r not in cat)
    assert missing == []
    # The questionnaire covers every Art. 5 practice, every Annex III area and every Art. 50 duty.
    for prefix in ("art5", "annex3", "art50"):
        assert {r.id for r in cat.filter(prefix=prefix)} <= refs, prefix
    assert {"art6.1", "art6.2", "art6.3", "art53.1a", "art55.1"} <= refs


def test_questions_are_well_formed() -> None:
    ids = [q.id for q in QUESTIONS]
    assert len(ids) == len(set(ids))
    for q in QUESTIONS:
        assert q.text.endswith("?") or q.text.endswith(")"), q.id
        if q.kind == "choice":
            assert q.options[0].value == NO
            assert all(o.point for o in q.options[1:]), q.id
    assert sum(q.section == "annex3" for q in QUESTIONS) == 8


def test_demo_credit_scorer_is_high_risk() -> None:
    result = classify(load_answers(DEMO_ANSWERS))
    assert result.tier == "high"
    assert not result.also_limited and not result.gpai
    first = result.reasons[0]
    assert (first.article, first.requirement_id) == ("Annex III(5)(b)", "annex3.5")
    assert "creditworthiness" in first.text
    assert "art6.2" in result.requirement_ids
    assert result.policy("credit-scoring").gate("production").approvals is not None
    assert result.answers["annex3.essential_services"] == "creditworthiness"
    # YAML `no` (a boolean false) is accepted for a multiple-choice question.
    answers = load_answers(DEMO_ANSWERS)
    assert answers["annex3.biometrics"] == NO


def test_spam_filter_is_minimal() -> None:
    result = classify(baseline())
    assert result.tier == "minimal"
    assert not result.also_limited
    assert [r.requirement_id for r in result.reasons] == ["art4"]
    assert result.policy().gate("production").evidence == ("performance_report",)


def test_chatbot_is_limited() -> None:
    result = classify(
        baseline(transparency__interacts_with_people=True, transparency__synthetic_content=True)
    )
    assert result.tier == "limited" and result.also_limited
    assert result.requirement_ids == ["art50.1", "art50.2"]
    assert result.reasons[0].article == "Art. 50(1)"


def test_social_scoring_is_prohibited() -> None:
    result = classify(baseline(prohibited__social_scoring=True, transparency__interacts_with_people=True))
    assert result.tier == "prohibited"
    assert result.reasons[0].requirement_id == "art5.1c"
    assert result.reasons[0].article == "Art. 5(1)(c)"
    assert result.policy().refuses_deployment


def test_derogation_without_profiling_is_not_high() -> None:
    # A tool that only checks that application files are complete (Annex III 4(a), Art. 6(3)(a)).
    answers = baseline(annex3__employment="recruitment")
    with pytest.raises(ValidationError) as info:
        classify(answers)  # the derogation question now applies and is unanswered
    assert info.value.field == "derogation.condition"
    answers["derogation.condition"] = "narrow_procedural_task"
    answers["derogation.profiling"] = False
    result = classify(answers)
    assert result.tier == "minimal"
    assert result.derogation == "a"
    ids = result.requirement_ids
    assert ids[:2] == ["annex3.4", "art6.3"] and "art6.4" in ids and "art49.2" in ids
    assert next(r for r in result.reasons if r.requirement_id == "art6.3").article == "Art. 6(3)(a)"


def test_derogation_with_profiling_stays_high() -> None:
    answers = baseline(annex3__employment="recruitment")
    answers["derogation.condition"] = "narrow_procedural_task"
    answers["derogation.profiling"] = True
    result = classify(answers)
    assert result.tier == "high"
    assert result.derogation is None
    profiling = next(r for r in result.reasons if r.requirement_id == "art6.3")
    assert "profiles natural persons" in profiling.text


def test_derogation_plus_chatbot_is_limited() -> None:
    answers = baseline(annex3__education="learning_outcomes", transparency__interacts_with_people=True)
    answers.update({"derogation.condition": "preparatory_task", "derogation.profiling": False})
    assert classify(answers).tier == "limited"


def test_annex1_product_needs_third_party_assessment() -> None:
    with pytest.raises(ValidationError) as info:
        classify(baseline(annex1__product=True))
    assert info.value.field == "annex1.third_party_assessment"
    assert classify(baseline(annex1__product=True, annex1__third_party_assessment=False)).tier == "minimal"
    high = classify(baseline(annex1__product=True, annex1__third_party_assessment=True))
    assert high.tier == "high" and high.requirement_ids == ["art6.1"]


def test_high_risk_with_transparency_duty_sets_also_limited() -> None:
    result = classify(
        baseline(
            annex3__biometrics="emotion_recognition",
            transparency__emotion_or_biometric_categorisation=True,
            derogation__condition=NO,
        )
    )
    assert result.tier == "high" and result.also_limited
    assert result.reasons[0].article == "Annex III(1)(c)"


def test_gpai_flag() -> None:
    result = classify(
        baseline(gpai__model=True, gpai__systemic_risk=True, transparency__synthetic_content=True)
    )
    assert result.gpai and result.gpai_systemic_risk
    assert result.tier == "limited"
    assert {"art53.1a", "art55.1"} <= set(result.requirement_ids)
    # The systemic-risk question only applies to a GPAI model; an answer to it otherwise is ignored.
    plain = classify(baseline(gpai__systemic_risk=True))
    assert not plain.gpai and not plain.gpai_systemic_risk
    assert "gpai.systemic_risk" not in plain.answers
    with pytest.raises(ValidationError) as info:
        classify(baseline(gpai__model=True))
    assert info.value.field == "gpai.systemic_risk"


def test_answer_validation_names_the_question() -> None:
    answers = baseline()
    answers["prohibited.social_scorin"] = False
    with pytest.raises(ValidationError) as info:
        validate_answers(answers)
    assert info.value.field == "prohibited.social_scorin"
    assert "did you mean 'prohibited.social_scoring'" in str(info.value)

    answers = baseline()
    del answers["transparency.deep_fakes"]
    with pytest.raises(ValidationError) as info:
        validate_answers(answers)
    assert info.value.field == "transparency.deep_fakes" and "missing answer" in str(info.value)

    for qid, bad in (
        ("prohibited.manipulation", "maybe"),
        ("prohibited.manipulation", 1),
        ("annex3.essential_services", "mortgages"),
        ("annex3.essential_services", True),
    ):
        answers = baseline()
        answers[qid] = bad  # type: ignore[assignment]
        with pytest.raises(ValidationError) as info:
            validate_answers(answers)
        assert info.value.field == qid


def test_coerce_answer_accepts_prompt_words() -> None:
    yes_no = next(q for q in QUESTIONS if q.id == "prohibited.manipulation")
    assert coerce_answer(yes_no, "Yes") is True and coerce_answer(yes_no, "n") is False
    choice = next(q for q in QUESTIONS if q.id == "annex3.essential_services")
    assert (
        coerce_answer(choice, False) == NO and coerce_answer(choice, "creditworthiness") == "creditworthiness"
    )


def test_load_answers_json_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(baseline(transparency__interacts_with_people=True)))
    assert classify(load_answers(path)).tier == "limited"
    broken = tmp_path / "answers.yaml"
    broken.write_text("- just\n- a list\n")
    with pytest.raises(ValidationError):
        load_answers(broken)


def test_interactive_asks_only_what_applies() -> None:
    asked: list[str] = []
    scripted: dict[str, object] = {
        "annex3.essential_services": "creditworthiness",
        "derogation.condition": "no",
    }

    def prompt(q: Question) -> object:
        asked.append(q.id)
        return scripted.get(q.id, "no" if q.kind == "bool" else NO)

    result = interactive(prompt)
    assert result.tier == "high"
    assert "derogation.condition" in asked
    assert "derogation.profiling" not in asked  # no derogation claimed
    assert "annex1.third_party_assessment" not in asked and "gpai.systemic_risk" not in asked
    assert asked == [q.id for q in QUESTIONS if q.id in result.answers]


def test_to_dict_is_json_safe() -> None:
    data = classify(load_answers(DEMO_ANSWERS)).to_dict()
    again = json.loads(json.dumps(data))
    assert again["tier"] == "high"
    assert again["reasons"][0] == {
        "article": "Annex III(5)(b)",
        "requirement_id": "annex3.5",
        "text": again["reasons"][0]["text"],
    }
    assert again["catalogue_version"] == load_catalogue().version
