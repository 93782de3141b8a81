"""The case lifecycle, declared once as data: stages, the form each waits for, the
allowed transitions with their named guards. The flow, the CLI, the sweeps and the
docs all read this module; nobody re-encodes it in `if` chains."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from casework.core.errors import UserError
from casework.models.codes import (
    ClosureReason,
    NeedsDomain,
    Objective,
    Program,
    ServiceCategory,
    Stage,
    Strength,
    Trigger,
)
from casework.models.forms import (
    AssessmentForm,
    ClosureForm,
    Goal,
    MonitoringForm,
    PlanForm,
    ReferralForm,
    ReferralRequest,
    StageForm,
)
from casework.models.labels import label

if TYPE_CHECKING:  # the roster's model: the guards need no store to be imported
    from casework.models.staff import StaffMember


class TransitionNotAllowed(UserError):
    """A form asked for a move the lifecycle does not allow (or a guard refused it)."""


@dataclass(frozen=True)
class CaseFacts:
    """What guards may look at besides the form: read from the store by the caller."""

    crisis_domains: frozenset[NeedsDomain] = frozenset()
    program: Program | None = None  # the case's program: its active staff may submit
    staff: Mapping[str, StaffMember] = field(default_factory=dict)  # the roster, by staff id
    # Upheld notices of adverse action the current plan does not answer (models.notices).
    uncovered_losses: tuple[str, ...] = ()


Guard = Callable[[StageForm, CaseFacts], str | None]


def submitted_by_staff(form: StageForm, facts: CaseFacts) -> str | None:
    from casework.models.staff import SERVICE_ACCOUNTS, NotOnRoster, check_staff

    if facts.program is None:
        return None
    if form.submitted_by in SERVICE_ACCOUNTS:  # Casework itself asks, it submits no form
        return f"submitted_by: {form.submitted_by} is Casework itself, not staff"
    try:
        check_staff(facts.staff, form.submitted_by, facts.program)
    except NotOnRoster as exc:
        return f"submitted_by: {exc}"
    return None


def client_agreed(form: StageForm, facts: CaseFacts) -> str | None:
    if isinstance(form, PlanForm) and not form.client_participated:
        return "client_participated: a plan must be agreed with the client"
    return None


def plan_covers_crisis_domains(form: StageForm, facts: CaseFacts) -> str | None:
    if not isinstance(form, PlanForm):
        return None
    missing = facts.crisis_domains - {goal.domain for goal in form.goals}
    if missing:
        return "; ".join(
            f"goals: add a goal for {label(domain)}: the assessment found it in crisis"
            for domain in sorted(missing)
        )
    return None


def plan_covers_lost_benefit(form: StageForm, facts: CaseFacts) -> str | None:
    if isinstance(form, MonitoringForm) and facts.uncovered_losses:
        return (
            f"decision: {'; '.join(facts.uncovered_losses)}, and the plan has no open "
            f"{NeedsDomain.INCOME_BENEFITS.value} goal: choose {Trigger.REVISE_PLAN.value} "
            f"(or {Trigger.REASSESS.value}) and add one"
        )
    return None


def referrals_or_waiver(form: StageForm, facts: CaseFacts) -> str | None:
    if isinstance(form, ReferralForm) and not form.referrals and not form.waived:
        return "referrals: list at least one referral or set waived to true"
    return None


@dataclass(frozen=True)
class Transition:
    source: Stage
    trigger: Trigger
    target: Stage | None  # None: the episode ends (case closed)
    guards: tuple[Guard, ...] = ()
    by_partners: bool = False  # fired by the partners' answers, not by a form
    by_request: bool = False  # fired by a reassessment request (CLI, run form, cadence)


@dataclass(frozen=True)
class StageSpec:
    stage: Stage
    form: type[StageForm] | None  # None: the flow moves on without waiting
    purpose: str
    # An example form for a day, submitted by a staff id, in a program.
    example: Callable[[date, str, Program], StageForm] | None = field(default=None, compare=False)
    # Raised whenever the form's shape changes (a field added, renamed or recoded), with a
    # step in FORM_UPGRADES saying what a form of the version before means in today's terms.
    form_version: int = 1


def _assessment_example(today: date, staff: str, program: Program) -> AssessmentForm:
    from casework.models.assessments import assessment_form
    from casework.models.instruments import example

    form = assessment_form(program)
    answers = {
        name: example(kind.__instrument__) for name, kind in form.instrument_fields().items()
    }
    return form.model_validate(
        {
            "submitted_by": staff,
            **answers,
            "strengths": [Strength.FAMILY_SUPPORT, Strength.MOTIVATION],
            "client_participated": True,
        }
    )


def _plan_example(today: date, staff: str, program: Program) -> PlanForm:
    return PlanForm(
        submitted_by=staff,
        goals=[
            Goal(
                domain=NeedsDomain.HOUSING,
                objective=Objective.SECURE_PERMANENT_HOUSING,
                target_date=today + timedelta(days=60),
            ),
            Goal(
                domain=NeedsDomain.INCOME_BENEFITS,
                objective=Objective.ENROLL_IN_BENEFITS,
                target_date=today + timedelta(days=30),
            ),
        ],
        client_participated=True,
        agreed_on=today,
    )


def _referral_example(today: date, staff: str, program: Program) -> ReferralForm:
    return ReferralForm(
        submitted_by=staff,
        referrals=[
            ReferralRequest(
                service=ServiceCategory.HOUSING_SEARCH,
                provider="hope-housing",
                reason=NeedsDomain.HOUSING,
            )
        ],
    )


def _monitoring_example(today: date, staff: str, program: Program) -> MonitoringForm:
    return MonitoringForm(submitted_by=staff, decision=Trigger.CONTINUE)


def _closure_example(today: date, staff: str, program: Program) -> ClosureForm:
    return ClosureForm(submitted_by=staff, reason=ClosureReason.GOALS_MET, follow_up_consent=True)


STAGES: dict[Stage, StageSpec] = {
    spec.stage: spec
    for spec in (
        StageSpec(Stage.INTAKE, None, "client registered and case opened (by the CLI)"),
        StageSpec(
            Stage.ASSESSMENT,
            AssessmentForm,  # each program's own, built from its instruments (form_for)
            "answer the program's instruments; note strengths",
            _assessment_example,
            form_version=2,
        ),
        StageSpec(Stage.PLAN, PlanForm, "agree measurable goals with the client", _plan_example),
        StageSpec(
            Stage.REFERRAL, ReferralForm, "refer to partner agencies, or waive", _referral_example
        ),
        StageSpec(
            Stage.MONITORING,
            MonitoringForm,
            "review progress; decide what comes next",
            _monitoring_example,
        ),
        StageSpec(Stage.CLOSURE, ClosureForm, "record why the episode ends", _closure_example),
    )
}

TRANSITIONS: tuple[Transition, ...] = (
    Transition(Stage.INTAKE, Trigger.COMPLETE, Stage.ASSESSMENT),
    Transition(Stage.ASSESSMENT, Trigger.COMPLETE, Stage.PLAN),
    Transition(
        Stage.PLAN, Trigger.COMPLETE, Stage.REFERRAL, (client_agreed, plan_covers_crisis_domains)
    ),
    Transition(Stage.REFERRAL, Trigger.SEND, Stage.REFERRAL, (referrals_or_waiver,)),
    Transition(Stage.REFERRAL, Trigger.COMPLETE, Stage.MONITORING, (referrals_or_waiver,)),
    Transition(Stage.REFERRAL, Trigger.ACCEPTED, Stage.MONITORING, by_partners=True),
    Transition(Stage.REFERRAL, Trigger.REJECTED, Stage.REFERRAL, by_partners=True),
    Transition(Stage.MONITORING, Trigger.CONTINUE, Stage.MONITORING, (plan_covers_lost_benefit,)),
    Transition(Stage.MONITORING, Trigger.REASSESS, Stage.ASSESSMENT),
    Transition(Stage.MONITORING, Trigger.REVISE_PLAN, Stage.PLAN),
    Transition(Stage.MONITORING, Trigger.CLOSE, Stage.CLOSURE, (plan_covers_lost_benefit,)),
    Transition(Stage.CLOSURE, Trigger.COMPLETE, None),
    # Circumstances change at any open stage: a reassessment request sends the case back
    # (open referrals stay open, and are named in the request).
    *(
        Transition(stage, Trigger.REASSESS, Stage.ASSESSMENT, by_request=True)
        for stage in (Stage.PLAN, Stage.REFERRAL, Stage.MONITORING)
    ),
)

_BY_SOURCE: dict[tuple[Stage, Trigger, bool], Transition] = {
    (t.source, t.trigger, t.by_request): t for t in TRANSITIONS
}
REASSESSABLE = tuple(t.source for t in TRANSITIONS if t.by_request)


def transition_for(stage: Stage, trigger: Trigger, requested: bool = False) -> Transition:
    try:
        return _BY_SOURCE[(stage, trigger, requested)]
    except KeyError:
        raise TransitionNotAllowed(f"{stage.value} cannot {trigger.value}") from None


def form_for(stage: Stage, program: Program) -> type[StageForm] | None:
    """The form a case of `program` waits for at `stage` (None: it waits for none). The
    assessment's is the program's own, built from its instruments; the others ask the
    program's own questions too, where it declares some (models.stage_questions)."""
    from casework.models.stage_questions import with_questions

    form = STAGES[stage].form
    if form is AssessmentForm:
        from casework.models.assessments import assessment_form

        return assessment_form(program)
    if form is PlanForm or form is MonitoringForm:  # the program's goal catalogue
        from casework.models.plan_forms import monitoring_form, plan_form

        form = plan_form(program) if form is PlanForm else monitoring_form(program)
    return None if form is None else with_questions(form, program, stage)


