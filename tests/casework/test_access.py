"""Who may read and write what, on PostgreSQL: each staff member signs in as a database role
of their own (`casework staff add`), and the store's grants and row-level policies decide.
One test per role: what it may do, one read it may not do and one write it may not do, each
refused with one line."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine, func, select, text, true
from sqlalchemy.exc import DBAPIError, IntegrityError

from casework.cli import main
from casework.core.db import AccessDenied, engine_for, make_engine, migrate, session_scope
from casework.core.settings import get_settings
from casework.models import cases, exports, households, stage_events
from casework.models.clients import create_client, identity_of
from casework.models.codes import HouseholdRelationship, NeedsDomain, Program, Stage
from casework.models.orm import (
    AccessEntry,
    Approval,
    Attachment,
    AuditEvent,
    Case,
    ChangeLog,
    Client,
    Consent,
    Contact,
    ContactConsent,
    Escalation,
    Message,
    Narrative,
    StageEvent,
)
from casework.models.schemas import ClientIn
from casework.models.staff import membership_problems
from tests import factories
from tests.conftest import PG_URL, environment, pg_url

pytestmark = pytest.mark.skipif(PG_URL is None, reason="CASEWORK_TEST_DATABASE_URL is not set")
TAG = str(os.getpid())


@dataclass
class Store:
    schema: str
    owner: Engine
    housing: str  # a housing case of our case manager
    others: str  # a housing case of another case manager
    geriatric: str  # a case of a program none of our staff works but the operator's

    def url(self, role: str | None = None) -> str:
        return pg_url(self.schema, role)


STAFF = {
    "case_manager": (f"cm.r{TAG}", "housing"),
    "supervisor": (f"sup.r{TAG}", "housing"),
    "program_manager": (f"pm.r{TAG}", "housing"),
    "operator": (f"op.r{TAG}", "housing,geriatric"),
    "admin": (f"adm.r{TAG}", "housing"),
}


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    assert PG_URL is not None
    schema = f"casework_access_{TAG}"
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    found = Store(schema, admin, "", "", "")
    owner = make_engine(found.url())
    migrate(owner)
    with session_scope(owner) as session:
        numbers = []
        for program, manager in (
            (Program.HOUSING, STAFF["case_manager"][0]),
            (Program.HOUSING, "cm.rivera"),
            (Program.GERIATRIC, "cm.park"),
        ):
            case = factories.new_case(session, program)
            case.case_manager = manager
            numbers.append(case.case_number or "")
    found.housing, found.others, found.geriatric = numbers
    found.owner = owner
    for role, (staff_id, programs) in STAFF.items():  # as the store's owner adds them
        assert (
            cli(found, None, "staff", "add", staff_id, "--role", role, "--programs", programs)[0]
            == 0
        )
    yield found
    get_settings.cache_clear()
    owner.dispose()
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        for staff_id, _ in STAFF.values():
            connection.execute(text(f'DROP OWNED BY "{staff_id}"'))
            connection.execute(text(f'DROP ROLE "{staff_id}"'))
    admin.dispose()


def cli(
    store: Store, role: str | None, *argv: str, actor: str | None = None
) -> tuple[int, str, str]:
    """One `casework` command, signed in to the store as `role`'s staff member (`actor`: the
    CASEWORK_ACTOR it declares). The session's environment is as it was afterwards: the
    session's `casework up` may start later, and must find its own store."""
    url = store.url(STAFF[role][0] if role else None)
    out, err = io.StringIO(), io.StringIO()
    with environment(CASEWORK_DATABASE_URL=url, CASEWORK_ACTOR=actor):
        engine_for.cache_clear()  # each command signs in anew, as its own process would
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(argv))
                code = 0
            except SystemExit as exit_info:
                code = int(exit_info.code or 0)
    return code, out.getvalue(), err.getvalue()


def refused(store: Store, role: str, expected: str, *argv: str, actor: str | None = None) -> None:
    code, out, err = cli(store, role, *argv, actor=actor)
    assert code == 1, (out, err)
    assert err.count("\n") == 1, err
    assert expected in err, err


def last_audit(store: Store, action: str) -> AuditEvent:
    """The store's newest audit row of `action`, as its owner reads it."""
    with session_scope(store.owner) as session:
        row = session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id.desc())
        ).first()
        assert row is not None, f"no {action} audit row"
        return row


def note(case_number: str) -> list[str]:
    return ["note", case_number, "--type", "phone", "--text", "Called the landlord"]


def notes_on(store: Store, case_number: str) -> list[tuple[str, str]]:
    with session_scope(store.owner) as session:
        case = session.scalars(select(Case).where(Case.case_number == case_number)).one()
        rows = session.scalars(select(Contact).where(Contact.case_id == case.id))
        return [(row.author, row.text) for row in rows]


def test_a_case_manager_works_their_own_cases_only(store: Store) -> None:
    me = STAFF["case_manager"][0]
    code, out, err = cli(store, "case_manager", "show", store.housing)
    assert code == 0, err
    assert store.housing in out
    assert cli(store, "case_manager", *note(store.housing))[0] == 0
    assert (me, "Called the landlord") in notes_on(store, store.housing)
    # Another case manager's case: not there for them, to read or to write.
    refused(store, "case_manager", f"no case {store.others}", "show", store.others)
    refused(store, "case_manager", f"no case {store.others}", *note(store.others))
    assert notes_on(store, store.others) == []
    # The audit trail and the access log name who signed in, whatever they declare.
    refused(
        store,
        "case_manager",
        "CASEWORK_ACTOR: sup.housing is not who you are",
        *note(store.housing),
        actor="sup.housing",
    )
    role_engine = make_engine(store.url(me))
    with role_engine.begin() as connection:
        case_id = connection.execute(
            text("SELECT id FROM cases WHERE case_number = :n"), {"n": store.housing}
        ).scalar()
        connection.execute(
            text(
                "INSERT INTO audit_events (case_id, actor, action, detail, at, created, updated)"
                " VALUES (:c, 'sup.housing', 'forged', '{}', now(), now(), now())"
            ),
            {"c": case_id},
        )
    role_engine.dispose()
    with session_scope(store.owner) as session:
        forged = session.scalars(select(AuditEvent).where(AuditEvent.action == "forged")).one()
        assert forged.actor == me
    code, out, _ = cli(store, "admin", "access-log", "--case", store.housing)
    assert code == 0
    assert f"{me}" in out
    assert "show" in out


def test_a_supervisor_handles_the_cases_of_their_programs(store: Store) -> None:
    assert cli(store, "supervisor", "show", store.others)[0] == 0
    assert cli(store, "supervisor", *note(store.others))[0] == 0
    refused(store, "supervisor", f"no case {store.geriatric}", "show", store.geriatric)
    refused(store, "supervisor", f"no case {store.geriatric}", *note(store.geriatric))


def test_the_caseload_and_its_count_are_only_what_the_role_may_read(store: Store) -> None:
    """`casework cases` pages by a count of the cases: as each role, the count, the rows and
    the pages are the cases that role may read, never the store's."""
    me = STAFF["case_manager"][0]
    with session_scope(store.owner) as session:
        housing = set(session.scalars(select(Case.case_number).where(Case.program == "housing")))
        mine = set(session.scalars(select(Case.case_number).where(Case.case_manager == me)))
        everyone = session.scalar(select(func.count(Case.id)))
    assert everyone > len(housing) > len(mine) >= 1
    for role, numbers in (("case_manager", mine), ("supervisor", housing)):
        engine = make_engine(store.url(STAFF[role][0]))
        try:
            with session_scope(engine, read_only=True) as session:
                assert cases.count_cases(session) == len(numbers), role
                assert {case.case_number for case in cases.list_cases(session)} == numbers, role
        finally:
            engine.dispose()
        code, out, err = cli(store, role, "cases", "--json")
        assert code == 0, err
        assert {row["case_number"] for row in json.loads(out)} == numbers, role
    code, _, err = cli(store, "case_manager", "cases", "--page", "2")
    assert code == 2
    assert "2 is past the last page (1)" in err


