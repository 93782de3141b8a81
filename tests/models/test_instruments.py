"""Instruments declared as data: the shipped ones score as their publishers say, every kind
of mistake in a declaration is refused in one line naming the file, the entry and what is
wrong, and a changed instrument never alters an assessment taken before it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from casework.core.errors import UserError
from casework.models import assessments, instruments
from casework.models.assessments import form_of
from casework.models.codes import RiskLevel
from casework.models.instruments import SHIPPED_DIR, Instrument, InstrumentError
from casework.models.orm import Assessment
from tests import factories
from tests.factories import STAFF, now

HVS = SHIPPED_DIR / "hunger_vital_sign.toml"
HRSN = SHIPPED_DIR / "ahc_hrsn_core.toml"


def _scored(path: Path, **answers: Any) -> instruments.Result:
    instrument = instruments.load(path)
    model = instruments.answers_model(instrument)
    by_section: dict[str, dict[str, Any]] = {s.id: {} for s in instrument.sections}
    for item, answer in answers.items():
        by_section[instrument.item(item).section][item] = answer
    return model.model_validate(by_section).result()


# -- scored as published ------------------------------------------------------------------

OFTEN, SOMETIMES, NEVER, UNKNOWN = (
    "often_true",
    "sometimes_true",
    "never_true",
    "dont_know_or_refused",
)


@pytest.mark.parametrize(
    ("worried", "did_not_last", "positive"),
    [
        (NEVER, NEVER, False),
        (OFTEN, NEVER, True),
        (NEVER, SOMETIMES, True),
        (SOMETIMES, OFTEN, True),
        (UNKNOWN, NEVER, False),
        (UNKNOWN, UNKNOWN, False),
    ],
)
def test_the_hunger_vital_sign_is_positive_on_either_statement_often_or_sometimes_true(
    worried: str, did_not_last: str, positive: bool
) -> None:
    """Hager et al. 2010: positive if either or both statements are often or sometimes true."""
    result = _scored(HVS, worried_food_would_run_out=worried, food_did_not_last=did_not_last)
    assert result.bands["food_insecurity"] == ("positive" if positive else "negative")
    assert result.risk is (RiskLevel.MEDIUM if positive else RiskLevel.LOW)


CALM: dict[str, Any] = {
    "living_situation_today": "steady_place",
    "problems_with_place": ["none_of_the_above"],
    "worried_food_would_run_out": NEVER,
    "food_did_not_last": NEVER,
    "transportation_kept_from": False,
    "utility_shut_off_threat": "no",
    "physically_hurt": "never",
    "insult_or_talk_down": "never",
    "threaten_with_harm": "never",
    "scream_or_curse": "never",
}


@pytest.mark.parametrize(
    ("changes", "positive"),
    [
        ({}, set()),
        ({"living_situation_today": "worried_about_losing_it"}, {"living_situation"}),
        ({"living_situation_today": "no_steady_place"}, {"living_situation"}),
        ({"problems_with_place": ["mold", "water_leaks"]}, {"living_situation"}),
        ({"food_did_not_last": SOMETIMES}, {"food"}),
        ({"transportation_kept_from": True}, {"transportation"}),
        ({"utility_shut_off_threat": "yes"}, {"utilities"}),
        ({"utility_shut_off_threat": "already_shut_off"}, {"utilities"}),
        # Safety: Never 1 .. Frequently 5, positive when the four add up to more than 10.
        (
            {
                "physically_hurt": "sometimes",
                "insult_or_talk_down": "fairly_often",
                "threaten_with_harm": "rarely",
                "scream_or_curse": "never",
            },
            set(),
        ),  # 3 + 4 + 2 + 1 = 10
        (
            {
                "physically_hurt": "sometimes",
                "insult_or_talk_down": "fairly_often",
                "threaten_with_harm": "rarely",
                "scream_or_curse": "rarely",
            },
            {"safety"},
        ),  # 11
        (
            {"insult_or_talk_down": "frequently", "scream_or_curse": "frequently"},
            {"safety"},
        ),  # 1 + 5 + 1 + 5 = 12
    ],
)
def test_the_ahc_screening_tool_is_scored_domain_by_domain_as_cms_publishes_it(
    changes: dict[str, Any], positive: set[str]
) -> None:
    result = _scored(HRSN, **(CALM | changes))
    assert {score for score, band in result.bands.items() if band == "positive"} == positive
    expected = (
        RiskLevel.HIGH if "safety" in positive else RiskLevel.MEDIUM if positive else RiskLevel.LOW
    )
    assert result.risk is expected


def test_the_matrix_is_scored_as_every_release_before_instruments_were_data() -> None:
    """The documented rule: any crisis flag critical; a 1, or three 2s or lower, high; a 2
    medium; else low. A domain scored 1 is in crisis."""
    cases = [
        ({}, (), RiskLevel.LOW, []),
        ({"food": 2, "housing": 2}, (), RiskLevel.MEDIUM, []),
        ({"food": 2, "housing": 2, "legal": 2}, (), RiskLevel.HIGH, []),
        ({"housing": 1}, (), RiskLevel.HIGH, ["housing"]),
        ({"legal": 5}, ("homeless_tonight",), RiskLevel.CRITICAL, []),
    ]
    for scores, crisis, level, domains in cases:
        form = factories.assessment(crisis=crisis, **scores)
        records, risk, _ = assessments.assess(form)
        assert risk is level, scores
        assert records["self_sufficiency_matrix"]["crisis_domains"] == domains
        assert records["self_sufficiency_matrix"]["crisis_flags"] == list(crisis)


def test_a_conditional_item_is_asked_only_when_its_condition_holds(tmp_path: Path) -> None:
    text = HVS.read_text() + (
        '\n[[items]]\nid = "used_food_bank"\nsection = "food_security"\n'
        'label = "Did you use a food bank?"\ntype = "yes_no"\n'
        'show_if = { item = "worried_food_would_run_out", in = ["often_true", "sometimes_true"] }\n'
    )
    path = tmp_path / "hunger_vital_sign.toml"
    path.write_text(text)
    model = instruments.answers_model(instruments.load(path))
    calm = {"worried_food_would_run_out": NEVER, "food_did_not_last": NEVER}
    model.model_validate({"food_security": calm})
    with pytest.raises(ValueError, match="used_food_bank: answer only when"):
        model.model_validate({"food_security": calm | {"used_food_bank": True}})
    worried = calm | {"worried_food_would_run_out": OFTEN}
    with pytest.raises(ValueError, match="used_food_bank: required when"):
        model.model_validate({"food_security": worried})
    model.model_validate({"food_security": worried | {"used_food_bank": True}})


def test_a_dialog_may_send_an_options_label_and_the_form_keeps_its_code() -> None:
    model = instruments.answers_model(instruments.load(HVS))
    given = {"worried_food_would_run_out": "Often true", "food_did_not_last": "Never true"}
    answers = model.model_validate({"food_security": given}).answers()
    assert answers == {"worried_food_would_run_out": OFTEN, "food_did_not_last": NEVER}


# -- mistakes, refused in one line ---------------------------------------------------------

MISTAKES = [
    ("bad_toml", ('title = "Hunger', 'title = "Hunger'), "Expecting"),  # replaced below
    (
        "unknown_type",
        ('type = "choice"', 'type = "slider"'),
        "items[0] (worried_food_would_run_out).type",
    ),
    (
        "one_option",
        None,
        "items[0] (worried_food_would_run_out): a choice item needs at least two options",
    ),
    (
        "undeclared_section",
        ('section = "food_security"', 'section = "food"'),
        "section food is not declared",
    ),
    (
        "bad_code",
        ('id = "food_did_not_last"', 'id = "Food did not last"'),
        "items[1] (Food did not last).id: String should match",
    ),
    (
        "twice",
        ('id = "food_did_not_last"', 'id = "worried_food_would_run_out"'),
        "items: worried_food_would_run_out declared twice",
    ),
    (
        "score_item",
        (
            'items = ["worried_food_would_run_out", "food_did_not_last"]',
            'items = ["worried", "food_did_not_last"]',
        ),
        "scores[0] (food_insecurity): item worried is not declared",
    ),
    ("risk_level", ('level = "medium"', 'level = "dire"'), "risk[0].level: Input should be"),
    (
        "risk_score",
        ('{ score = "food_insecurity", at_least = 1 }', '{ score = "hunger", at_least = 1 }'),
        "risk[0] (medium): score hunger is not declared",
    ),
    (
        "two_tests",
        (
            '{ score = "food_insecurity", at_least = 1 }',
            '{ score = "food_insecurity", at_least = 1, at_most = 2 }',
        ),
        "risk[0].when[0]: give one of equals, in, at_least, at_most",
    ),
    (
        "bands",
        (
            'bands = [{ at_least = 0, band = "negative" }, { at_least = 1, band = "positive" }]',
            'bands = [{ at_least = 1, band = "positive" }, { at_least = 0, band = "negative" }]',
        ),
        "bands must rise",
    ),
    ("no_version", ("version = 1\n", ""), "version: Field required"),
    (
        "unknown_key",
        ("version = 1\n", 'version = 1\ncolour = "red"\n'),
        "colour: Extra inputs are not permitted",
    ),
    ("wrong_id", ('id = "hunger_vital_sign"', 'id = "hunger"'), "id hunger is not the file's name"),
]


def _mistaken(name: str, change: tuple[str, str] | None) -> str:
    text = HVS.read_text()
    if name == "bad_toml":
        return text.replace('title = "Hunger Vital Sign"', 'title = "Hunger Vital Sign')
    if name == "one_option":
        return re.sub(r"    \{ code = \"sometimes_true\".*\n", "", text, count=1).replace(
            '    { code = "never_true", label = "Never true", value = 0 },\n    '
            '{ code = "dont_know_or_refused", label = "Don\'t know or refused", value = 0 },\n',
            "",
            1,
        )
    assert change is not None
    assert change[0] in text, name
    return text.replace(change[0], change[1], 1)


@pytest.mark.parametrize(("name", "change", "expected"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_mistaken_declaration_is_refused_in_one_line_naming_where(
    tmp_path: Path, name: str, change: tuple[str, str] | None, expected: str
) -> None:
    path = tmp_path / "hunger_vital_sign.toml"
    path.write_text(_mistaken(name, change))
    with pytest.raises(InstrumentError) as refused:
        instruments.load(path)
    said = str(refused.value)
    assert "\n" not in said
    assert said.startswith(f"{path}: ")
    if name != "bad_toml":
        assert expected in said, said


def test_a_program_naming_an_instrument_with_no_file_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    from casework.models.programs import DEFAULT_PROGRAMS_FILE, load_programs

    programs = tmp_path / "programs.toml"
    programs.write_text(
        DEFAULT_PROGRAMS_FILE.read_text().replace(
            "[housing]\n", '[housing]\nassessment = ["self_sufficiency_matrix", "prapare"]\n'
        )
    )
    with pytest.raises(UserError) as refused:
        load_programs(programs)
    assert str(refused.value) == (
        f"{programs}: housing.assessment: no instrument prapare "
        f"(no file {tmp_path / 'instruments' / 'prapare.toml'})"
    )


# -- versions -------------------------------------------------------------------------------


def _v2(v1: Instrument) -> Instrument:
    """The Hunger Vital Sign as an agency changes it: "Often true" reworded, and a positive
    screen now high risk."""
    data = v1.model_dump(mode="json", by_alias=True)
    data["version"] = 2
    for item in data["items"]:
        for option in item["options"]:
            if option["code"] == OFTEN:
                option["label"] = "Often"
    data["risk"][0]["level"] = "high"
    return Instrument.model_validate(data)


def _answered(instrument: Instrument, answer: str) -> Any:
    form = form_of((instrument,))
    return form.model_validate(
        {
            "submitted_by": STAFF,
            instrument.id: {
                "food_security": {"worried_food_would_run_out": answer, "food_did_not_last": NEVER}
            },
            "client_participated": True,
        }
    )


def test_a_changed_instrument_never_alters_a_past_assessment(
    session: Session, tmp_path: Path
) -> None:
    v1 = instruments.load(HVS)
    case = factories.new_case(session)
    first = assessments.record_assessment(
        session, case, "assessment-1", _answered(v1, OFTEN), now()
    )
    kept = dict(first.instruments)
    v2 = _v2(v1)
    second = assessments.record_assessment(
        session, case, "assessment-2", _answered(v2, OFTEN), now()
    )
    session.expire_all()
    first = session.get(Assessment, first.id)
    assert first is not None
    assert first.instruments == kept
    (then,), (later,) = assessments.readings(session, first), assessments.readings(session, second)
    assert (then.version, then.risk, later.version, later.risk) == (1, "medium", 2, "high")
    question = v1.items[0].label
    assert (question, "Often true") in then.answers
    assert (question, "Often") in later.answers
    assert (first.risk_level, second.risk_level) == ("medium", "high")

    # The file changed again without a new version: refused by name, in one line.
    reworded = _v2(v1).model_copy(update={"title": "Hunger screen"})
    with pytest.raises(assessments.InstrumentChanged) as refused:
        assessments.check_versions(session, [reworded], tmp_path)
    said = str(refused.value)
    assert said == (
        f"{SHIPPED_DIR / 'hunger_vital_sign.toml'}: version 2 is not what the store keeps for "
        f"that version (first used {now().date()}): raise its version to 3 to change it"
    )
    assessments.check_versions(session, [v1, v2], tmp_path)  # as kept: nothing to say