def example_form(stage: Stage, today: date, staff: str, program: Program) -> StageForm:
    """A form that fits `program`'s at `stage` (for `casework form --example`, the demo and
    tests): the stage's example, with the program's coded questions answered."""
    from casework.models.stage_questions import with_example

    example = STAGES[stage].example
    assert example is not None, stage
    return with_example(example(today, staff, program), program, stage)


def waits_for_form(stage: Stage) -> bool:
    return STAGES[stage].form is not None


def stage_of_form(form: StageForm) -> Stage:
    for spec in STAGES.values():
        if spec.form is not None and isinstance(form, spec.form):
            return spec.stage
    raise TransitionNotAllowed(f"{type(form).__name__} is not a stage form")


def check_transition(
    stage: Stage,
    form: StageForm | None,
    facts: CaseFacts,
    answer: Trigger | None = None,
    requested: bool = False,
) -> Transition:
    """The transition this form (or, with no form, the partners' `answer`, or a
    reassessment request) asks for from `stage`, after its guards agree."""
    if requested:
        return transition_for(stage, Trigger.REASSESS, requested=True)
    expected = STAGES[stage].form
    if form is not None and (expected is None or not isinstance(form, expected)):
        raise TransitionNotAllowed(
            f"case is at {stage.value}; a {stage_of_form(form).value} form does not apply"
        )
    if form is None and answer is None and expected is not None:
        raise TransitionNotAllowed(f"{stage.value} waits for a {expected.__name__}")
    trigger = form.trigger if form is not None else answer or Trigger.COMPLETE
    transition = transition_for(stage, trigger)
    if transition.by_partners != (answer is not None):
        raise TransitionNotAllowed(
            f"{stage.value} {trigger.value}: "
            + ("comes from the partners' answers" if transition.by_partners else "needs a form")
        )
    if form is not None:
        # Every problem, not only the first: whoever fixes the form sees all they must fix.
        problems = [
            problem
            for guard in (submitted_by_staff, *transition.guards)
            if (problem := guard(form, facts)) is not None
        ]
        if problems:
            raise TransitionNotAllowed("; ".join(problems))
    return transition