def test_a_program_manager_reads_the_report_never_identity_or_narrative(
    store: Store, tmp_path: Path
) -> None:
    code, out, err = cli(store, "program_manager", "report", "--json")
    assert code == 0, err
    assert "housing" in out
    printed = tmp_path / "report.pdf"
    code, _, err = cli(store, "program_manager", "report", "--pdf", str(printed))
    assert code == 0, err
    assert f"PDF report written to {printed}" in err
    pages = PdfReader(printed).pages
    assert "Caseload report" in pages[0].extract_text()
    assert f"Page 1 of {len(pages)}" in pages[0].extract_text()
    denied = "permission denied for table"
    refused(store, "program_manager", f"{denied} narratives", "show", store.housing)
    refused(store, "program_manager", denied, *note(store.housing))  # the case's clock first
    authors = {author for author, _ in notes_on(store, store.housing)}
    assert STAFF["program_manager"][0] not in authors


def test_an_operator_sees_every_case_coded_but_no_narrative(store: Store) -> None:
    code, out, err = cli(store, "operator", "cases", "--json")
    assert code == 0, err
    assert store.geriatric in out
    assert store.others in out
    refused(store, "operator", "permission denied for table narratives", "show", store.geriatric)
    refused(store, "operator", "permission denied for table contacts", *note(store.geriatric))


def test_an_admin_adds_staff_and_reads_the_logs_but_no_client(store: Store) -> None:
    extra = f"cm.x{TAG}"
    STAFF["extra"] = (extra, "housing")
    try:
        code, out, err = cli(
            store, "admin", "staff", "add", extra, "--role", "case_manager", "--programs", "housing"
        )
        assert code == 0, err
        assert cli(store, "extra", "cases")[0] == 0  # signs in as their own role
        code, _, err = cli(  # added again, with another program: the admin may
            store,
            "admin",
            "staff",
            "add",
            extra,
            "--role",
            "case_manager",
            "--programs",
            "housing,geriatric",
        )
        assert code == 0, err
        # Someone who has left: their role can no longer sign in.
        code, out, err = cli(store, "admin", "staff", "deactivate", extra)
        assert code == 0, err
        refused(store, "extra", f'role "{extra}" is not permitted to log in', "cases")
        code, out, _ = cli(store, "admin", "staff", "list")
        assert f"{extra}" in out
        assert "(inactive)" in out
    finally:
        del STAFF["extra"]
        with store.owner.begin() as connection:
            connection.execute(text(f'DROP OWNED BY "{extra}"'))
            connection.execute(text(f'DROP ROLE IF EXISTS "{extra}"'))
    assert cli(store, "admin", "access-log")[0] == 0
    refused(store, "admin", "permission denied for table narratives", "show", store.housing)
    refused(store, "admin", "permission denied for table", *note(store.housing))
    assert all(author != STAFF["admin"][0] for author, _ in notes_on(store, store.housing))
    # Only an admin adds staff: a case manager may not make roles.
    refused(
        store,
        "case_manager",
        "permission denied",
        "staff",
        "add",
        f"cm.y{TAG}",
        "--role",
        "case_manager",
        "--programs",
        "housing",
    )


@pytest.mark.prefect
def test_an_operator_and_the_service_role_sweep_every_program(store: Store, stack: str) -> None:
    """The stalled-case sweep, run here as the operator and then as the flows' service role
    (a database role in casework_service): both read and write every program's cases."""
    as_of = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    code, out, err = cli(store, "operator", "sweep", "--case", store.geriatric, "--as-of", as_of)
    assert code == 0, err
    service = f"svc.r{TAG}"
    with store.owner.begin() as connection:
        connection.execute(text(f'CREATE ROLE "{service}" LOGIN IN ROLE casework_service'))
    STAFF["service"] = (service, "")
    try:
        code, out, err = cli(store, "service", "sweep", "--case", store.others, "--as-of", as_of)
        assert code == 0, err
        code, out, err = cli(store, "service", "show", store.others)  # what a flow reads
        assert code == 0, err
    finally:
        del STAFF["service"]
        with store.owner.begin() as connection:
            connection.execute(text(f'DROP OWNED BY "{service}"'))
            connection.execute(text(f'DROP ROLE "{service}"'))
    with session_scope(store.owner) as session:
        swept = session.scalars(
            select(Escalation.case_number).where(
                Escalation.case_number.in_([store.geriatric, store.others])
            )
        ).all()
    assert sorted(set(swept)) == sorted([store.geriatric, store.others])


@contextlib.contextmanager
def signed_in_as(store: Store, role: str) -> Iterator[None]:
    """This process's store sessions signed in as `role`'s staff member, for calls the CLI
    makes after asking Prefect (intake's store half)."""
    saved = os.environ.get("CASEWORK_DATABASE_URL")
    os.environ["CASEWORK_DATABASE_URL"] = store.url(STAFF[role][0])
    get_settings.cache_clear()
    engine_for.cache_clear()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("CASEWORK_DATABASE_URL", None)
        else:
            os.environ["CASEWORK_DATABASE_URL"] = saved
        get_settings.cache_clear()
        engine_for.cache_clear()


def test_intake_finds_a_person_registered_in_a_program_it_cannot_read(store: Store) -> None:
    """Duplicate detection sees the whole register; what it hands back is numbers and
    scores, and the other program's case stays a number."""
    from casework import services
    from casework.models.clients import LikelyDuplicate
    from casework.models.schemas import ClientIn

    with session_scope(store.owner) as session:
        case = session.scalars(select(Case).where(Case.case_number == store.geriatric)).one()
        them = ClientIn.model_validate(case.client, from_attributes=True)
        number = case.client.client_number
    me = STAFF["case_manager"][0]
    with signed_in_as(store, "case_manager"):
        with pytest.raises(LikelyDuplicate, match=f"registered as {number} \\(score 100\\)"):
            services.cases.open_case(them, Program.HOUSING, me, me)
        position, linked = services.cases.open_case(number or "", Program.HOUSING, me, me)
    assert linked == number
    code, out, err = cli(store, "case_manager", "show", position.case_number, "--json")
    assert code == 0, err
    assert json.loads(out)["other_cases"] == [
        {
            "case_number": store.geriatric,
            "program": None,
            "stage": None,
            "status": "open",
            "open_escalations": None,
            "crisis": False,
        }
    ]
    # The whole-store scan is a supervisor's; a merge across programs they do not
    # supervise is refused.
    refused(store, "case_manager", "not a supervisor or admin", "duplicates")
    assert cli(store, "supervisor", "duplicates")[0] == 0


