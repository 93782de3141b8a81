"""Retention in the store, on SQLite and PostgreSQL: a program's schedule previewed at
`as_of` dates, a batch approved and applied, a legal hold stopping it, masked identity no
longer in the store's file, the report unchanged, the masking in the audit trail and its
log; and every column that holds something about a client has its fate written down."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import JSON, LargeBinary, String, Text, select
from sqlalchemy.orm import Session

from casework.models import client_record, contacts, record_retention, report
from casework.models.base import Base
from casework.models.codes import BatchStatus, Program, RetentionScope, Stage
from casework.models.orm import AuditEvent, Case, Client, ClientKey, Contact, Narrative
from casework.models.programs import programs
from casework.models.schemas import ContactIn
from tests import factories
from tests.on_disk import bytes_on_disk

CLOSED = datetime(2018, 3, 1, 12, tzinfo=UTC)


def at(year: int, month: int = 6, day: int = 1) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


def test_every_column_about_a_client_is_masked_deleted_or_coded() -> None:
    """Text a column added later would hold is masked, or said to be coded: never kept
    by oversight."""
    tables = ["clients", *client_record.SECTIONS]
    deleted = {*record_retention.DELETED_WITH_RECORDS, *record_retention.DELETED_WITH_IDENTITY}
    unplaced = []
    for name in tables:
        if name in deleted:
            continue
        placed = (
            set(record_retention.RECORDS.get(name, {}))
            | set(record_retention.IDENTITY.get(name, {}))
            | record_retention.CODED.get(name, frozenset())
            | {record_retention.BORN.get(name, "")}
        )
        for column in Base.metadata.tables[name].columns:
            long_text = isinstance(column.type, String) and (column.type.length or 1000) > 40
            free = isinstance(column.type, (Text, JSON, LargeBinary)) or long_text
            if free and column.name not in placed:
                unplaced.append(f"{name}.{column.name}")
    assert unplaced == []


def _closed_case(session: Session, program: Program, family: str) -> Case:
    client = factories.client_in().model_copy(update={"family_name": family})
    case = factories.new_case(session, program, client)
    case.opened_at = CLOSED.replace(year=2017)
    factories.walk_to(session, case, Stage.CLOSURE, CLOSED)
    factories.move(session, case, factories.closure(program), CLOSED)
    contacts.add_contact(session, case, ContactIn(text=f"Visited {family} at home"), "cm.a", CLOSED)
    contacts.save_narrative(session, case, "closure-9", f"{family} is housed.", "cm.a", CLOSED)
    case.closed_at = CLOSED
    session.flush()
    return case


def test_a_programs_schedule_is_previewed_approved_and_applied(
    session: Session, tmp_path: Path
) -> None:
    configs = programs()
    housing = _closed_case(session, Program.HOUSING, "Zabrowskiqq")  # records 5, identity 7
    kept = _closed_case(session, Program.HEALTHCARE, "Keptforeverqq")  # no retention
    held = _closed_case(session, Program.HOUSING, "Heldbackqq")
    record_retention.place_hold(session, held.client, None, "litigation", "sup.housing", at(2019))
    before = asdict(report.build(session, at(2026), configs))

    assert record_retention.due(session, at(2022), configs) == []  # 4 years: nothing
    records = record_retention.due(session, at(2023, 3, 2), configs)
    assert [(d.scope, d.case_number, d.rule) for d in records] == [
        (RetentionScope.RECORDS, housing.case_number, "housing.records_years=5")
    ]
    assert records[0].since == date(2023, 3, 1)
    both = record_retention.due(session, at(2025, 3, 2), configs)
    assert [(d.scope, d.client_number) for d in both] == [
        (RetentionScope.RECORDS, housing.client.client_number),
        (RetentionScope.IDENTITY, housing.client.client_number),
    ]
    assert kept.client.client_number not in {d.client_number for d in both}
    assert held.client.client_number not in {d.client_number for d in both}

    batch = record_retention.open_batch(
        session, both, kind="schedule", as_of=at(2025, 3, 2), requested_by="retention",
        at=at(2025, 3, 2),
    )  # fmt: skip
    with pytest.raises(record_retention.RetentionError, match="is waiting, not approved"):
        record_retention.apply(session, batch, at(2025, 3, 2), tmp_path / "log")
    with pytest.raises(record_retention.RetentionError, match="programs you do not supervise"):
        record_retention.decide(session, batch.number or "", "sup.health", {"healthcare"},
                                True, None, at(2025, 3, 3))  # fmt: skip
    record_retention.decide(
        session, batch.number or "", "sup.housing", {"housing"}, True, None, at(2025, 3, 3)
    )
    log = tmp_path / "masking-log.jsonl"
    done = record_retention.apply(session, batch, at(2025, 3, 4), log)
    assert (done.records, done.identities, done.held) == (1, 1, 0)
    assert batch.status == BatchStatus.APPLIED.value
    session.flush()
    session.expire_all()

    client = session.get(Client, housing.client_id)
    assert client is not None
    assert (client.given_name, client.family_name) == ("(masked)", "(masked)")
    assert client.date_of_birth.month == client.date_of_birth.day == 1
    assert (client.id_number, client.address, client.phone, client.email) == (None,) * 4
    assert session.scalars(select(ClientKey).where(ClientKey.client_id == client.id)).all() == []
    notes = session.scalars(select(Contact.text).where(Contact.case_id == housing.id)).all()
    assert notes
    assert set(notes) == {"(masked)"}
    assert set(session.scalars(select(Narrative.text).where(Narrative.case_id == housing.id))) == {
        "(masked)"
    }
    # The others are as they were.
    for other in (kept, held):
        texts = session.scalars(select(Contact.text).where(Contact.case_id == other.id)).all()
        assert all("Visited" in t for t in texts)
    # Said in the audit trail: when, under which rule, which batch, who approved it.
    masked = session.scalars(
        select(AuditEvent).where(
            AuditEvent.case_id == housing.id,
            AuditEvent.action.in_(["records_masked", "identity_masked"]),
        )
    ).all()
    assert {(e.action, e.detail["rule"], e.detail["approved_by"]) for e in masked} == {
        ("records_masked", "housing.records_years=5", "sup.housing"),
        ("identity_masked", "housing.identity_years", "sup.housing"),
    }
    assert [line["client"] for line in record_retention.read_log(log)] == [
        housing.client.client_number
    ] * 2
    # The report reads coded history only: the same after as before.
    assert asdict(report.build(session, at(2026), configs)) == before
    # Nothing more is due; the hold, lifted, lets the held client come due.
    assert record_retention.due(session, at(2025, 3, 5), configs) == []
    [(hold, _, _)] = record_retention.standing_holds(session)
    record_retention.lift_hold(session, hold.number or "", "sup.housing", at(2025, 3, 5))
    assert {d.client_number for d in record_retention.due(session, at(2025, 3, 5), configs)} == {
        held.client.client_number
    }


def test_a_hold_placed_after_the_approval_stops_its_items(session: Session, tmp_path: Path) -> None:
    configs = programs()
    case = _closed_case(session, Program.HOUSING, "Latehold")
    items = record_retention.due(session, at(2026), configs)
    batch = record_retention.open_batch(
        session, items, kind="schedule", as_of=at(2026), requested_by="retention", at=at(2026)
    )
    record_retention.decide(session, batch.number or "", "adm.one", None, True, None, at(2026))
    record_retention.place_hold(session, None, case, "audit", "adm.one", at(2026))
    done = record_retention.apply(session, batch, at(2026), tmp_path / "log")
    assert (done.records, done.identities, done.held) == (0, 0, 2)
    assert session.get(Client, case.client_id).family_name == "Latehold"  # type: ignore[union-attr]


def test_erasure_is_refused_while_a_case_is_open_or_a_hold_stands(session: Session) -> None:
    open_case = factories.new_case(session)
    with pytest.raises(record_retention.RetentionError, match="has an open case"):
        record_retention.erasure(session, open_case.client, "client_request", date(2026, 1, 1))
    closed = _closed_case(session, Program.GERIATRIC, "Eraseme")
    record_retention.place_hold(session, closed.client, None, "appeal", "sup.x", at(2026))
    with pytest.raises(record_retention.RetentionError, match="legal hold stands"):
        record_retention.erasure(session, closed.client, "client_request", date(2026, 1, 1))
    [(hold, _, _)] = record_retention.standing_holds(session)
    record_retention.lift_hold(session, hold.number or "", "sup.x", at(2026))
    items = record_retention.erasure(session, closed.client, "client_request", date(2026, 1, 1))
    assert [(i.scope, i.rule) for i in items] == [
        (RetentionScope.RECORDS, "erasure.client_request"),
        (RetentionScope.IDENTITY, "erasure.client_request"),
    ]
    batch = record_retention.open_batch(
        session, items, kind="erasure", as_of=at(2026), requested_by="sup.x", at=at(2026),
        reason="client_request",
    )  # fmt: skip
    with pytest.raises(record_retention.RetentionError, match="another supervisor or an admin"):
        record_retention.decide(session, batch.number or "", "sup.x", None, True, None, at(2026))


def test_masked_identity_is_gone_from_the_store_file_and_comes_back_masked_from_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On SQLite, the file itself: the name is no longer in the store's bytes (nor its
    write-ahead log, nor a fresh backup) once masked; a copy of the store from before,
    masked again from the log, is masked too."""
    import shutil
    import sqlite3

    from casework.core.db import make_engine, migrate, session_scope

    path = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    name = "Qwertyfamilyname"
    with session_scope(engine) as session:
        case = _closed_case(session, Program.HOUSING, name)
        number = case.client.client_number
    engine.dispose()
    before = tmp_path / "before.db"
    shutil.copy(path, before)  # no other connection is open: a whole copy
    assert name.encode() in bytes_on_disk(path, Path(f"{path}-wal"))
    engine = make_engine(f"sqlite:///{path}")
    log = tmp_path / "masking-log.jsonl"
    with session_scope(engine) as session:
        items = record_retention.due(session, at(2026), programs())
        batch = record_retention.open_batch(
            session, items, kind="schedule", as_of=at(2026), requested_by="retention", at=at(2026)
        )
        record_retention.decide(session, batch.number or "", "adm.one", None, True, None, at(2026))
        record_retention.apply(session, batch, at(2026), log)
    engine.dispose()  # the last connection checkpoints the write-ahead log into the file
    assert name.encode() not in bytes_on_disk(path, Path(f"{path}-wal"))
    from casework.backup import _sqlite_copy

    fresh = tmp_path / "fresh-backup.db"
    _sqlite_copy(path, fresh)  # as `casework backup` copies the store
    assert name.encode() not in bytes_on_disk(fresh)

    # The store as it was before, restored: `casework reapply-masking` (what `up` runs at
    # its first start after a restore) masks it again from the log.
    from casework.cli import main
    from tests.conftest import environment

    with (
        environment(CASEWORK_DATABASE_URL=f"sqlite:///{before}", CASEWORK_MASKING_LOG=str(log)),
        pytest.raises(SystemExit) as exit_info,
    ):
        main(["reapply-masking"])
    assert exit_info.value.code == 0
    said = capsys.readouterr().out
    assert "masked again: 1 case(s)' records, 1 client(s)' identities" in said
    with sqlite3.connect(before) as raw:
        family = raw.execute(
            "SELECT family_name FROM clients WHERE client_number = ?", (number,)
        ).fetchone()
    assert family == ("(masked)",)


