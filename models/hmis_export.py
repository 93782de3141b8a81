"""The HMIS CSV export's rows, read from the case store (HMIS CSV Format Specifications
FY2026, `models/hmis_data/csv_fy2026.json`): one enrollment per person per case of a
HUD-funded program that overlaps the export's period, the head of household being the
case's client and the other members its household's members who stayed in it meanwhile.

What each file holds:
- Export, Organization (the agency), User (the staff ids the rows name), Project and Funder
  (each HUD-funded program, from its `hmis` table in the programs file);
- Client (identity: names, SSN, date of birth, race and ethnicity, sex, veteran status):
  only when the exporter reads identity;
- Enrollment and Exit: entry and exit dates, household and relationship, prior living
  situation, disabling condition, destination;
- IncomeBenefits: at project start and exit, for heads and adult members;
- Disabilities and HealthAndDV (identity: health conditions, domestic violence): only when
  the exporter reads identity;
- EmploymentEducation, Services, CurrentLivingSituation, Assessment, Event: Casework
  collects none of these (they belong to RHY, PATH, SSVF, HOPWA and coordinated-entry
  projects), so they are written with their header only.

The head's answers are those of the case's intake details (start), monitoring reviews
(update, annual assessment) and closure (exit) forms; another member's at start are those
recorded for them (`casework intake-details CASE --member CLIENT-…`), and a member who
left when the case closed went where the head went. Anything not asked is "Data not
collected" (99), as HMIS records it. The rows carry each person's `adult_at_start`
beside them (`Rows.adult`) for the APR's counts (models.apr); it is not a CSV column."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, null, or_, select
from sqlalchemy.orm import Session

from casework.models import hmis
from casework.models.cases import case_number_for
from casework.models.clients import client_number_for
from casework.models.codes import HouseholdRelationship, Program, Stage
from casework.models.orm import (
    Case,
    Client,
    Household,
    HouseholdMember,
    IntakeDetails,
    MemberAnswers,
    Narrative,
    StageEvent,
)
from casework.models.programs import HmisProject, programs
from casework.models.stage_questions import FIELD

IDENTITY_FILES = ("Client", "Disabilities", "HealthAndDV")
NOT_COLLECTED_FILES = (
    "EmploymentEducation",
    "Services",
    "CurrentLivingSituation",
    "Assessment",
    "Event",
)
ENTRY, UPDATE, EXIT, ANNUAL = 1, 2, 3, 5  # HMIS 5.03.1 DataCollectionStage
ANNUAL_WITHIN = timedelta(days=30)
# The files a monitoring review's answers go to, as an update or the annual assessment.
AGAIN_IN = (
    "IncomeBenefits",
    "Disabilities",
    "HealthAndDV",
)  # of an anniversary of the start: the annual assessment
ORGANIZATION_ID = "1"
# An ID number written as a Social Security number is one; any other ID is not.
SSN = re.compile(r"\d{3}-?\d{2}-?\d{4}")


@dataclass
class Rows:
    """An export's rows, file by file (column -> value), in the specification's order."""

    export_id: str
    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # EnrollmentID -> whether the person was 18 or over at its start (None: unknown)
    adult: dict[str, bool | None] = field(default_factory=dict)
    cases: set[int] = field(default_factory=set)  # the cases the rows come from

    def add(self, file: str, row: dict[str, Any]) -> None:
        self.files.setdefault(file, []).append(row)


@dataclass
class _Export:
    """An export being made: its rows, the stamp every row carries, its period's last day,
    and whether identity-bearing files are made."""

    rows: Rows
    stamp: dict[str, Any]
    end: date
    identity: bool


@dataclass(frozen=True)
class _Person:
    enrollment_id: str
    client_id: int
    relationship: HouseholdRelationship
    entry: date
    exit: date | None
    adult: bool | None
    head: bool


def hud_programs(program: Program | None = None) -> dict[Program, HmisProject]:
    """The HUD-funded programs (those with an `hmis` table), or the one asked for."""
    found = {p: c.hmis for p, c in programs().items() if c.hmis is not None}
    if program is not None:
        return {program: found[program]} if program in found else {}
    return found


def collect(
    session: Session,
    *,
    start: date,
    end: date,
    projects: dict[Program, HmisProject],
    seen: ColumnElement[bool],
    identity: bool,
    exported_at: datetime,
    agency: str,
    implementation: str,
) -> Rows:
    """The rows of an export of `projects` from `start` to `end` (both days included), of
    the cases `seen` lets the exporter read; identity-bearing files only when `identity`."""
    export_id = exported_at.strftime("%Y%m%d%H%M%S")
    rows = Rows(export_id)
    stamp = {"DateCreated": exported_at, "DateUpdated": exported_at, "ExportID": export_id}
    made = _Export(rows, stamp, end, identity)
    _describe(made, start, projects, agency, implementation)
    users = {"casework"}
    cases = list(
        session.scalars(
            select(Case)
            .where(Case.program.in_([p.value for p in projects]), overlapping(start, end), seen)
            .order_by(Case.id)
        )
    )
    case_ids = [c.id for c in cases]
    answered = {
        **_answers(session, IntakeDetails, case_ids, identity),
        **_answers(session, MemberAnswers, case_ids, identity),
    }
    reviews = _reviews(session, case_ids, identity)
    members = _members(session, [c.household_id for c in cases if c.household_id is not None])
    people: dict[int, date] = {}  # client -> their latest entry (whose answers Client gives)
    client_answers: dict[int, dict[str, Any]] = {}
    for case in cases:
        project = projects[Program(case.program)]
        household = case.case_number or case_number_for(case.id)
        if case.household_id is not None:
            household = members.numbers.get(case.household_id, household)
        users.add(case.case_manager)
        for person in _people(case, members.stays.get(case.household_id or 0, []), start, end):
            rows.cases.add(case.id)
            head = reviews.get(case.id, _Reviews())
            answers_in = answered.get((case.id, None if person.head else person.client_id), {})
            if person.head:
                asked = head
            else:  # a member leaving with the case, its destination
                # a household moves in together, or (joining later) as it joins; a member
                # who left before the move did not move in
                moved_in = head.moved_in and max(head.moved_in, person.entry)
                if moved_in and person.exit is not None and moved_in > person.exit:
                    moved_in = None
                asked = _Reviews(exit=_with_the_case(case, person, head.exit), moved_in=moved_in)
            _enrolled(made, person, project, household, case.case_manager, answers_in, asked)
            if person.entry >= people.get(person.client_id, date.min):
                people[person.client_id] = person.entry
                client_answers[person.client_id] = answers_in
    if identity:
        for client in _clients(session, people):
            rows.add("Client", _client(client, client_answers[client.id], stamp))
    for user_id in sorted(users):
        rows.add("User", {"UserID": user_id, **stamp})
    return rows


def _describe(
    made: _Export,
    start: date,
    projects: dict[Program, HmisProject],
    agency: str,
    implementation: str,
) -> None:
    """The Export, Organization, Project and Funder rows: the export and what it covers."""
    rows, stamp, end, export_id = made.rows, made.stamp, made.end, made.rows.export_id
    rows.add(
        "Export",
        {
            "ExportID": export_id,
            "SourceType": 2,  # 1.9: a standalone, agency-specific application
            "SourceName": agency[:50],
            "ExportDate": stamp["DateCreated"],
            "ExportStartDate": start,
            "ExportEndDate": end,
            "SoftwareName": "Casework",
            "SoftwareVersion": _version(),
            "CSVVersion": hmis.csv_version(),
            "ExportPeriodType": 3,  # 1.1: reporting period
            "ExportDirective": 2,  # 1.2: full refresh
            "HashStatus": 1,  # 1.5: unhashed
            "ImplementationID": implementation,
        },
    )
    rows.add(
        "Organization",
        {
            "OrganizationID": ORGANIZATION_ID,
            "OrganizationName": agency,
            "VictimServiceProvider": int(any(p.victim_service_provider for p in projects.values())),
            "UserID": "casework",
            **stamp,
        },
    )
    for program, project in projects.items():
        rows.add(
            "Project",
            {
                "ProjectID": project.project_id,
                "OrganizationID": ORGANIZATION_ID,
                "ProjectName": programs()[program].title,
                "OperatingStartDate": project.operating_start,
                "ContinuumProject": int(project.continuum_project),
                "ProjectType": project.project_type,
                "UserID": "casework",
                **stamp,
            },
        )
        rows.add(
            "Funder",
            {
                "FunderID": project.project_id,
                "ProjectID": project.project_id,
                "Funder": project.funder,
                "GrantID": project.grant_id,
                "StartDate": project.operating_start,
                "UserID": "casework",
                **stamp,
            },
        )


def _enrolled(
    made: _Export,
    person: _Person,
    project: HmisProject,
    household: str,
    manager: str,
    answers_in: dict[str, Any],
    reviews: _Reviews,
) -> None:
    """One person's enrollment: its Enrollment and Exit rows, and what was asked at its
    start, its monitoring reviews and its exit (IncomeBenefits; Disabilities and HealthAndDV
    with identity)."""
    rows, stamp, end = made.rows, made.stamp, made.end
    rows.adult[person.enrollment_id] = person.adult
    personal = client_number_for(person.client_id)
    keys = {
        "EnrollmentID": person.enrollment_id,
        "PersonalID": personal,
    }
    user = {"UserID": manager, **stamp}
    rows.add(
        "Enrollment",
        {
            **keys,
            "ProjectID": project.project_id,
            "EntryDate": person.entry,
            "HouseholdID": household,
            "RelationshipToHoH": hmis.number("RelationshipToHoH", person.relationship),
            "EnrollmentCoC": project.coc_code if person.head else None,
            "LivingSituation": _coded(answers_in, "hmis_prior_living_situation"),
            "LengthOfStay": _coded(answers_in, "hmis_length_of_stay"),
            "DateToStreetESSH": _day(answers_in.get("hmis_date_to_street")),
            "TimesHomelessPastThreeYears": _coded(answers_in, "hmis_times_homeless"),
            "MonthsHomelessPastThreeYears": _coded(answers_in, "hmis_months_homeless"),
            "DisablingCondition": _coded(answers_in, "hmis_disabling_condition"),
            "MoveInDate": reviews.moved_in,
            **user,
        },
    )
    exited = person.exit is not None and person.exit <= end
    if exited:
        rows.add(
            "Exit",
            {
                "ExitID": person.enrollment_id,
                **keys,
                "ExitDate": person.exit,
                "Destination": _coded(reviews.exit, "hmis_destination"),
                **user,
            },
        )
    last = min(person.exit, end) if person.exit is not None else end
    stages: list[tuple[str, int, date, dict[str, Any]]] = [
        (f"{person.enrollment_id}-{ENTRY}", ENTRY, person.entry, answers_in)
    ]
    for number, (on, given) in enumerate(reviews.updates, start=1):
        # A review that answered none of these questions collected nothing to report here.
        answered = any(given.get(element) is not None for element in ASKED_AGAIN)
        if answered and person.entry <= on <= last:
            stage = ANNUAL if _anniversary(person.entry, on) else UPDATE
            stages.append((f"{person.enrollment_id}-{stage}-{number}", stage, on, given))
    if person.exit is not None and exited:
        stages.append((f"{person.enrollment_id}-{EXIT}", EXIT, person.exit, reviews.exit))
    for suffix, stage, on, given in stages:
        _asked(made, person, keys, (suffix, stage, on), given, user)


def _asked(
    made: _Export,
    person: _Person,
    keys: dict[str, Any],
    when: tuple[str, int, date],
    given: dict[str, Any],
    user: dict[str, Any],
) -> None:
    """The IncomeBenefits, Disabilities and HealthAndDV rows of one collection stage."""
    rows, identity = made.rows, made.identity
    suffix, stage, on = when
    if person.head or person.adult is not False:
        rows.add(
            "IncomeBenefits",
            {"IncomeBenefitsID": suffix, **keys} | _income(given, on, stage, user),
        )
    if not identity:
        return
    for element in hmis.elements():
        if element.file == "Disabilities" and stage in _stages(element):
            kind = int(element.column)
            rows.add(
                "Disabilities",
                {
                    "DisabilitiesID": f"{suffix}-{kind}",
                    **keys,
                    "InformationDate": on,
                    "DisabilityType": kind,
                    "DisabilityResponse": _coded(given, element.id),
                    "DataCollectionStage": stage,
                    **user,
                },
            )
    if person.head or person.adult is not False:
        rows.add(
            "HealthAndDV",
            {
                "HealthAndDVID": suffix,
                **keys,
                "InformationDate": on,
                "DomesticViolenceSurvivor": _coded(given, "hmis_dv_survivor"),
                "WhenOccurred": _coded(given, "hmis_dv_when_occurred"),
                "CurrentlyFleeing": _coded(given, "hmis_dv_currently_fleeing"),
                "DataCollectionStage": stage,
                **user,
            },
        )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("casework")
    except PackageNotFoundError:
        return "unknown"


ASKED_AGAIN = tuple(e.id for e in hmis.elements() if e.file in AGAIN_IN and "update" in e.at)


def _stages(element: hmis.Element) -> set[int]:
    """The collection stages `element` is asked at (an update's: an update or annual)."""
    found = {"start": {ENTRY}, "update": {UPDATE, ANNUAL}, "exit": {EXIT}}
    return {stage for at in element.at for stage in found[at]}


def _anniversary(entry: date, on: date) -> bool:
    """Whether `on` falls within 30 days of an anniversary of `entry` (not the start)."""
    years = round((on - entry).days / 365.25)
    if years < 1:
        return False
    try:
        anniversary = entry.replace(year=entry.year + years)
    except ValueError:  # a start on 29 February
        anniversary = entry.replace(year=entry.year + years, day=28)
    return abs(on - anniversary) <= ANNUAL_WITHIN


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None


def _coded(given: dict[str, Any], element: str) -> int:
    """HUD's number of the answer to `element`; 99 (Data not collected) when none."""
    found = hmis.chosen(given.get(element))
    return hmis.NOT_COLLECTED if found is None else found


def _income(given: dict[str, Any], on: date, stage: int, user: dict[str, Any]) -> dict[str, Any]:
    """What an IncomeBenefits row says, but its keys."""
    amount = given.get("hmis_total_monthly_income")
    return {
        "InformationDate": on,
        "IncomeFromAnySource": _coded(given, "hmis_income_from_any_source"),
        "TotalMonthlyIncome": None if amount is None else f"{amount:.2f}",
        "BenefitsFromAnySource": _coded(given, "hmis_benefits_from_any_source"),
        "InsuranceFromAnySource": _coded(given, "hmis_insurance_from_any_source"),
        "DataCollectionStage": stage,
        **user,
    }


def _client(client: Client, given: dict[str, Any], stamp: dict[str, Any]) -> dict[str, Any]:
    id_number = (client.id_number or "").strip()
    ssn = id_number.replace("-", "") if SSN.fullmatch(id_number) else None
    races = {
        element.column: 1 if given.get(element.id) is True else 0
        for element in hmis.elements()
        if element.type == "yes_no" and element.file == "Client"
    }
    none_given = not any(races.values())
    return {
        "PersonalID": client_number_for(client.id),
        "FirstName": client.given_name[:50],
        "LastName": client.family_name[:50],
        # Unanswered: intake takes a full name and date of birth; an SSN is full or absent.
        "NameDataQuality": _quality(given, "hmis_name_data_quality", 1),
        "SSN": ssn,
        "SSNDataQuality": _quality(given, "hmis_ssn_data_quality", 1 if ssn else None),
        "DOB": client.date_of_birth,
        "DOBDataQuality": _quality(given, "hmis_dob_data_quality", 1),
        "Sex": _coded(given, "hmis_sex"),
        **races,
        "RaceNone": _coded(given, "hmis_race_none") if none_given else None,
        "VeteranStatus": _coded(given, "hmis_veteran_status"),
        "UserID": "casework",
        **stamp,
    }


def _quality(given: dict[str, Any], element: str, unanswered: int | None) -> int:
    """A data-quality answer's number; when none was given, `unanswered` (or 99)."""
    found = hmis.chosen(given.get(element))
    if found is not None:
        return found
    return hmis.NOT_COLLECTED if unanswered is None else unanswered


def _people(case: Case, stays: list[HouseholdMember], start: date, end: date) -> Iterable[_Person]:
    """The enrollments of `case` overlapping the period: its client's (the head), then each
    other member's stay in its household while the case was open."""
    opened = case.opened_at.date()
    closed = case.closed_at.date() if case.closed_at is not None else None
    number = case.case_number or case_number_for(case.id)
    if closed is None or closed >= start:
        yield _Person(
            number,
            case.client_id,
            HouseholdRelationship.HEAD,
            opened,
            closed,
            case.adult_at_start,
            True,
        )
    for stay in stays:
        if stay.client_id == case.client_id:
            continue
        entry = max(stay.joined_on, opened)
        ends = [d for d in (stay.left_on, closed) if d is not None]
        exit_on = min(ends) if ends else None
        if entry > end or (exit_on is not None and (exit_on < start or exit_on < entry)):
            continue
        yield _Person(
            f"{number}-M{stay.id}",
            stay.client_id,
            HouseholdRelationship(stay.relationship),
            entry,
            exit_on,
            stay.adult_at_start,
            False,
        )


@dataclass
class _Households:
    numbers: dict[int, str]
    stays: dict[int, list[HouseholdMember]]


def _members(session: Session, household_ids: list[int]) -> _Households:
    found = _Households({}, {})
    for chunk in _chunks(sorted(set(household_ids))):
        for household_id, number in session.execute(
            select(Household.id, Household.household_number).where(Household.id.in_(chunk))
        ):
            found.numbers[household_id] = number
        for stay in session.scalars(
            select(HouseholdMember)
            .where(HouseholdMember.household_id.in_(chunk))
            .order_by(HouseholdMember.id)
        ):
            found.stays.setdefault(stay.household_id, []).append(stay)
    return found


def _with_the_case(case: Case, person: _Person, exit_answers: dict[str, Any]) -> dict[str, Any]:
    """A member who left when the case closed went where its client went (the closure
    form asks the head); one who left before, nowhere recorded."""
    closed = case.closed_at.date() if case.closed_at is not None else None
    if closed is None or person.exit != closed or "hmis_destination" not in exit_answers:
        return {}
    return {"hmis_destination": exit_answers["hmis_destination"]}


def _answers(
    session: Session,
    table: type[IntakeDetails] | type[MemberAnswers],
    case_ids: list[int],
    identity: bool,
) -> dict[tuple[int, int | None], dict[str, Any]]:
    """The answers kept in `table` (the case's client's intake details, or its household
    members'), by (case, member; None for the client): coded, and those bearing identity
    if `identity`."""
    member = table.client_id if table is MemberAnswers else null()
    columns = [table.case_id, member, table.coded]
    if identity:
        columns.append(table.identity)
    found: dict[tuple[int, int | None], dict[str, Any]] = {}
    for chunk in _chunks(case_ids):
        for row in session.execute(select(*columns).where(table.case_id.in_(chunk))):
            found[(row[0], row[1])] = {**row[2], **(row[3] if identity else {})}
    return found


@dataclass
class _Reviews:
    """What a case's monitoring reviews (each: its day and answers) and closure asked."""

    updates: list[tuple[date, dict[str, Any]]] = field(default_factory=list)
    exit: dict[str, Any] = field(default_factory=dict)
    moved_in: date | None = None  # HMIS 3.20, as the first review that gave one said it


def _reviews(session: Session, case_ids: list[int], identity: bool) -> dict[int, _Reviews]:
    """Each case's monitoring reviews and its closure (its latest episode's), with their
    answers: coded, and those bearing identity if `identity`."""
    found: dict[int, _Reviews] = {}
    answers: dict[tuple[int, int, str], dict[str, Any]] = {}
    for chunk in _chunks(case_ids):
        for event in session.scalars(
            select(StageEvent)
            .where(
                StageEvent.case_id.in_(chunk),
                StageEvent.from_stage.in_([Stage.MONITORING.value, Stage.CLOSURE.value]),
                StageEvent.outcome == "moved",
            )
            .order_by(StageEvent.at, StageEvent.id)
        ):
            given = dict(event.answers or {})
            answers[(event.case_id, event.episode, event.stage_key)] = given
            reviews = found.setdefault(event.case_id, _Reviews())
            if event.from_stage == Stage.CLOSURE.value:
                reviews.exit = given
            else:
                reviews.updates.append((event.at.date(), given))
                reviews.moved_in = reviews.moved_in or _day(given.get("hmis_move_in_date"))
        if identity:
            for case_id, episode, key, kept in session.execute(
                select(
                    Narrative.case_id, Narrative.episode, Narrative.stage_key, Narrative.answers
                ).where(Narrative.case_id.in_(chunk), Narrative.answers.is_not(None))
            ):
                if (case_id, episode, key) in answers:  # the same dict the review holds
                    answers[(case_id, episode, key)].update((kept or {}).get(FIELD, {}))
    return found


def _clients(session: Session, people: dict[int, date]) -> list[Client]:
    found: list[Client] = []
    for chunk in _chunks(sorted(people)):
        found.extend(session.scalars(select(Client).where(Client.id.in_(chunk))))
    return sorted(found, key=lambda c: c.id)


def _chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    for at in range(0, len(ids), size):
        yield ids[at : at + size]


def overlapping(start: date, end: date) -> ColumnElement[bool]:
    """Cases open at some time from `start` to `end`."""
    since = datetime.combine(start, time(), UTC)
    until = datetime.combine(end + timedelta(days=1), time(), UTC)
    return and_(Case.opened_at < until, or_(Case.closed_at.is_(None), Case.closed_at >= since))
