"""whether each person was an adult when they started: what HUD's counts group households by

Revision ID: 0019
Revises: 0018

- `cases.adult_at_start`: whether the case's client was 18 or over on the day the case
  opened.
- `household_members.adult_at_start`: whether the member was 18 or over on the day they
  joined the household.
- `member_answers`: a household member's answers to HMIS's project-start questions in a
  case of a HUD-funded program (the case's client answers in `intake_details`), coded
  apart from identity-bearing, one row per member per case.

Both are coded: one yes or no, fixed when the row is written, never a date of birth. The
APR's counts of persons by household type (adults only, adults and children, children
only) read them, so a program manager, who does not read dates of birth, can run them.
Rows written before this revision are filled in here from the clients' dates of birth.

Runs waiting under 0018 are untouched: nothing here is read by a case's run. On
PostgreSQL `member_answers` is secured as `intake_details` is (row-level security by the
case; case managers and supervisors read and write it whole; program managers, operators
and admins read its coded columns only). The new columns fall under each table's existing
grants and row-level policies;
case managers and supervisors may also set `cases.adult_at_start`, which a case they open
fills in once written (a client of another program is theirs to read only through it).
"""

import sqlalchemy as sa
from alembic import op

import casework.models.base

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

AT_ONCE = 1000
CODED_COLUMNS = "id, case_id, client_id, coded, recorded_by, recorded_at, created, updated"


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('adult_at_start', sa.Boolean(), nullable=True))
    with op.batch_alter_table('household_members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('adult_at_start', sa.Boolean(), nullable=True))
    op.create_table('member_answers',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('coded', sa.JSON(), nullable=False),
    sa.Column('identity', sa.JSON(), nullable=False),
    sa.Column('recorded_by', sa.String(length=40), nullable=False),
    sa.Column('recorded_at', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_member_answers_case_id_cases')),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_member_answers_client_id_clients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_answers')),
    sa.UniqueConstraint('case_id', 'client_id', name=op.f('uq_member_answers_case_id_client_id'))
    )
    with op.batch_alter_table('member_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_answers_client_id'), ['client_id'], unique=False)
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
        run = op.execute
        run("GRANT UPDATE (adult_at_start) ON cases TO casework_case_manager, casework_supervisor")
        run("REVOKE ALL ON member_answers FROM PUBLIC")
        run("GRANT SELECT, INSERT, UPDATE, DELETE ON member_answers TO casework_service")
        run("GRANT SELECT, INSERT, UPDATE ON member_answers TO casework_case_manager, "
            "casework_supervisor")
        run(f"GRANT SELECT ({CODED_COLUMNS}) ON member_answers TO casework_program_manager, "
            "casework_operator, casework_admin")
        run("GRANT USAGE ON SEQUENCE member_answers_id_seq TO casework_service, "
            "casework_case_manager, casework_supervisor")
        run("ALTER TABLE member_answers ENABLE ROW LEVEL SECURITY")
        run("CREATE POLICY by_case ON member_answers TO casework_staff "
            "USING (casework_sees_case(case_id)) WITH CHECK (casework_sees_case(case_id))")
        run("CREATE POLICY service ON member_answers TO casework_service "
            "USING (true) WITH CHECK (true)")


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
    with op.batch_alter_table('member_answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_answers_client_id'))
    op.drop_table('member_answers')
    with op.batch_alter_table('household_members', schema=None) as batch_op:
        batch_op.drop_column('adult_at_start')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('adult_at_start')