def test_a_household_members_identity_ends_with_the_households_cases(
    session: Session, tmp_path: Path
) -> None:
    """A member with no case of their own: their identity comes due when the case of the
    household they were in has passed its identity period, and an erasure of them is
    refused while that case is open."""
    from casework.models import households
    from casework.models.clients import create_client
    from casework.models.codes import HouseholdRelationship

    head = factories.new_case(session, Program.HOUSING)
    member = create_client(session, factories.client_in())
    households.add_member(
        session, head, member, HouseholdRelationship.CHILD, "cm.a", CLOSED, CLOSED.date()
    )
    with pytest.raises(record_retention.RetentionError, match="has an open case"):
        record_retention.erasure(session, member, "client_request", date(2026, 1, 1))
    factories.walk_to(session, head, Stage.CLOSURE, CLOSED)
    factories.move(session, head, factories.closure(), CLOSED)
    head.closed_at = CLOSED
    session.flush()
    due = record_retention.due(session, at(2029), programs())  # past minors' 10 years too
    assert (RetentionScope.IDENTITY, member.client_number) in {
        (d.scope, d.client_number) for d in due
    }
    [theirs] = [d for d in due if d.client_number == member.client_number]
    assert theirs.programs == ("housing",)
    # Masked, it is in the audit trail of the household's case, where the member is seen.
    batch = record_retention.open_batch(
        session, [theirs], kind="schedule", as_of=at(2029), requested_by="retention", at=at(2029)
    )
    record_retention.decide(session, batch.number or "", "adm.one", None, True, None, at(2029))
    done = record_retention.apply(session, batch, at(2029), tmp_path / "log")
    assert done.identities == 1
    assert member.family_name == "(masked)"
    said = session.scalars(
        select(AuditEvent.detail).where(
            AuditEvent.case_id == head.id, AuditEvent.action == "identity_masked"
        )
    ).all()
    assert [d["batch"] for d in said] == [batch.number]
