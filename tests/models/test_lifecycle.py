"""The stage machine as declared: transitions, guards, keys. No database, no Prefect."""

from __future__ import annotations

import pytest

from casework.models.codes import NeedsDomain, Program, Stage, Trigger
from casework.models.lifecycle import (
    STAGES,
    TRANSITIONS,
    WAIT_LAYOUT,
    CaseFacts,
    FormTooNew,
    TransitionNotAllowed,
    check_transition,
    form_for,
    form_version_given,
    stage_key,
    stage_of_key,
    stale_wait,
    transition_for,
    upgrade_form,
    wait_tag,
)
from tests import factories


def test_every_stage_is_declared_once_and_reachable() -> None:
    assert set(STAGES) == set(Stage)
    targets = {t.target for t in TRANSITIONS}
    assert set(Stage) - {Stage.INTAKE} <= targets
    assert None in targets, "some transition must end the episode"


@pytest.mark.parametrize(
    ("decision", "target"),
    [
        (Trigger.CONTINUE, Stage.MONITORING),
        (Trigger.REASSESS, Stage.ASSESSMENT),
        (Trigger.REVISE_PLAN, Stage.PLAN),
        (Trigger.CLOSE, Stage.CLOSURE),
    ],
)
def test_monitoring_decision_routes_the_case(decision: Trigger, target: Stage) -> None:
    transition = check_transition(Stage.MONITORING, factories.monitoring(decision), CaseFacts())
    assert transition.target is target


def test_closure_ends_the_episode() -> None:
    assert check_transition(Stage.CLOSURE, factories.closure(), CaseFacts()).target is None


def test_a_form_for_another_stage_is_refused() -> None:
    with pytest.raises(TransitionNotAllowed, match="case is at assessment; a plan form"):
        check_transition(Stage.ASSESSMENT, factories.plan(), CaseFacts())


def test_undeclared_transition_is_refused() -> None:
    with pytest.raises(TransitionNotAllowed, match="assessment cannot reassess"):
        transition_for(Stage.ASSESSMENT, Trigger.REASSESS)


def test_plan_must_be_agreed_with_the_client() -> None:
    with pytest.raises(TransitionNotAllowed, match="client_participated"):
        check_transition(Stage.PLAN, factories.plan(participated=False), CaseFacts())


def test_plan_must_cover_domains_scored_in_crisis() -> None:
    facts = CaseFacts(crisis_domains=frozenset({NeedsDomain.HOUSING, NeedsDomain.FOOD}))
    with pytest.raises(TransitionNotAllowed) as refused:
        check_transition(Stage.PLAN, factories.plan(NeedsDomain.HOUSING), facts)
    assert str(refused.value) == ("goals: add a goal for Food: the assessment found it in crisis")
    plan = factories.plan(NeedsDomain.HOUSING, NeedsDomain.FOOD)
    assert check_transition(Stage.PLAN, plan, facts).target is Stage.REFERRAL


def test_referral_stage_needs_a_referral_or_a_waiver() -> None:
    empty = factories.referral().model_copy(update={"waived": False})
    with pytest.raises(TransitionNotAllowed, match="waived"):
        check_transition(Stage.REFERRAL, empty, CaseFacts())
    assert check_transition(Stage.REFERRAL, factories.referral(), CaseFacts()).target is (
        Stage.MONITORING
    )


def test_sent_referrals_wait_for_the_partners_answers() -> None:
    sent = check_transition(Stage.REFERRAL, factories.referral_to("hope-housing"), CaseFacts())
    assert (sent.trigger, sent.target) == (Trigger.SEND, Stage.REFERRAL)
    accepted = check_transition(Stage.REFERRAL, None, CaseFacts(), Trigger.ACCEPTED)
    rejected = check_transition(Stage.REFERRAL, None, CaseFacts(), Trigger.REJECTED)
    assert (accepted.target, rejected.target) == (Stage.MONITORING, Stage.REFERRAL)
    with pytest.raises(TransitionNotAllowed, match="waits for a ReferralForm"):
        check_transition(Stage.REFERRAL, None, CaseFacts())
    with pytest.raises(TransitionNotAllowed, match="monitoring cannot accepted"):
        check_transition(Stage.MONITORING, None, CaseFacts(), Trigger.ACCEPTED)


def test_stage_keys_are_unique_per_visit_and_attempt() -> None:
    keys = {
        stage_key(Stage.ASSESSMENT, 2),
        stage_key(Stage.ASSESSMENT, 6),
        stage_key(Stage.ASSESSMENT, 6, 1),
    }
    assert keys == {"assessment-2", "assessment-6", "assessment-6-retry1"}


def test_every_waiting_stage_has_a_valid_example() -> None:
    """Housing's included, whose closure asks HMIS's questions (a HUD-funded program)."""
    from datetime import date

    from casework.models.stage_questions import with_example

    for spec in STAGES.values():
        if spec.form is not None:
            assert spec.example is not None
            example = with_example(
                spec.example(date.today(), "cm.tester", Program.HOUSING),
                Program.HOUSING,
                spec.stage,
            )
            form = form_for(spec.stage, Program.HOUSING)
            assert form is not None
            assert form.model_validate(example.model_dump(mode="json")) == example