# What a form given under an earlier version of its stage's form means in today's terms,
# one version at a time: (stage, the version it was given under) -> the form as the next
# version reads it. Version 0 is every release before forms carried a version (0.1.0 and
# earlier): those forms are today's, by codes (as the CLI and the dialogs before 0.1.0 gave
# them) or by labels (0.1.0's dialogs), which the forms read either way.
def _as_today(given: dict[str, Any]) -> dict[str, Any]:
    return dict(given)


def _matrix_as_instrument(given: dict[str, Any]) -> dict[str, Any]:
    """Version 1 of the assessment (0.x: the matrix's scores and crisis screen as the form's
    own fields) as version 2 reads it: the answers to the self-sufficiency matrix."""
    form = dict(given)
    answers = {part: form.pop(part) for part in ("scores", "crisis_screen") if part in form}
    return {**form, "self_sufficiency_matrix": answers} if answers else form


FORM_UPGRADES: dict[tuple[Stage, int], Callable[[dict[str, Any]], dict[str, Any]]] = {
    (stage, 0): _as_today for stage in Stage if STAGES[stage].form is not None
} | {(Stage.ASSESSMENT, 1): _matrix_as_instrument}


class FormTooNew(TransitionNotAllowed):
    """A form given under a later release's form version than this code knows."""


def upgrade_form(stage: Stage, version: int, given: dict[str, Any]) -> dict[str, Any]:
    """A form given under `version` of `stage`'s form, as today's form reads it."""
    current = STAGES[stage].form_version
    if version > current:
        raise FormTooNew(
            f"the {stage.value} form was given under version {version}; this release knows "
            f"{current}: install the release the case was moved with, or a later one"
        )
    for step in range(version, current):
        given = FORM_UPGRADES[(stage, step)](given)
    return given


# How a waiting case run is laid out, beyond its form: the keys it suspends under, what it
# stores for its dialog, the flow's steps. Raised with any change to those; a run waiting
# under another layout (or another version of its form) is carried over when a release
# starts (`casework up`, `casework deploy`): run again from the top, it re-reads the case
# from the store and waits afresh, a form it was handed before the upgrade applied once.
WAIT_LAYOUT = 1
WAIT_TAG = "wait:"  # the run's tag naming what it waits under: its form's version, the layout
STALE_WAIT = "its run waits "  # how `stale_wait` begins: `casework status` lists it so


