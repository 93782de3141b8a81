"""Cases: intake, stage forms, a case and a caseload, notes, reopening, reassessment,
transfers, what is due, and a case's documents."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click

from casework.cli.options import (
    CLIENT_NUMBER,
    EXIT_ERROR,
    JSON,
    STAFF_ID,
    Choice,
    CliError,
    Count,
    Day,
    Seconds,
    choice_of,
    command,
    emit,
    free_text,
    one_of,
    read_json,
    read_text,
    signed_in,
    warn,
)
from casework.core.settings import STAFF_ID_PATTERN
from casework.models.codes import (
    STAFF_CONTACT_TYPES,
    CaseStatus,
    ContactType,
    HouseholdRelationship,
    NewClientReason,
    Program,
    ReassessmentReason,
    RecipientRole,
    Stage,
    TransferReason,
)

commands = click.Group()
FORM_STAGES = [s for s in Stage if s is not Stage.INTAKE]
DOCUMENT_KINDS = ("plan", "referral", "notes", "closure", "hearing-request", "consent")
REFERENCED = {
    "referral": "a referral letter needs the referral (REF-…)",
    "consent": "a consent form needs the consent (CON-…)",
}
HEARING_REQUEST = "hearing-request"


MEMBER_RELATIONSHIPS = [r for r in HouseholdRelationship if r is not HouseholdRelationship.HEAD]


@command(
    commands,
    "intake",
    "open a case: for a new client (checked for duplicates first) or an existing one",
)
@click.option("--program", required=True, type=choice_of(Program))
@click.option("--file", "file", help="a new client's JSON (- for stdin)")
@click.option("--client", type=CLIENT_NUMBER, help="an existing client: CLIENT-…")
@click.option(
    "--new-client",
    type=choice_of(NewClientReason),
    metavar="REASON",
    help="register a new client although likely matches were found, and why (audited): "
    + ", ".join(r.value for r in NewClientReason),
)
@click.option("--case-manager", help="staff id (default: you)")
@click.option(
    "--member",
    "members",
    multiple=True,
    metavar="RELATIONSHIP=FILE|CLIENT-…",
    help="a member of the client's household (repeatable): their relationship to the client "
    f"({', '.join(r.value for r in MEMBER_RELATIONSHIPS)}) and a new person's JSON, or an "
    "existing client's number; each new person is checked for duplicates",
)
@JSON
def intake(
    program: str,
    file: str | None,
    client: str | None,
    new_client: str | None,
    case_manager: str | None,
    members: tuple[str, ...],
    as_json: bool,
) -> int:
    from pydantic import ValidationError

    from casework import services
    from casework.models.forms import describe_error
    from casework.models.schemas import ClientIn

    one_of(("--file", file), ("--client", client))
    if client and new_client:
        raise CliError("--new-client: not with --client (that links an existing client)")
    who: ClientIn | str = client.upper() if client else ""
    if file:
        try:
            who = ClientIn.model_validate(read_json(file, "client"))
        except ValidationError as exc:
            raise CliError(describe_error(exc, "client: ")) from None
    actor = signed_in()
    manager = case_manager or actor
    if not re.match(STAFF_ID_PATTERN, manager):
        raise CliError("--case-manager: must be a staff id (lowercase letters, digits, . _ -)")
    check_roster(manager, Program(program), RecipientRole.CASE_MANAGER, "--case-manager")
    reason = NewClientReason(new_client) if new_client else None
    result = services.cases.intake(
        who,
        Program(program),
        manager,
        actor,
        new_client_reason=reason,
        members=[member_of(given, "--member") for given in members],
    )
    emit(result.__dict__, as_json, lambda: result.case_number)
    return 0


def member_of(given: str, option: str) -> tuple[HouseholdRelationship, Any]:
    """`RELATIONSHIP=FILE` (a new person's JSON) or `RELATIONSHIP=CLIENT-…`."""
    from pydantic import ValidationError

    from casework.models.forms import describe_error
    from casework.models.schemas import ClientIn

    relationship, _, who = given.partition("=")
    choices = ", ".join(r.value for r in MEMBER_RELATIONSHIPS)
    if relationship not in {r.value for r in MEMBER_RELATIONSHIPS} or not who:
        raise CliError(
            f"{option}: give RELATIONSHIP=FILE or RELATIONSHIP=CLIENT-…, the "
            f"relationship one of {choices} (not {given!r})"
        )
    if re.fullmatch(r"(?i)client-\d{6,}", who):
        return HouseholdRelationship(relationship), who.upper()
    try:
        person = ClientIn.model_validate(read_json(who, "member"))
    except ValidationError as exc:
        raise CliError(describe_error(exc, f"{option} {relationship}: ")) from None
    return HouseholdRelationship(relationship), person


@command(commands, "household", "a case's household: who is in it, members added, leaving, moving")
@click.argument("case_number")
@click.option(
    "--add",
    "added",
    multiple=True,
    metavar="RELATIONSHIP=FILE|CLIENT-…",
    help="add a member (repeatable), as intake's --member; the case becomes a household case",
)
@click.option(
    "--new-client",
    type=choice_of(NewClientReason),
    metavar="REASON",
    help="register a new member although likely matches were found, and why",
)
@click.option("--leaves", type=CLIENT_NUMBER, metavar="CLIENT-…", help="a member who left")
@click.option(
    "--move",
    type=CLIENT_NUMBER,
    metavar="CLIENT-…",
    help="a member who moves to another case's household (--to, --relationship)",
)
@click.option("--to", "to_case", metavar="CASE", help="the case whose household they join")
@click.option(
    "--relationship",
    type=Choice([r.value for r in MEMBER_RELATIONSHIPS]),
    help="their relationship to the head of the household they join",
)
@click.option("--on", "on", type=Day(), metavar="DATE", help="the day it happened (default: today)")
@JSON
def household(
    case_number: str,
    added: tuple[str, ...],
    new_client: str | None,
    leaves: str | None,
    move: str | None,
    to_case: str | None,
    relationship: str | None,
    on: date | None,
    as_json: bool,
) -> int:
    from dataclasses import asdict

    from casework import services
    from casework.cli.views import household_text

    changes = [
        name for name, given in (("--add", added), ("--leaves", leaves), ("--move", move)) if given
    ]
    if len(changes) > 1:
        raise CliError(f"{changes[1]}: one change at a time ({' and '.join(changes)} given)")
    if bool(move) != bool(to_case) or bool(move) != bool(relationship):
        raise CliError("--move: give the member, --to CASE and --relationship together")
    if on is not None and on > date.today():
        raise CliError(f"--on: {on} is in the future")
    actor = signed_in()
    if added:
        reason = NewClientReason(new_client) if new_client else None
        found = services.households.add(
            case_number,
            [member_of(given, "--add") for given in added],
            actor,
            new_client_reason=reason,
            on=on,
        )
        print(f"added {', '.join(found)}", file=sys.stderr)
    elif leaves:
        services.households.leave(case_number, leaves.upper(), actor, on)
    elif move and to_case and relationship:
        services.households.move(
            case_number, move.upper(), to_case, HouseholdRelationship(relationship), actor, on
        )
    shown = services.households.view(case_number, actor)
    emit(asdict(shown), as_json, lambda: household_text(shown))
    return 0


def check_roster(staff_id: str, program: Program, role: RecipientRole | None, option: str) -> None:
    """Refuse, naming `option`, a staff id that is not active staff of the program."""
    from casework.models.staff import NotOnRoster, check_staff
    from casework.services.staff import roster

    try:
        check_staff(roster(), staff_id, program, role)
    except NotOnRoster as exc:
        default = " (default: CASEWORK_ACTOR, your login)" if option == "--case-manager" else ""
        raise CliError(f"{option}: {exc}{default}") from None


@command(commands, "submit", "submit a stage form to a waiting case")
@click.argument("case_number")
@click.argument("stage", type=choice_of(FORM_STAGES))
@click.option("--file", "file", required=True, help="form JSON (- for stdin)")
@click.option("--narrative-file", help="narrative text kept in the store only")
@click.option("--wait", is_flag=True, help="return once the case has moved on")
@click.option("--timeout", type=Seconds(), default=120.0)
@JSON
def submit(
    case_number: str,
    stage: str,
    file: str,
    narrative_file: str | None,
    wait: bool,
    timeout: float,
    as_json: bool,
) -> int:
    from casework import services

    at = Stage(stage)
    form, written = services.stages.parse_submission(
        at, read_json(file, f"{at.value} form"), case_number
    )
    narrative = read_text(narrative_file, "--narrative-file") if narrative_file else None
    result = services.stages.submit(
        case_number,
        at,
        form,
        narrative=narrative,
        written=written,
        actor=signed_in(),
        wait=wait,
        timeout=timeout,
    )
    emit(result.__dict__, as_json, lambda: submit_line(result))
    return 0 if result.outcome in DONE else EXIT_ERROR


# Outcomes of a form handed over, or a decision on one, that are what was asked.
DONE = {"submitted", "moved", "awaiting_approval", "returned"}


def submit_line(result: Any) -> str:
    if result.outcome == "submitted":
        return f"{result.case_number}: {result.stage} form submitted ({result.stage_key})"
    if result.outcome == "moved":
        return f"{result.case_number}: {result.stage_key} recorded; now at {result.stage}"
    if result.outcome == "awaiting_approval":
        return (
            f"{result.case_number}: {result.stage_key} recorded; the {result.stage} form waits "
            "for a supervisor's approval"
        )
    if result.outcome == "returned":
        return (
            f"{result.case_number}: {result.stage_key} recorded; the {result.stage} form is "
            "returned to the case manager for correction"
        )
    return f"{result.case_number}: {result.stage_key} {result.outcome}: {result.error}"


@command(commands, "show", "print one case")
@click.argument("case_number")
@JSON
def show(case_number: str, as_json: bool) -> int:
    from casework import services
    from casework.cli.views import case_text

    detail = services.cases.show(case_number, reader=signed_in())
    emit(detail.public(), as_json, lambda: case_text(detail))
    return 0


@command(commands, "cases", "list the caseload, a page at a time (--json: every case)")
@click.option("--stage", type=choice_of(Stage))
@click.option("--program", type=choice_of(Program))
@click.option("--status", type=choice_of(CaseStatus))
@click.option(
    "--page",
    type=click.IntRange(min=1),
    help="which page of 100 cases, in the order they were opened (default: the first; "
    "with --json, every case unless a page is given)",
)
@JSON
def cases(
    stage: str | None, program: str | None, status: str | None, page: int | None, as_json: bool
) -> int:
    from casework import services
    from casework.cli.views import caseload_text

    chosen = (
        Stage(stage) if stage else None,
        Program(program) if program else None,
        CaseStatus(status) if status else None,
    )
    if as_json and page is None:  # every case, written as it is read
        first = True
        sys.stdout.write("[")
        for chunk in services.cases.caseload_chunks(*chosen):
            for row in chunk:
                sys.stdout.write(("\n  " if first else ",\n  ") + row.model_dump_json())
                first = False
        sys.stdout.write("\n]\n" if not first else "]\n")
        return 0
    total = services.cases.caseload_count(*chosen)
    per_page = services.cases.CASELOAD_PAGE
    pages = max(1, -(-total // per_page))
    if (page or 1) > pages:
        ctx = click.get_current_context()
        param = next(p for p in ctx.command.params if p.name == "page")
        raise click.BadParameter(f"{page} is past the last page ({pages})", ctx, param)
    rows = services.cases.caseload(*chosen, page=page or 1)
    emit(
        [row.model_dump(mode="json") for row in rows],
        as_json,
        lambda: (
            caseload_text(rows)
            + _more(page or 1, pages, total, {"stage": stage, "program": program, "status": status})
        ),
    )
    return 0


def _more(page: int, pages: int, total: int, chosen: dict[str, str | None]) -> str:
    """The line under a page of the caseload: where it is, and the command for the next."""
    if pages == 1:
        return ""
    line = f"\npage {page} of {pages} ({total} cases)"
    if page < pages:
        options = "".join(f" --{name} {value}" for name, value in chosen.items() if value)
        line += f"; next: casework cases{options} --page {page + 1}"
    return line


@command(commands, "form", "print a stage form's schema or an example")
@click.argument("stage", type=choice_of(FORM_STAGES))
@click.option("--example", is_flag=True)
@click.option(
    "--program",
    type=choice_of(Program),
    help="the program whose form (the assessment's is each program's own: its instruments)",
)
def form(stage: str, example: bool, program: str | None) -> int:
    from casework.core.settings import default_actor
    from casework.models.assessments import with_written
    from casework.models.forms import AssessmentForm
    from casework.models.lifecycle import example_form, form_for
    from casework.models.stage_questions import with_places

    at = Stage(stage)
    if program is None and at is Stage.ASSESSMENT:
        raise CliError(
            "--program: the assessment form is each program's own (its instruments); "
            f"choose one of {', '.join(p.value for p in Program)}"
        )
    chosen = Program(program or Program.HOUSING)
    model = form_for(at, chosen)
    assert model is not None
    if not example:
        data = model.model_json_schema()
    else:  # with the answers kept outside the run's form shown in their places, empty
        data = example_form(at, date.today(), default_actor(), chosen).model_dump(mode="json")
        if issubclass(model, AssessmentForm):
            data = with_written(model, data)
        data = with_places(model, data)
    print(json.dumps(data, indent=2))
    return 0


@command(commands, "note", "record a contact or note (no flow resume)")
@click.argument("case_number")
@click.option("--text", "text", required=True)
@click.option(
    "--type", "contact_type", default=ContactType.NOTE.value, type=choice_of(STAFF_CONTACT_TYPES)
)
@click.option("--crisis", is_flag=True, help="the client is in crisis: escalate at once")
def note(case_number: str, text: str, contact_type: str, crisis: bool) -> int:
    from pydantic import ValidationError

    from casework import services
    from casework.models.forms import describe_error
    from casework.models.schemas import ContactIn

    try:
        data = ContactIn(contact_type=ContactType(contact_type), text=text, crisis=crisis)
    except ValidationError as exc:
        raise CliError(describe_error(exc, "note: ")) from None
    warning = services.cases.note(case_number, data, signed_in())
    escalating = " (crisis: escalating now)" if crisis and not warning else ""
    print(f"{case_number.upper()}: {data.contact_type.value} recorded{escalating}")
    warn(warning)
    return 0


@command(
    commands,
    "intake-details",
    "record a case's answers to its program's own intake fields (case store only)",
)
@click.argument("case_number")
@click.option("--file", "file", required=True, help="the answers as JSON (- for stdin)")
@click.option(
    "--member",
    metavar="CLIENT-…",
    help="a member of the case's household: their answers to HMIS's project-start questions "
    "(a HUD-funded program's)",
)
def intake_details(case_number: str, file: str, member: str | None) -> int:
    from casework import services

    answered = services.cases.record_intake_details(
        case_number, read_json(file, "intake details"), signed_in(), member=member
    )
    whose = f" for {member.strip().upper()}" if member else ""
    print(f"{case_number.upper()}: intake details recorded{whose} ({answered} answered)")
    return 0


@command(commands, "reopen", "reopen a closed case as a new episode")
@click.argument("case_number")
@click.option("--reason", required=True)
def reopen(case_number: str, reason: str) -> int:
    from casework import services

    result = services.cases.reopen(case_number, free_text(reason, "--reason"), signed_in())
    print(f"{result.case_number}: reopened as a new episode, now at {result.stage}")
    return 0


@command(commands, "reassess", "send a case at plan, referral or monitoring back to assessment")
@click.argument("case_number")
@click.option("--reason", required=True, type=choice_of(ReassessmentReason))
@click.option("--note", "note_text", help="free text for the case record (store only)")
@click.option("--wait", is_flag=True)
def reassess(case_number: str, reason: str, note_text: str | None, wait: bool) -> int:
    from casework import services

    written = free_text(note_text, "--note") if note_text else None
    result = services.stages.reassess(
        case_number, ReassessmentReason(reason), signed_in(), note=written, wait=wait
    )
    asked = f"{result.case_number}: reassessment asked for at {result.stage_key}"
    if result.outcome == "submitted":
        print(f"{asked}; its run is taking it back to assessment")
    elif result.outcome == "held":  # recorded; the case moves once Prefect answers again
        print(asked)
        warn(result.error)
    else:
        print(submit_line(result))
    return 0 if result.outcome in {"submitted", "moved", "held"} else EXIT_ERROR


@command(commands, "approve", "approve the stage form a case waits with (its supervisors)")
@click.argument("case_number")
@click.option("--wait", is_flag=True, help="until the case's run has moved it on")
@JSON
def approve(case_number: str, wait: bool, as_json: bool) -> int:
    return _decide(case_number, True, None, wait, as_json)


@command(commands, "return", "return a case's stage form to its case manager, with a reason")
@click.argument("case_number")
@click.option("--reason", required=True, help="what to correct (store only)")
@click.option("--wait", is_flag=True, help="until the case's run has recorded it")
@JSON
def return_form(case_number: str, reason: str, wait: bool, as_json: bool) -> int:
    return _decide(case_number, False, free_text(reason, "--reason"), wait, as_json)


def _decide(case_number: str, approve: bool, reason: str | None, wait: bool, as_json: bool) -> int:
    from casework import services

    result = services.approvals.decide(case_number.upper(), signed_in(), approve, reason, wait=wait)
    decided = "approved" if approve else "returned"
    emit(
        result.__dict__,
        as_json,
        lambda: (
            f"{result.case_number}: form {decided}; its run is recording it"
            if result.outcome == "submitted"
            else f"{result.case_number}: form {decided}"
            if result.outcome == "held"
            else submit_line(result)
        ),
    )
    if result.outcome == "held":
        warn(result.error)
    return 0 if result.outcome in DONE | {"held"} else EXIT_ERROR


@command(
    commands,
    "transfer",
    "give cases to another case manager (a supervisor's or an operator's work)",
)
@click.argument("case_number", nargs=-1)
@click.option("--from", "from_staff", type=STAFF_ID, help="their whole caseload")
@click.option("--to", "to_staff", required=True, type=STAFF_ID)
@click.option("--reason", required=True, type=choice_of(TransferReason))
@click.option(
    "--override",
    is_flag=True,
    help="past the program's maximum caseload (the program's supervisor only)",
)
@JSON
def transfer(
    case_number: tuple[str, ...],
    from_staff: str | None,
    to_staff: str,
    reason: str,
    override: bool,
    as_json: bool,
) -> int:
    from casework import services

    if bool(case_number) == bool(from_staff):
        raise CliError("case_number: give the cases to move, or --from STAFF, not both")
    done, warning = services.transfers.transfer(
        [n.upper() for n in case_number],
        from_staff,
        to_staff,
        TransferReason(reason),
        override,
        signed_in(),
    )
    emit(
        [t.__dict__ for t in done],
        as_json,
        lambda: "\n".join(
            f"{t.case_number}: {t.from_manager} -> {t.to_manager}"
            f"{f' ({t.escalations} open escalation(s) handed over)' if t.escalations else ''}"
            for t in done
        ),
    )
    warn(warning)
    return 0


@command(commands, "due", "what is due from a case manager, by date, with what to do")
@click.option("--manager", type=STAFF_ID, help="staff id (default: you)")
@click.option("--within", type=Count(0, 366), default=7, metavar="DAYS", help="default: 7")
@JSON
def due(manager: str | None, within: int, as_json: bool) -> int:
    from casework import services

    today = datetime.now(UTC).date()  # the sweeps' day, whose breaches the list comes before
    whose = manager or signed_in()
    items = services.cases.due(whose, within, today)
    emit(
        [i.as_dict(today) for i in items],
        as_json,
        lambda: (
            "\n".join(
                f"{i.due_on}{' OVERDUE' if i.overdue(today) else '        '}  {i.case_number}  "
                f"{i.what:<16} {i.subject:<22} {i.action}"
                for i in items
            )
            or f"nothing due from {whose} in the next {within} days"
        ),
    )
    return 0


@command(commands, "doc", "render a case document")
@click.argument("case_number")
@click.argument("kind", type=Choice(DOCUMENT_KINDS))
@click.argument("reference", required=False)
@click.option("--notice", type=Count(1, 9999), metavar="N", help="the notice (hearing-request)")
@click.option("--from", "period_from", type=Day(), metavar="DATE")
@click.option("--to", "period_to", type=Day(), metavar="DATE")
@click.option(
    "--format",
    "fmt",
    type=Choice(["md", "html", "pdf"]),
    help="md, html or pdf (default: pdf for a hearing-request letter, which is printed and "
    "signed; md for the rest)",
)
@click.option(
    "--out", type=click.Path(path_type=Path), help="where to write it (default: the data dir)"
)
@click.option("--force", is_flag=True, help="replace an existing --out file")
def doc(
    case_number: str,
    kind: str,
    reference: str | None,
    notice: int | None,
    period_from: date | None,
    period_to: date | None,
    fmt: str | None,
    out: Path | None,
    force: bool,
) -> int:
    from casework.services.documents import default_format, produce

    if kind in REFERENCED and not reference:
        raise CliError(f"reference: {REFERENCED[kind]}")
    if kind not in REFERENCED and reference:
        raise CliError(f"reference: only a referral letter or a consent form takes one, not {kind}")
    if (kind == HEARING_REQUEST) != (notice is not None):
        raise CliError(
            f"--notice: a {HEARING_REQUEST} letter needs the notice (--notice N)"
            if notice is None
            else f"--notice: only a {HEARING_REQUEST} letter takes one, not {kind}"
        )
    period = None
    if kind == "notes":
        if not (period_from and period_to):
            raise CliError("--from/--to: a notes summary needs both dates")
        period = (period_from, period_to)
    rendered = produce(
        case_number,
        kind,
        fmt or default_format(kind),
        signed_in(),
        reference=reference if notice is None else str(notice),
        period=period,
        out=out,
        force=force,
    )
    print(f"{rendered.path} (sha256 {rendered.sha256[:12]}…)")
    return 0