def test_a_supervisor_transfers_and_merges_within_their_programs_only(store: Store) -> None:
    sup, me = STAFF["supervisor"][0], STAFF["case_manager"][0]
    with session_scope(store.owner) as session:
        housing = factories.new_case(session, Program.HOUSING)
        housing.case_manager = "cm.rivera"
        geriatric = factories.new_case(session, Program.GERIATRIC)
        numbers = (housing.client.client_number or "", geriatric.client.client_number or "")
        moving = housing.case_number or ""
    code, out, err = cli(
        store, "supervisor", "transfer", moving, "--to", me, "--reason", "staff_left"
    )
    assert code == 0, err
    assert f"{moving}: cm.rivera -> {me}" in out
    row = last_audit(store, "case_transferred")
    assert (row.actor, row.detail["to_manager"]) == (sup, me)
    refused(  # not a case they can see at all
        store,
        "supervisor",
        f"no case {store.geriatric}",
        "transfer",
        store.geriatric,
        "--to",
        me,
        "--reason",
        "staff_left",
    )
    # The housing client merges into the geriatric one (its one case moves); the other
    # way round would move a case they do not supervise.
    refused(store, "supervisor", "cases in programs you do not supervise", "merge", *numbers)
    with session_scope(store.owner) as session:  # a consent to texts, and a message sent
        case = session.scalars(select(Case).where(Case.case_number == moving)).one()
        session.add(
            ContactConsent(
                client_id=case.client_id, channel="sms", given_on=date(2026, 11, 1), recorded_by=me
            )
        )
        session.add(
            Message(
                key=f"check_in:{case.id}",
                case_id=case.id,
                episode=1,
                client_id=case.client_id,
                kind="check_in",
                subject="x",
                channel="sms",
                language="en",
                status="sent",
                due_at=datetime.now(UTC),
                next_attempt_at=datetime.now(UTC),
            )
        )
    code, out, err = cli(store, "supervisor", "merge", numbers[1], numbers[0])
    assert code == 0, err
    assert f"{numbers[0]} merged into {numbers[1]}: 1 case(s) moved" in out
    with session_scope(store.owner) as session:  # they went with the client's case
        case = session.scalars(select(Case).where(Case.case_number == moving)).one()
        moved = [
            *session.scalars(
                select(ContactConsent.client_id).where(ContactConsent.recorded_by == me)
            ),
            *session.scalars(select(Message.client_id).where(Message.case_id == case.id)),
        ]
        assert moved == [case.client_id, case.client_id]


def as_role(store: Store, role: str, sql: str, **params: object) -> list[Any]:
    """Raw SQL, signed in as `role`'s staff member, committed: what a person with the
    database's address and their own password can do without any command of ours."""
    engine = make_engine(store.url(STAFF[role][0]))
    try:
        with engine.begin() as connection:
            result = connection.execute(text(sql), params)
            return list(result) if result.returns_rows else [result.rowcount]
    finally:
        engine.dispose()


def denied(store: Store, role: str, expected: str, sql: str, **params: object) -> None:
    with pytest.raises(DBAPIError, match=expected):
        as_role(store, role, sql, **params)


def test_the_register_cannot_be_read_by_guessing_keys(store: Store) -> None:
    """The duplicate check scores inside the database: whoever calls it learns client
    numbers and scores, never a stored identity, for one person's keys at a time; the
    program manager and the operator may not call it; every staff call is audited."""
    with session_scope(store.owner) as session:
        case = session.scalars(select(Case).where(Case.case_number == store.geriatric)).one()
        them = ClientIn.model_validate(case.client, from_attributes=True)
        number = case.client.client_number
    who = identity_of(them)
    keys = sorted(who.keys())
    call = "SELECT * FROM casework_match(:g, :f, :b, :p, :i, CAST(:s AS json), :k, :m)"
    person = {"g": who.given, "f": who.family, "b": who.born, "p": who.phone}
    person |= {"i": who.id_number, "s": json.dumps(who.sounds())}
    [row] = as_role(store, "case_manager", call, **person, k=keys, m=85)
    assert row._fields == ("client_id", "client_number", "score", "signals")
    assert (row.client_number, row.score) == (number, 100)
    assert last_audit(store, "duplicate_check").actor == STAFF["case_manager"][0]
    # Every birth-date key, sixteen at a time, as the program manager tried: refused.
    guesses = [f"d:{n:08d}" for n in range(17)]
    denied(
        store, "case_manager", "takes one person's keys, at most 16", call, **person, k=guesses, m=0
    )
    for role in ("program_manager", "operator"):
        denied(
            store,
            role,
            "permission denied for function casework_match",
            call,
            **person,
            k=keys[:1],
            m=0,
        )
    denied(store, "program_manager", "does not exist", "SELECT * FROM casework_match_rows(NULL)")
    # The whole-store scan: numbers and scores, for those who merge.
    denied(
        store,
        "case_manager",
        "permission denied for function",
        "SELECT * FROM casework_likely_pairs(0)",
    )
    rows = as_role(store, "supervisor", "SELECT * FROM casework_likely_pairs(0)")
    assert all(r._fields == ("first", "second", "score", "signals") for r in rows)
    assert last_audit(store, "duplicate_scan").actor == STAFF["supervisor"][0]


def test_a_client_with_no_case_is_seen_by_no_case_manager(store: Store) -> None:
    """A client whose intake never finished, and one merged away, keep their identity:
    no case manager sees or changes them, and only supervisors of the client a merged
    one went into see it. Before, `casework_sees_client` let every staff role read them."""
    with session_scope(store.owner) as session:
        orphan = create_client(session, factories.client_in())
        geriatric = factories.new_case(session, Program.GERIATRIC)
        merged = create_client(session, factories.client_in())
        merged.merged_into_id = geriatric.client_id
        session.add(
            Consent(
                client_id=orphan.id,
                provider="hope-housing",
                given_on=datetime.now(UTC).date(),
                recorded_by="x",
            )
        )
        numbers = (orphan.client_number, merged.client_number)
    read = "SELECT given_name, address FROM clients WHERE client_number = :n"
    for role in ("case_manager", "supervisor"):
        assert as_role(store, role, read, n=numbers[1]) == [], role  # merged into geriatric
    assert as_role(store, "case_manager", read, n=numbers[0]) == []
    assert as_role(
        store, "case_manager", "SELECT count(*) FROM consents WHERE provider = 'hope-housing'"
    ) == [(0,)]
    assert len(as_role(store, "supervisor", read, n=numbers[0])) == 1  # they run merges
    denied(
        store,
        "case_manager",
        "permission denied for table clients",
        "UPDATE clients SET address = 'pwned' WHERE client_number = :n",
        n=numbers[0],
    )
    with session_scope(store.owner) as session:
        assert (
            session.scalars(select(Client.address).where(Client.client_number == numbers[0])).one()
            != "pwned"
        )


def test_client_lookups_answer_for_the_callers_programs_and_are_audited(store: Store) -> None:
    """`casework_client` told any staff role whether a client had an open case in any
    program, unaudited: now only about a program the caller works in, every call written."""
    with session_scope(store.owner) as session:
        number = (
            session.scalars(select(Case).where(Case.case_number == store.geriatric))
            .one()
            .client.client_number
        )
    denied(
        store,
        "case_manager",
        "you do not work in geriatric",
        "SELECT * FROM casework_client(:n, 'geriatric')",
        n=number,
    )
    [row] = as_role(store, "case_manager", "SELECT * FROM casework_client(:n, 'housing')", n=number)
    assert row.open_case != store.geriatric  # its housing case, if it has one
    audit_row = last_audit(store, "client_looked_up")
    assert (audit_row.actor, audit_row.detail) == (
        STAFF["case_manager"][0],
        {"client": number, "program": "housing"},
    )


def test_every_change_to_a_case_is_written_down_by_the_database(store: Store) -> None:
    """Raw SQL leaves a change-log row naming who signed in and the columns changed; a
    staff role may update only the columns its commands write."""
    me = STAFF["case_manager"][0]
    assert as_role(
        store,
        "operator",
        "UPDATE cases SET case_manager = :m WHERE case_number = :n",
        m=me,
        n=store.geriatric,
    ) == [1]
    with session_scope(store.owner) as session:
        case_id = session.scalars(select(Case.id).where(Case.case_number == store.geriatric)).one()
        change = session.scalars(
            select(ChangeLog).where(ChangeLog.case_id == case_id).order_by(ChangeLog.id.desc())
        ).first()
        assert change is not None
        assert (change.actor, change.operation, change.columns) == (
            STAFF["operator"][0],
            "update",
            ["case_manager"],
        )
        session.get(Case, case_id).case_manager = "cm.park"  # as it was
    for column, value in (
        ("case_manager", "cm.rivera"),
        ("program", "geriatric"),
        ("case_number", "CASE-999999"),
        ("client_id", "1"),
    ):
        denied(
            store,
            "case_manager",
            "permission denied for table cases",
            f"UPDATE cases SET {column} = :v WHERE case_number = :n",
            v=int(value) if column == "client_id" else value,
            n=store.housing,
        )
    denied(
        store,
        "program_manager",
        "permission denied for table cases",
        "UPDATE cases SET stage = 'closure' WHERE case_number = :n",
        n=store.housing,
    )
    # Staff may write the change log only through the trigger, and may not read it.
    denied(
        store, "case_manager", "permission denied for table change_log", "SELECT * FROM change_log"
    )