def test_a_suspend_key_names_its_stage_retries_included() -> None:
    """Documents label a narrative by the stage of the key it was kept under."""
    assert stage_of_key(stage_key(Stage.PLAN, 3)) is Stage.PLAN
    assert stage_of_key(stage_key(Stage.PLAN, 3, attempt=2)) is Stage.PLAN  # "plan-3-retry2"


@pytest.mark.parametrize("stage", [Stage.PLAN, Stage.REFERRAL, Stage.MONITORING])
def test_a_reassessment_request_sends_an_open_stage_back_to_assessment(stage: Stage) -> None:
    assert check_transition(stage, None, CaseFacts(), requested=True).target is Stage.ASSESSMENT


@pytest.mark.parametrize("stage", [Stage.INTAKE, Stage.ASSESSMENT, Stage.CLOSURE])
def test_a_reassessment_request_is_refused_before_a_plan_and_at_closure(stage: Stage) -> None:
    with pytest.raises(TransitionNotAllowed, match=f"{stage.value} cannot reassess"):
        check_transition(stage, None, CaseFacts(), requested=True)


# -- forms and runs across releases -------------------------------------------------------

FORM_STAGES = [stage for stage, spec in STAGES.items() if spec.form is not None]


@pytest.mark.parametrize("stage", FORM_STAGES, ids=lambda s: s.value)
def test_every_earlier_form_version_has_its_meaning_in_todays_terms(stage: Stage) -> None:
    """A form handed to a run before an upgrade is read as today's form: every version
    step from 0 (0.1.0, whose forms carried no version) up to today's is declared."""
    from casework.models.labels import to_labels
    from casework.models.lifecycle import FORM_UPGRADES

    spec = STAGES[stage]
    assert spec.form is not None
    assert spec.example is not None
    assert all((stage, v) in FORM_UPGRADES for v in range(spec.form_version))
    example = spec.example(factories.now().date(), "cm.a", Program.HOUSING)
    by_codes = example.model_dump(mode="json")  # as the CLI and 0.1.0's first dialogs gave it
    by_labels = to_labels(example.model_dump(mode="json", exclude_none=True))  # 0.1.0's dialog
    form = form_for(stage, Program.HOUSING)
    assert form is not None
    for given in (by_codes, by_labels):
        # Housing is HUD-funded: its closure form asks HMIS's questions now, which a form
        # given before them leaves unanswered (HMIS reads "Data not collected").
        read = form.model_validate(upgrade_form(stage, 0, given))
        assert read.model_dump(exclude={"questions"}) == example.model_dump()
        unanswered = getattr(read, "questions", None)
        assert unanswered is None or not unanswered.model_dump(exclude_none=True)


def test_an_assessment_given_before_instruments_were_data_reads_as_the_matrix() -> None:
    """Version 1 of the assessment (0.x) had the matrix's scores and crisis screen as the
    form's own fields: a form handed to a run then is the same answers to the matrix."""
    scores = dict.fromkeys([d.value for d in NeedsDomain], 3) | {"housing": 1}
    given = {
        "submitted_by": "cm.a",
        "scores": scores,
        "strengths": ["motivation"],
        "crisis_screen": {"homeless_tonight": True},
        "client_participated": True,
    }
    form = form_for(Stage.ASSESSMENT, Program.HOUSING)
    assert form is not None
    upgraded = form.model_validate(upgrade_form(Stage.ASSESSMENT, 1, given))
    assert upgraded == factories.assessment(crisis=("homeless_tonight",), housing=1).model_copy(
        update={"submitted_by": "cm.a", "strengths": ["motivation"]}
    )


def test_a_form_of_a_later_release_is_refused_by_name() -> None:
    later = STAGES[Stage.ASSESSMENT].form_version + 1
    with pytest.raises(FormTooNew, match=f"version {later}; this release knows"):
        upgrade_form(Stage.ASSESSMENT, later, {})


def test_a_run_waiting_under_another_release_is_named_stale() -> None:
    """What `casework up` carries over after an upgrade, by the run's tags alone."""
    today = wait_tag(Stage.PLAN, Program.HOUSING)
    assert today == f"wait:plan.v{STAGES[Stage.PLAN].form_version}.l{WAIT_LAYOUT}"
    assert wait_tag(Stage.REFERRAL, Program.HOUSING, on_partners=True) == (
        f"wait:answers.l{WAIT_LAYOUT}"
    )
    assert stale_wait(["casework", "stage:plan", today]) is None
    assert stale_wait(["casework", "stage:referral", "wait:answers.l1"]) is None
    assert stale_wait(["casework", "stage:plan"]) == (
        "its run waits as a release before 0.2.0 laid it out, not as this release lays it out"
    )
    assert stale_wait(["stage:plan", "wait:plan.v0.l1"]) == (
        "its run waits under plan.v0.l1, not as this release lays it out"
    )
    assert stale_wait(["stage:plan", f"wait:plan.v1.l{WAIT_LAYOUT + 1}"])
    assert form_version_given([today], Stage.PLAN) == STAGES[Stage.PLAN].form_version
    assert form_version_given(["stage:plan"], Stage.PLAN) == 0
    assessment = wait_tag(Stage.ASSESSMENT, Program.HOUSING)
    assert form_version_given([assessment], Stage.PLAN) == 0
    assert form_version_given([assessment], Stage.ASSESSMENT) == 2
