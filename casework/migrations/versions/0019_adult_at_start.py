"""whether each person was an adult when they started: what HUD's counts group households by

Revision ID: 0019
Revises: 0018

- `cases.adult_at_start`: whether the case's client was 18 or over on the day the case
  opened.
- `household_members.adult_at_start`: whether the member was 18 or over on the day they
  joined the household.

Both are coded: one yes or no, fixed when the row is written, never a date of birth. The
APR's counts of persons by household type (adults only, adults and children, children
only) read them, so a program manager, who does not read dates of birth, can run them.
Rows written before this revision are filled in here from the clients' dates of birth.

Runs waiting under 0018 are untouched: nothing here is read by a case's run. On
PostgreSQL the new columns fall under each table's existing grants and row-level policies;
case managers and supervisors may also set `cases.adult_at_start`, which a case they open
fills in once written (a client of another program is theirs to read only through it).
"""

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

AT_ONCE = 1000


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('adult_at_start', sa.Boolean(), nullable=True))
    with op.batch_alter_table('household_members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('adult_at_start', sa.Boolean(), nullable=True))
    bind = op.get_bind()
    for table, started in (("cases", "c.opened_at"), ("household_members", "c.joined_on")):
        found = bind.execute(sa.text(
            f"SELECT c.id, k.date_of_birth, {started} FROM {table} c "
            "JOIN clients k ON k.id = c.client_id"
        )).all()
        rows = [{"id": row_id, "adult": _adult(born, on)} for row_id, born, on in found]
        update = sa.text(f"UPDATE {table} SET adult_at_start = :adult WHERE id = :id")
        for start in range(0, len(rows), AT_ONCE):
            bind.execute(update, rows[start:start + AT_ONCE])
    if bind.dialect.name == "postgresql":
        op.execute(
            "GRANT UPDATE (adult_at_start) ON cases TO casework_case_manager, casework_supervisor"
        )


def _adult(born: object, on: object) -> bool:
    from datetime import date, datetime

    def day(value: object) -> date:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        return date.fromisoformat(str(value)[:10])

    born_on, started = day(born), day(on)
    return (started.year, started.month, started.day) >= (
        born_on.year + 18, born_on.month, born_on.day
    )


def downgrade() -> None:
    with op.batch_alter_table('household_members', schema=None) as batch_op:
        batch_op.drop_column('adult_at_start')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('adult_at_start')