def test_a_staff_member_in_the_service_role_is_reported(store: Store) -> None:
    """An admin may create roles, and so grant themselves the service role, which reads
    every client: `casework status` names the membership the roster does not explain."""
    admin = STAFF["admin"][0]
    as_role(store, "admin", f'GRANT casework_service TO "{admin}"')
    try:
        with session_scope(store.owner) as session:
            problems = membership_problems(session)
        assert any(
            p.startswith(f"role {admin}: a staff member in casework_service") for p in problems
        ), problems
    finally:
        with store.owner.begin() as connection:
            connection.execute(text(f'REVOKE casework_service FROM "{admin}"'))
    with session_scope(store.owner) as session:
        assert not [p for p in membership_problems(session) if admin in p]


def test_ten_simultaneous_intakes_of_one_person_make_one_client(store: Store) -> None:
    """Intake's duplicate check and its insert are one step per blocking key: ten intakes
    of the same person at the same moment register one client and refuse nine."""
    from casework import services
    from casework.models.clients import LikelyDuplicate

    person = factories.client_in()
    me = STAFF["case_manager"][0]
    start = threading.Barrier(10)
    outcomes: list[str] = []

    def intake() -> None:
        start.wait(timeout=60)
        try:
            position, _ = services.cases.open_case(person, Program.HOUSING, me, me)
            outcomes.append(position.case_number)
        except LikelyDuplicate:
            outcomes.append("refused")

    with signed_in_as(store, "case_manager"):
        threads = [threading.Thread(target=intake) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert sorted(outcomes).count("refused") == 9, outcomes
    with session_scope(store.owner) as session:
        same = session.scalars(
            select(Client.client_number).where(Client.given_name == person.given_name)
        ).all()
    assert len(same) == 1


def test_a_client_has_one_open_case_per_program_by_constraint(store: Store) -> None:
    with session_scope(store.owner) as session:
        client_id = session.scalars(
            select(Case.client_id).where(Case.case_number == store.housing)
        ).one()
    with pytest.raises(IntegrityError, match="uq_cases_one_open_per_client_program"):
        with session_scope(store.owner) as session:
            cases.open_case(
                session, client_id, Program.HOUSING, "cm.rivera", "x", datetime.now(UTC)
            )


def test_a_case_manager_keeps_a_narrative_through_hand_over(store: Store) -> None:
    """What `submit --narrative-file` does as the case manager on PostgreSQL: the text
    held under a key of its own, then the stage's own (it failed with `permission denied
    for table narratives`); and a case manager may delete no narrative but a held one."""
    from casework.models import contacts

    me = STAFF["case_manager"][0]
    with signed_in_as(store, "case_manager"), session_scope() as session:
        case = cases.get_case(session, store.housing)
        contacts.save_narrative(
            session, case, "assessment~abcd", "Met at the shelter", me, datetime.now(UTC)
        )
    with signed_in_as(store, "case_manager"), session_scope() as session:
        case = cases.get_case(session, store.housing)
        contacts.promote_narrative(session, case, "assessment~abcd", "assessment")
    with session_scope(store.owner) as session:
        kept = session.scalars(
            select(Narrative.stage_key).join(Case).where(Case.case_number == store.housing)
        ).all()
    assert kept == ["assessment"]
    assert as_role(store, "case_manager", "DELETE FROM narratives") == [0]


def test_answers_kept_outside_the_form_are_read_only_by_those_who_read_narratives(
    store: Store,
) -> None:
    """An assessment's items answered in words, handed over as the case manager: kept with
    the narrative, read back by them and their supervisor; another case manager's case's
    words are not theirs to read, and the roles that never read a client's words (program
    manager, operator, admin) cannot select any in raw SQL."""
    from casework.models import contacts

    words = {"housing_barriers": {"eviction_story": "Evicted when the building sold"}}
    me = STAFF["case_manager"][0]
    with signed_in_as(store, "case_manager"), session_scope() as session:
        case = cases.get_case(session, store.housing)
        held = "assessment-2~beef"
        contacts.save_narrative(session, case, held, "", me, datetime.now(UTC), words)
    with signed_in_as(store, "case_manager"), session_scope() as session:
        case = cases.get_case(session, store.housing)
        contacts.promote_narrative(session, case, held, "assessment-2")
        assert contacts.written_for(session, case, case.episode, "assessment-2") == words
        assert "e1:assessment-2" not in contacts.narratives_for(session, case)  # words only
    theirs = {"housing_barriers": {"eviction_story": "Another client's words"}}
    with session_scope(store.owner) as session:  # another case manager's case
        case = session.scalars(select(Case).where(Case.case_number == store.others)).one()
        contacts.save_narrative(session, case, "assessment-2", "", "x", datetime.now(UTC), theirs)
    read = "SELECT answers FROM narratives WHERE answers IS NOT NULL ORDER BY id"
    assert [row[0] for row in as_role(store, "case_manager", read)] == [words]
    assert [row[0] for row in as_role(store, "supervisor", read)] == [words, theirs]
    for role in ("program_manager", "operator", "admin"):
        denied(store, role, "permission denied for table narratives", read)
    # A program's coded questions are kept with the move, and read as the coded record is.
    with session_scope(store.owner) as session:
        case = session.scalars(select(Case).where(Case.case_number == store.housing)).one()
        session.add(
            StageEvent(
                case_id=case.id,
                episode=case.episode,
                stage_key="closure-9",
                from_stage="closure",
                trigger="complete",
                outcome="moved",
                actor="x",
                at=datetime.now(UTC),
                answers={"destination": "with_family"},
            )
        )
    coded = "SELECT answers FROM stage_events WHERE answers IS NOT NULL"
    for role in ("case_manager", "supervisor", "program_manager", "operator", "admin"):
        assert [row[0] for row in as_role(store, role, coded)] == [
            {"destination": "with_family"}
        ], role


def test_notices_follow_the_cases_rules(store: Store) -> None:
    """A case manager records a notice on their own case; their supervisor records the
    hearing request; the program manager sees it counted in the report and can neither
    record one nor print the letter (it carries the client's name and address)."""
    from tests.casework.test_transfers import prefect_away

    today = datetime.now(UTC).date()
    notice = [
        "notice",
        store.housing,
        "--benefit",
        "snap",
        "--action",
        "reduce",
        "--notice-date",
        str(today),
        "--effective",
        str(today + timedelta(days=14)),
    ]
    with prefect_away():  # this store is not the session stack's: no sweep is started
        recertify = str(today + timedelta(days=90))
        benefit = ["benefit", store.housing, "--kind", "snap", "--recertify-by", recertify]
        assert cli(store, "case_manager", *benefit)[0] == 0
        code, out, err = cli(store, "case_manager", *notice)
        assert code == 0, err
        assert "notice 1 recorded" in out
        assert "the next scheduled benefits watch follows it up" in err
        refused(
            store,
            "case_manager",
            f"no case {store.others}",
            *[*notice[:1], store.others, *notice[2:]],
        )
        code, out, err = cli(
            store,
            "supervisor",
            "hearing",
            store.housing,
            "--notice",
            "1",
            "--requested-on",
            str(today),
        )
        assert code == 0, err
        assert "(aid continuing)" in out
        refused(store, "program_manager", "permission denied", *notice)
        refused(
            store,
            "program_manager",
            "permission denied for table",
            "doc",
            store.housing,
            "hearing-request",
            "--notice",
            "1",
        )
    code, out, err = cli(store, "program_manager", "report", "--json")
    assert code == 0, err
    [row] = [r for r in json.loads(out)["notices"] if r["program"] == "housing"]
    assert (row["notices"], row["hearing_pending"], row["requested_in_time"]) == (1, 1, 1)
    assert last_audit(store, "hearing_requested").actor == STAFF["supervisor"][0]


def test_an_assessment_reads_back_under_its_version_for_those_who_see_the_case(
    store: Store,
) -> None:
    """Each instrument version's declaration is kept in `instrument_versions`: every staff
    role reads it (a case's assessment is labelled from it), and no staff role may change
    what a past assessment reads back under; operators (as `deploy` does) and the service
    role add a version, nobody rewrites one."""
    from casework.models.assessments import record_assessment

    with session_scope(store.owner) as session:
        case = session.scalars(select(Case).where(Case.case_number == store.housing)).one()
        form = factories.assessment(housing=2)
        record_assessment(session, case, "assessment-90", form, factories.now())
    code, out, err = cli(store, "case_manager", "show", store.housing)
    assert code == 0, err
    assert "self_sufficiency_matrix v1: risk medium; lowest=2" in out
    for role in STAFF:
        [(kept,)] = as_role(store, role, "SELECT count(*) FROM instrument_versions")
        assert kept >= 1, role
    for role in STAFF:
        denied(
            store,
            role,
            "permission denied for table instrument_versions",
            "UPDATE instrument_versions SET fingerprint = 'rewritten'",
        )
    for role in ("case_manager", "supervisor", "program_manager", "admin"):
        denied(
            store,
            role,
            "permission denied for table instrument_versions",
            "INSERT INTO instrument_versions (instrument, version, fingerprint, declaration, "
            "first_used, created, updated) VALUES ('x', 1, 'x', '{}', now(), now(), now())",
        )


def test_intake_details_bearing_identity_are_read_only_by_those_who_read_identity(
    store: Store,
) -> None:
    """A program's own intake fields: the coded answers are read like the rest of the case's
    coded record (a program manager, an operator, an admin), those bearing identity only
    by case managers and supervisors, each only for the cases they see; raw SQL too."""
    from casework.models import intake_fields
    from casework.models.intake_fields import IntakeField

    fields = [
        IntakeField(id="household_size", label="People", type="number", identity=False),
        IntakeField(id="last_landlord", label="Last landlord", type="text", identity=True),
    ]
    form = intake_fields.intake_form(tuple(fields))
    with session_scope(store.owner) as session:
        for number in (store.housing, store.others):
            case = session.scalars(select(Case).where(Case.case_number == number)).one()
            given = form.model_validate({"household_size": 2, "last_landlord": "Mr Example"})
            intake_fields.record(session, case, given, fields, "cm.rivera")
    coded = "SELECT coded FROM intake_details"
    identity = "SELECT identity FROM intake_details"
    assert len(as_role(store, "case_manager", identity)) == 1  # their own case's only
    assert len(as_role(store, "supervisor", identity)) == 2
    for role in ("program_manager", "operator", "admin"):
        assert len(as_role(store, role, coded)) == 2, role
        denied(store, role, "permission denied for table intake_details", identity)
        denied(
            store,
            role,
            "permission denied for table intake_details",
            "UPDATE intake_details SET coded = '{}'",
        )


def test_appointments_are_booked_by_the_cases_staff_and_counted_by_the_others(
    store: Store,
) -> None:
    """A case manager books on their own case and records what became of it; never on
    another's. Whom the client sees and where bear identity: the program manager, the
    operator and the admin read an appointment's kind, time and outcome (to count them),
    never those, and none of them books one; raw SQL too."""
    book = ["--at", "2031-01-06 10:00", "--kind", "medical", "--with", "Dr Alvarez"]
    code, out, err = cli(store, "case_manager", "appointment", store.housing, *book)
    assert code == 0, err
    number = out.split(":")[0]
    refused(store, "case_manager", f"no case {store.others}", "appointment", store.others, *book)
    refused(store, "program_manager", "permission denied", "appointment", store.housing, *book)
    code, out, err = cli(store, "case_manager", "appointment", number, "--cancelled")
    assert (code, out.strip()) == (0, f"{number}: cancelled"), err
    assert as_role(store, "supervisor", "SELECT with_whom FROM appointments") == [("Dr Alvarez",)]
    for role in ("program_manager", "operator", "admin"):
        assert as_role(store, role, "SELECT kind, status FROM appointments") == [
            ("medical", "cancelled")
        ], role
        denied(store, role, "permission denied", "SELECT with_whom FROM appointments")
        denied(store, role, "permission denied", "SELECT place FROM appointments")


def test_messaging_consent_is_recorded_by_the_cases_staff_and_read_coded_by_the_others(
    store: Store,
) -> None:
    """A case manager records their client's email and consent to texts, on their own case
    only; the client's addresses bear identity: the program manager, the operator and the
    admin read consents and messages (coded) but never an address, and record nothing; no
    staff role writes a message row (the sweep does, as the service); raw SQL too."""
    code, out, err = cli(
        store,
        "case_manager",
        "messaging",
        store.housing,
        "--email",
        "ana@example.org",
        "--allow",
        "sms",
        "--on",
        "2026-11-02",
    )
    assert (code, out.strip()) == (
        0,
        f"{store.housing}: email recorded; consent to sms messages from 2026-11-02",
    ), err
    refused(
        store,
        "case_manager",
        f"no case {store.others}",
        "messaging",
        store.others,
        "--allow",
        "sms",
    )
    refused(
        store,
        "program_manager",
        "permission denied",
        "messaging",
        store.housing,
        "--withdraw",
        "sms",
    )
    code, out, err = cli(store, "case_manager", "messaging", store.housing)
    assert code == 0, err
    assert "consent to sms: given 2026-11-02" in out
    assert "by: " in out
    code, out, err = cli(store, "program_manager", "messaging", store.housing)
    assert code == 0, err
    assert "consent to sms: given 2026-11-02" in out
    assert "by: " not in out
    assert as_role(store, "case_manager", "SELECT email FROM clients WHERE email IS NOT NULL") == [
        ("ana@example.org",)
    ]
    for role in ("program_manager", "operator", "admin"):
        assert as_role(
            store, role, "SELECT channel FROM contact_consents WHERE given_on = '2026-11-02'"
        ) == [("sms",)], role
        denied(store, role, "permission denied", "SELECT email FROM clients")
        denied(store, role, "permission denied", "UPDATE contact_consents SET withdrawn_by = 'x'")
    for role in ("case_manager", "supervisor", "program_manager"):
        denied(
            store,
            role,
            "permission denied",
            "INSERT INTO messages (key, case_id, episode, client_id, kind, subject, channel, "
            "language, status, due_at, next_attempt_at, attempts, created, updated) "
            "SELECT 'k', id, 1, client_id, 'check_in', 'x', 'sms', 'en', 'pending', now(), "
            "now(), 0, now(), now() FROM cases",
        )
    # The consent of another case manager's client is not there to be read.
    assert as_role(
        store, "case_manager", "SELECT count(*) FROM contact_consents WHERE given_on = '2026-11-02'"
    ) == [(1,)]
    with session_scope(store.owner) as session:
        other = session.scalars(select(Case).where(Case.case_number == store.others)).one()
        session.add(
            ContactConsent(
                client_id=other.client_id,
                channel="email",
                given_on=date(2026, 11, 2),
                recorded_by="x",
            )
        )
    assert as_role(
        store, "case_manager", "SELECT channel FROM contact_consents WHERE given_on = '2026-11-02'"
    ) == [("sms",)]
    assert as_role(
        store, "supervisor", "SELECT count(*) FROM contact_consents WHERE given_on = '2026-11-02'"
    ) == [(2,)]


def test_exports_hold_what_each_role_reads_and_identity_only_for_those_who_read_it(
    store: Store,
) -> None:
    def exported(role: str, *argv: str) -> tuple[dict[str, dict[str, str]], str]:
        code, out, err = cli(store, role, "export", *argv)
        assert code == 0, err
        return {row["case_number"]: row for row in csv.DictReader(io.StringIO(out))}, err

    me = STAFF["case_manager"][0]
    mine, err = exported("case_manager", "cases", "--identity")
    assert store.housing in mine
    assert not {store.others, store.geriatric} & set(mine)
    assert {row["case_manager"] for row in mine.values()} == {me}
    assert mine[store.housing]["family_name"]
    assert f"{len(mine)} case(s) in the access log" in err
    with session_scope(store.owner) as session:
        logged = session.scalars(
            select(AccessEntry.staff)
            .join(Case, Case.id == AccessEntry.case_id)
            .where(AccessEntry.what == "export:cases", Case.case_number == store.housing)
        ).all()
        assert set(logged) == {me}

    seen, _ = exported("supervisor", "cases")
    assert {store.housing, store.others} <= set(seen)
    assert store.geriatric not in seen

    coded, _ = exported("program_manager", "cases", "--with-labels")
    assert {store.housing, store.others} <= set(coded)
    assert store.geriatric not in coded
    row = coded[store.housing]
    assert "client_number" not in row
    assert "family_name" not in row
    assert row["program_label"] == "Housing"
    refused(
        store,
        "program_manager",
        "--identity: a program manager does not read clients' identity",
        "export",
        "cases",
        "--identity",
    )
    everything, _ = exported("operator", "cases")
    assert {store.housing, store.others, store.geriatric} <= set(everything)

    # The store refuses it too: the program manager's own role running the export's query
    # with identity, and a case manager's role asking for every case, get nothing more.
    shown = exports.layout("cases", client_number=True, identity=True, labels=False)
    engine = make_engine(store.url(STAFF["program_manager"][0]))
    try:
        with pytest.raises(AccessDenied, match="permission denied for table clients"):
            with session_scope(engine, read_only=True) as session:
                list(exports.rows(session, "cases", shown, true()))
    finally:
        engine.dispose()
    engine = make_engine(store.url(me))
    try:
        with session_scope(engine, read_only=True) as session:
            raw = {cells[0] for _, cells in exports.rows(session, "cases", shown, true())}
        assert raw == set(mine)
    finally:
        engine.dispose()


def test_a_household_is_seen_through_its_case_and_its_caseless_members_by_no_one_else(
    store: Store, tmp_path: Path
) -> None:
    """A child registered as a member has no case of their own: their case manager and the
    program's supervisor see them through the household's case; a program manager sees
    their number and relationship, never their name; and a household of a case the viewer
    does not see is not there for them at all, whether asked by command or by raw SQL."""
    family = factories.unique_word("Household")
    child = tmp_path / "child.json"
    child.write_text(
        json.dumps(
            {
                "given_name": "Ana",
                "family_name": family,
                "date_of_birth": "2015-06-02",
                "contact_preference": "phone",
            }
        )
    )
    code, out, err = cli(
        store, "case_manager", "household", store.housing, "--add", f"child={child}"
    )
    assert code == 0, err
    assert f"Ana {family}, born 2015-06-02: Head of household's child" in out
    number = err.split("added ")[1].split()[0]
    code, out, err = cli(store, "supervisor", "household", store.housing)
    assert code == 0, err
    assert f"{number} Ana {family}" in out
    code, out, err = cli(store, "program_manager", "household", store.housing)
    assert code == 0, err
    assert f"  {number}: Head of household's child" in out
    assert family not in out
    pm = make_engine(store.url(STAFF["program_manager"][0]))
    try:
        with pm.connect() as connection, pytest.raises(DBAPIError, match="permission denied"):
            connection.execute(text("SELECT family_name FROM clients"))
    finally:
        pm.dispose()

    # The geriatric case, which none of them works, with a caseless member of its own.
    with session_scope(store.owner) as session:
        geriatric = cases.get_case(session, store.geriatric)
        kid = create_client(session, factories.client_in())
        stay = households.add_member(
            session,
            geriatric,
            kid,
            HouseholdRelationship.CHILD,
            "cm.park",
            datetime.now(UTC),
            date.today(),
        )
        kid_id, household_id = kid.id, stay.household_id
    for role in ("case_manager", "supervisor", "program_manager"):
        engine = make_engine(store.url(STAFF[role][0]))
        try:
            with engine.connect() as connection:
                for query in (
                    "SELECT count(*) FROM household_members WHERE household_id = :h",
                    "SELECT count(*) FROM households WHERE id = :h",
                ):
                    assert connection.execute(text(query), {"h": household_id}).scalar() == 0
                if role != "program_manager":
                    seen = "SELECT count(*) FROM clients WHERE id = :k"
                    assert connection.execute(text(seen), {"k": kid_id}).scalar() == 0, role
        finally:
            engine.dispose()
    refused(store, "case_manager", f"no case {store.geriatric}", "household", store.geriatric)


def test_the_hmis_export_gives_identity_files_only_to_those_who_read_identity(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every role may export HUD's HMIS files of the cases it sees; only those who read
    identity get the Client, Disabilities and HealthAndDV files; every case in the access
    log; and a program manager's own role asking the store for identity gets nothing."""
    from casework.models import hmis_export
    from casework.models.programs import programs

    monkeypatch.setenv("CASEWORK_AGENCY_NAME", "Riverside Family Services")
    today = date.today().isoformat()

    def exported(role: str) -> tuple[dict[str, list[dict[str, str]]], str]:
        dest = tmp_path / f"{role}.zip"
        code, _, err = cli(store, role, "export", "hmis-csv", "--from", today, "--to", today,
                           str(dest))  # fmt: skip
        assert code == 0, err
        with zipfile.ZipFile(dest) as archive:
            return {
                n.removesuffix(".csv"): list(csv.DictReader(io.StringIO(archive.read(n).decode())))
                for n in archive.namelist()
            }, err

    def enrolled(files: dict[str, list[dict[str, str]]]) -> set[str]:
        return {row["EnrollmentID"] for row in files["Enrollment"]}

    mine, _ = exported("case_manager")
    assert store.housing in enrolled(mine)
    assert store.others not in enrolled(mine)
    assert store.geriatric not in enrolled(mine)  # not HUD-funded, nor theirs
    assert {row["PersonalID"] for row in mine["Client"]} == {
        row["PersonalID"] for row in mine["Enrollment"]
    }
    assert all(row["FirstName"] for row in mine["Client"])

    supervised, _ = exported("supervisor")
    assert {store.housing, store.others} <= enrolled(supervised)
    assert "Client" in supervised

    coded, err = exported("program_manager")
    assert {store.housing, store.others} <= enrolled(coded)
    assert not {"Client", "Disabilities", "HealthAndDV"} & set(coded)
    assert "not written: Client, HealthAndDV, Disabilities" in err
    assert "IncomeBenefits" in coded

    with session_scope(store.owner) as session:
        logged = set(
            session.execute(
                select(AccessEntry.staff, AccessEntry.what, Case.case_number)
                .join(Case, Case.id == AccessEntry.case_id)
                .where(AccessEntry.what.like("export:hmis-csv%"))
            ).all()
        )
    staff = {role: STAFF[role][0] for role in STAFF}
    assert (staff["case_manager"], "export:hmis-csv-identity", store.housing) in logged
    assert (staff["program_manager"], "export:hmis-csv", store.others) in logged
    assert not {row for row in logged if row[2] == store.geriatric}

    # The program manager counts the APR without identity: the adults among them too.
    code, out, err = cli(store, "program_manager", "apr", "--from", today, "--to", today,
                         "--json")  # fmt: skip
    assert code == 0, err
    [total] = [
        r
        for r in json.loads(out)["sections"]["persons served by household type"]
        if r["household_type"] == "total"
    ]
    assert total["persons"] >= 2
    assert total["unknown_age"] == 0

    # Their own role asking the store for the identity-bearing rows is refused by it.
    projects = {p: c.hmis for p, c in programs().items() if c.hmis is not None}
    engine = make_engine(store.url(staff["program_manager"]))
    try:
        with pytest.raises(AccessDenied, match="permission denied"):
            with session_scope(engine, read_only=True) as session:
                hmis_export.collect(
                    session, start=date.today(), end=date.today(), projects=projects,
                    seen=true(), identity=True, exported_at=datetime.now(UTC),
                    agency="x", implementation="x",
                )  # fmt: skip
    finally:
        engine.dispose()


def test_a_members_hmis_answers_are_the_case_managers_to_record_and_identity_stays_theirs(
    store: Store, tmp_path: Path
) -> None:
    """A household member's answers to HMIS's start questions: recorded by the case's case
    manager as themselves; their identity-bearing answers not in reach of a program
    manager's role, even by raw SQL; the coded ones are."""
    person = factories.client_in()
    child = tmp_path / "child.json"
    child.write_text(json.dumps(person.model_dump(mode="json")))
    code, _, err = cli(store, "case_manager", "household", store.housing, "--add", f"child={child}")
    assert code == 0, err
    code, out, err = cli(store, "case_manager", "household", store.housing, "--json")
    assert code == 0, err
    [member] = [
        s["client_number"] for s in json.loads(out)["stays"] if s["given_name"] == person.given_name
    ]
    answers = tmp_path / "answers.json"
    answers.write_text(
        json.dumps({"hmis_race_white": True, "hmis_prior_living_situation": "hud_116"})
    )
    argv = ("intake-details", store.housing, "--member", member, "--file", str(answers))
    code, out, err = cli(store, "case_manager", *argv)
    assert code == 0, err
    refused(store, "program_manager", "permission denied", *argv)
    rows = as_role(store, "program_manager", "SELECT coded FROM member_answers")
    assert {"hmis_prior_living_situation": "hud_116"} in [row[0] for row in rows]
    with pytest.raises(DBAPIError, match="permission denied"):
        as_role(store, "program_manager", "SELECT identity FROM member_answers")
    assert as_role(store, "supervisor", "SELECT count(*) FROM member_answers")[0][0] >= 1


def test_only_the_programs_supervisor_decides_on_a_held_form_and_the_reason_stays_theirs(
    store: Store,
) -> None:
    """A plan held for approval: the case manager, the program manager and the operator may
    not decide on it (command and raw SQL); the program's supervisor returns it with a
    reason, which the case manager reads and the program manager cannot."""
    from casework.models import approvals

    with session_scope(store.owner) as session:
        for number in (store.housing, store.others):
            case = session.scalars(select(Case).where(Case.case_number == number)).one()
            factories.walk_to(session, case, Stage.PLAN, factories.now())
            stage_events.record_stage(
                session, number, case.episode, case.stage_key,
                factories.plan(NeedsDomain.HOUSING), "cm.tester", factories.now(),
            )  # fmt: skip
            assert approvals.pending(session, case) is not None
    for role in ("case_manager", "program_manager", "operator"):
        code, _, err = cli(store, role, "approve", store.housing)
        assert code == 1, (role, err)
        assert err.count("\n") == 1, err
    refused(store, "supervisor", f"no case {store.geriatric}", "approve", store.geriatric)
    sup = STAFF["supervisor"][0]
    code, _, err = cli(store, "supervisor", "return", store.housing, "--reason", "Dates, please")
    assert code == 0, err
    with session_scope(store.owner) as session:
        case = session.scalars(select(Case).where(Case.case_number == store.housing)).one()
        back = session.scalars(select(Approval).where(Approval.case_id == case.id)).one()
        assert (back.status, back.decided_by, back.reason) == ("returned", sup, "Dates, please")
    assert last_audit(store, "form_returned").actor == sup
    reason = "SELECT reason FROM approvals WHERE reason IS NOT NULL"
    assert as_role(store, "case_manager", reason) == [("Dates, please",)]
    assert len(as_role(store, "program_manager", "SELECT status FROM approvals")) == 2
    for role in ("program_manager", "operator", "admin"):
        denied(store, role, "permission denied for table approvals", reason)
    denied(
        store,
        "case_manager",
        "permission denied for table approvals",
        "UPDATE approvals SET status = 'approved'",
    )
    denied(
        store,
        "supervisor",
        "permission denied for table approvals",
        "UPDATE approvals SET form = '{}'",
    )


def test_attachments_are_the_case_workers_to_add_and_open_and_sealed_in_the_store(
    store: Store, tmp_path: Path
) -> None:
    """On PostgreSQL: the case manager attaches and opens a file of their own case (and
    not of another's); the supervisor opens it; the program manager, the operator and the
    admin read its kind and size, never its content, name or note (command and raw SQL);
    the bytes in the store are sealed."""
    from tests.casework.test_attachments import SECRET, pdf

    given = tmp_path / "lease.pdf"
    given.write_bytes(pdf())
    code, out, err = cli(store, "case_manager", "attach", store.housing, str(given),
                         "--kind", "income_proof", "--note", "Signed lease")  # fmt: skip
    assert code == 0, err
    number = out.split()[1]
    assert number.startswith("ATT-")
    refused(store, "case_manager", f"no case {store.others}", "attach", store.others,
            str(given), "--kind", "other")  # fmt: skip
    for role in ("case_manager", "supervisor"):
        opened = tmp_path / f"{role}.pdf"
        code, _, err = cli(store, role, "attachment", store.housing, number, "--out", str(opened))
        assert code == 0, (role, err)
        assert opened.read_bytes() == pdf()
    for role in ("program_manager", "operator", "admin"):
        code, _, err = cli(store, role, "attachments", store.housing)
        assert code == 1, (role, err)
        assert "case managers and supervisors" in err
        assert as_role(store, role, "SELECT kind, size FROM attachments") == [
            ("income_proof", len(pdf()))
        ]
        for column in ("content", "file_name", "note"):
            denied(store, role, "permission denied for table attachments",
                   f"SELECT {column} FROM attachments")  # fmt: skip
    assert as_role(store, "case_manager", "SELECT note FROM attachments") == [("Signed lease",)]
    denied(store, "case_manager", "permission denied for table attachments",
           "UPDATE attachments SET kind = 'other'")  # fmt: skip
    with session_scope(store.owner) as session:
        sealed = session.scalars(select(Attachment.content)).one()
    assert SECRET not in sealed
    assert pdf() not in sealed
    # And on disk: the table's files (and its TOAST table's), once the server has written
    # them, hold no byte of the file as given. Read where this machine's PostgreSQL keeps
    # its data, when this user may read there (root on the CI machine).
    with store.owner.connect() as connection:
        connection.execute(text("CHECKPOINT"))
        folder = Path(connection.scalar(text("SHOW data_directory")))
        files = connection.execute(
            text(
                "SELECT pg_relation_filepath(c.oid) FROM pg_class c WHERE c.oid = "
                "'attachments'::regclass OR c.oid = (SELECT reltoastrelid FROM pg_class "
                "WHERE oid = 'attachments'::regclass)"
            )
        ).scalars()
        paths = [folder / name for name in files if name]
    if os.access(folder, os.R_OK):
        on_disk = b"".join(p.read_bytes() for p in paths if p.exists())
        assert len(on_disk) > 0
        assert SECRET not in on_disk
    kinds = [e.what for e in _access_entries(store, store.housing)]
    assert f"attachment:{number}" in kinds


def _access_entries(store: Store, case_number: str) -> list[AccessEntry]:
    with session_scope(store.owner) as session:
        case = session.scalars(select(Case).where(Case.case_number == case_number)).one()
        return list(session.scalars(select(AccessEntry).where(AccessEntry.case_id == case.id)))


def test_a_clients_own_copy_is_their_programs_supervisors_and_holds_every_row_they_read(
    store: Store, tmp_path: Path
) -> None:
    """On PostgreSQL as the roles: the housing supervisor's copy of a client with a housing
    case and a geriatric one has every row of the housing case (as many as the store's
    owner counts: no policy hides one silently) and who read it, through the store's
    function; the geriatric case is named, nothing of it given. The case manager, the
    program manager and the admin are refused; the access log's function gives a case
    manager nothing, and a supervisor nothing of another program."""
    from casework.models import client_record, contacts
    from casework.models.schemas import ContactIn

    sup = STAFF["supervisor"][0]
    with session_scope(store.owner) as session:
        case = factories.walk_to(session, factories.new_case(session), Stage.PLAN, factories.now())
        case.case_manager = STAFF["case_manager"][0]
        contacts.add_contact(
            session, case, ContactIn(text="Housing visit"), "cm.a", factories.now()
        )
        elsewhere = cases.open_case(
            session, case.client, Program.GERIATRIC, "cm.park", "cm.park", factories.now()
        )
        contacts.add_contact(
            session, elsewhere, ContactIn(text="Geriatric visit"), "cm.park", factories.now()
        )
        number, housing, geriatric = (
            case.client.client_number or "",
            case.case_number or "",
            elsewhere.case_number or "",
        )
        ids = (case.id, elsewhere.id)
    assert cli(store, "case_manager", "show", housing)[0] == 0  # a read, for the copy to list
    out = tmp_path / "copy.md"
    code, said, err = cli(store, "supervisor", "client-record", number, "--out", str(out))
    assert code == 0, err
    assert f"not in this copy: {geriatric} (another program)" in said  # not theirs to know
    copy = out.read_text()
    assert "Housing visit" in copy
    assert "Geriatric visit" not in copy
    assert geriatric in copy  # named, as another program's
    who_read = copy.split("Who read your cases")[-1]
    assert STAFF["case_manager"][0] in who_read
    assert "client\\_record" in who_read  # this copy's own making, first
    # Every row the owner counts for the housing case is in the supervisor's copy.
    engine = make_engine(store.url(sup))
    try:
        with session_scope(engine) as as_supervisor, session_scope(store.owner) as as_owner:
            record = client_record.gather(as_supervisor, number, {"housing"})
            client_ids = [as_owner.scalars(select(Client.id).where(
                Client.client_number == number)).one()]  # fmt: skip
            for table, (reach, _) in client_record.SECTIONS.items():
                query = client_record._rows_of(table, reach, [ids[0]], client_ids)
                held = as_owner.scalar(
                    select(func.count()).select_from(query.order_by(None).subquery())
                )
                given = next((s for s in record.sections if s.table == table), None)
                assert (len(given.rows) if given else 0) == held, table
    finally:
        engine.dispose()
    for role in ("case_manager", "program_manager", "admin"):
        refused(store, role, "a supervisor's work", "client-record", number, "--out",
                str(tmp_path / f"{role}.md"))  # fmt: skip
    accesses = "SELECT count(*) FROM casework_case_accesses(:cases)"
    assert as_role(store, "supervisor", accesses, cases=list(ids))[0][0] > 0
    assert as_role(store, "supervisor", accesses, cases=[ids[1]]) == [(0,)]
    assert as_role(store, "case_manager", accesses, cases=list(ids)) == [(0,)]
    denied(store, "supervisor", "permission denied for table access_log",
           "SELECT staff, what FROM access_log")  # fmt: skip


def test_retention_holds_and_decisions_are_a_supervisors_or_an_admins_in_their_programs(
    store: Store,
) -> None:
    """On PostgreSQL as the roles: the housing supervisor holds a housing client and
    approves a batch of housing records (the decision columns only); a batch touching
    another program is not theirs; a case manager and a program manager may do neither;
    the admin previews; holds are read by the case only."""
    from casework.models import record_retention

    with session_scope(store.owner) as session:
        mine = session.scalars(select(Case).where(Case.case_number == store.housing)).one()
        other = session.scalars(select(Case).where(Case.case_number == store.geriatric)).one()
        client_number = mine.client.client_number or ""
        batches = []
        for case in (mine, other):
            item = record_retention.Due(
                record_retention.RetentionScope.RECORDS, case.client_id, "", case.id,
                case.case_number, f"{case.program}.records_years=5", date(2026, 1, 1),
                (case.program,),
            )  # fmt: skip
            batch = record_retention.open_batch(
                session, [item], kind="schedule", as_of=factories.now(),
                requested_by="retention", at=factories.now(),
            )  # fmt: skip
            batches.append(batch.number or "")
        geriatric_hold = record_retention.place_hold(
            session, None, other, "audit", "adm.x", factories.now()
        ).number
    for role in ("case_manager", "program_manager"):
        refused(store, role, "a supervisor's work", "hold", client_number,
                "--reason", "litigation")  # fmt: skip
        refused(store, role, "a supervisor's work", "approve-retention", batches[0])
    code, out, err = cli(store, "supervisor", "hold", client_number, "--reason", "litigation")
    assert code == 0, err
    assert out.startswith("HOLD-")
    refused(store, "supervisor", "programs you do not supervise", "approve-retention", batches[1])
    code, out, err = cli(store, "supervisor", "approve-retention", batches[0])
    assert code == 0, err
    assert "approved: its run masks it when it next runs" in out
    with session_scope(store.owner) as session:
        decided = record_retention.batch(session, batches[0])
        assert (decided.status, decided.decided_by) == ("approved", STAFF["supervisor"][0])
    code, out, err = cli(store, "supervisor", "retention", "--as-of", "2030-01-01")
    assert code == 0, err
    assert store.geriatric not in out  # their programs' clients only
    refused(store, "admin", "permission denied for table clients", "retention")
    code, out, err = cli(store, "admin", "retention-batch", batches[1])  # coded: theirs to see
    assert code == 0, err
    assert store.geriatric in out
    denied(store, "supervisor", "permission denied for table retention_batches",
           "UPDATE retention_batches SET kind = 'erasure'")  # fmt: skip
    denied(store, "case_manager", "permission denied for table retention_batches",
           "UPDATE retention_batches SET status = 'approved'")  # fmt: skip
    seen = "SELECT number FROM legal_holds"
    assert (geriatric_hold,) not in as_role(store, "supervisor", seen)
    assert (geriatric_hold,) in as_role(store, "admin", seen)
    # A client with a case the supervisor cannot see (another program's) is not theirs to
    # erase or hold, though the store shows them only the housing case.
    with session_scope(store.owner) as session:
        both = factories.new_case(session, Program.HOUSING)
        both.case_manager = STAFF["case_manager"][0]
        both.status, both.closed_at = "closed", factories.now()
        cases.open_case(session, both.client, Program.GERIATRIC, "cm.park", "cm.park",
                        factories.now())  # fmt: skip
        spanning = both.client.client_number or ""
    refused(store, "supervisor", "programs you do not supervise", "erase", spanning,
            "--reason", "client_request")  # fmt: skip
    refused(store, "supervisor", "programs you do not supervise", "hold", spanning,
            "--reason", "audit")  # fmt: skip