def wait_tag(
    stage: Stage, program: Program, on_partners: bool = False, on_approval: bool = False
) -> str:
    """The tag of a run of `program` waiting at `stage` under this release (for partners'
    answers, if `on_partners`; for a supervisor's decision on its form, if `on_approval`):
    `wait:plan.v1.l1`, `wait:answers.l1`, `wait:approval.l1`; at assessment, the
    instruments and versions asked too (`wait:assessment.v2.i3f0c9a1b.l1`), so a changed
    instrument carries the waiting run over as a release does."""
    if on_approval:  # the decision is the store's, whatever the form's version
        return f"{WAIT_TAG}approval.l{WAIT_LAYOUT}"
    spec = STAGES[stage]
    what = "answers" if on_partners or spec.form is None else f"{stage.value}.v{spec.form_version}"
    if stage is Stage.ASSESSMENT and not on_partners:
        from casework.models.assessments import instruments_tag

        what = f"{what}.{instruments_tag(program)}"
    if stage in (Stage.PLAN, Stage.MONITORING):  # a program's own goals are named too
        from casework.models.goals import own_goals_tag

        if (goals := own_goals_tag(program)) is not None:
            what = f"{what}.{goals}"
    if not on_partners:  # and its own questions at the stage
        from casework.models.stage_questions import questions_tag

        if (questions := questions_tag(program, stage)) is not None:
            what = f"{what}.{questions}"
    return f"{WAIT_TAG}{what}.l{WAIT_LAYOUT}"


def waited_under(tags: Iterable[str]) -> str | None:
    """The wait tag among a run's tags, or None (a run of a release before 0.2.0)."""
    return next((tag for tag in tags if tag.startswith(WAIT_TAG)), None)


def form_version_given(tags: Iterable[str], stage: Stage) -> int:
    """The version of `stage`'s form a run waited for, by its wait tag (0: before 0.2.0)."""
    tag = waited_under(tags) or ""
    prefix = f"{WAIT_TAG}{stage.value}.v"
    if not tag.startswith(prefix):
        return 0
    version = tag[len(prefix) :].split(".", 1)[0]
    return int(version) if version.isdigit() else 0


def current_wait_tags(program: Program | None = None) -> set[str]:
    """The wait tags a run of `program` (None: of any program) can carry under this release
    and what the programs file declares now."""
    chosen = list(Program) if program is None else [program]
    return (
        {wait_tag(stage, p) for stage in Stage for p in chosen}
        | {wait_tag(Stage.REFERRAL, p, True) for p in chosen}
        | {wait_tag(Stage.PLAN, Program.HOUSING, on_approval=True)}
    )


def program_of_tags(tags: Iterable[str]) -> Program | None:
    """The program a case run's tags name (`program:housing`), or None."""
    named = next((t.removeprefix("program:") for t in tags if t.startswith("program:")), None)
    return Program(named) if named in {p.value for p in Program} else None


def stale_wait(tags: Iterable[str]) -> str | None:
    """Why a waiting run waits under another release's form or layout, or under its
    program's declarations as they were, or None. Compared with its own program's tags:
    a tag another program still waits under (no questions of its own at closure, say) is
    not current for a program that has since added some."""
    tags = list(tags)
    tag = waited_under(tags)
    if tag in current_wait_tags(program_of_tags(tags)):
        return None
    under = (
        f"under {tag.removeprefix(WAIT_TAG)}" if tag else "as a release before 0.2.0 laid it out"
    )
    return f"{STALE_WAIT}{under}, not as this release lays it out"


def stage_key(stage: Stage, sequence: int, attempt: int = 0) -> str:
    """The suspend key of one visit to a stage: unique within an episode's flow run."""
    base = f"{stage.value}-{sequence}"
    return base if attempt == 0 else f"{base}-retry{attempt}"


def stage_of_key(key: str) -> Stage:
    """The stage a suspend key (`stage_key`) belongs to, retries included."""
    return Stage(key.split("-", 1)[0])


def lifecycle_table() -> str:
    """The declaration as a markdown table (docs/case-managers.md embeds it; a test keeps
    them equal)."""
    rows = ["| stage | waits for | trigger | moves to | guards |", "|---|---|---|---|---|"]
    for t in TRANSITIONS:
        form = STAGES[t.source].form
        waits = (
            "(partner answers)"
            if t.by_partners
            else "(reassessment request)"
            if t.by_request
            else form.__name__
            if form
            else "(nothing)"
        )
        rows.append(
            f"| {t.source.value} | {waits} | {t.trigger.value} "
            f"| {t.target.value if t.target else '(closed)'} "
            f"| {', '.join(g.__name__ for g in t.guards) or '-'} |"
        )
    return "\n".join(rows)
