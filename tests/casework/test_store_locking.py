"""SQLite under concurrent writers. The store manages SQLite's transactions itself
(pysqlite's implicit ones are off, so savepoints work), and a transaction that reads first
and writes later must not fail with "database is locked" because another writer
committed in between (an out-of-date read snapshot cannot be upgraded, and SQLite's busy
wait does not help). So every transaction that may write takes the write lock as it
begins, and the other writer waits its turn instead."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select

from casework.core.db import make_engine, migrate, session_scope
from casework.models.orm import Case
from tests import factories


def test_a_reader_that_writes_later_is_not_refused_by_a_writer_in_between(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate(engine)
    other_done = threading.Event()
    failures: list[BaseException] = []

    def other_writer() -> None:
        try:
            with session_scope(engine) as session:
                factories.new_case(session)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        other_done.set()

    with session_scope(engine) as first:
        before = first.scalar(select(func.count()).select_from(Case))
        writer = threading.Thread(target=other_writer)
        writer.start()
        # The other writer waits for this transaction (bounded look: it must not finish).
        assert not other_done.wait(2), "a second writer went ahead of an open writer"
        factories.new_case(first)  # the write after the read: no "database is locked"
    writer.join(60)
    assert failures == []
    with session_scope(engine, read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(Case)) == (before or 0) + 2
    engine.dispose()
