"""the desk: staff passwords, and sign-ins and searches in the access log

Revision ID: 0012
Revises: 0011

- `staff_passwords`: one argon2id hash per staff member who may sign in to the desk, who set
  it and when, whether it is temporary (set by someone else), and the failed attempts that
  lock it for a while.
- `cases.client_id` indexed: a client's cases, which PostgreSQL's row-level check of each
  client row reads (`casework_sees_client`): without it each check read every case, 9 ms a
  client at 100,000 cases.
- a case manager's cases found by (case_manager, status, stage), not (case_manager, status):
  filtered by stage, SQLite (which keeps no statistics unless asked) took the stage's own
  index instead, 55,000 rows deep at 100,000 cases (140 ms for a page).
- `access_log.case_id` may be empty: a sign-in, a sign-out, a refused password, a lock-out
  and a search through the desk are written there too (what was searched never is).

On PostgreSQL: the service role (the desk signs staff in with it) reads and writes the
hashes; an admin sets passwords (`casework staff password`) and may read who set one and
when, never a hash; no other staff role may touch the table. An access-log row with no
case is written by the service role only (the row-level policy of 0007 already says so).

And the row-level policy on `cases` (0007's `by_case`) says what `casework_sees(manager,
program)` says, written out in the policy so the planner takes it into the query: the
viewer's programs read once per query, not a function call with definer's rights per row.
A supervisor's count of the 16,600 cases of their program took 113 ms as a call per row,
18 ms so (bench/desk.py, 100,000 cases). A new or changed row is still checked by the
function. The staff roles read the roster tables it names (0007's grants).
"""

import sqlalchemy as sa
from alembic import op

import casework.models.base

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('staff_passwords',
    sa.Column('staff_id', sa.String(length=40), nullable=False),
    sa.Column('hash', sa.String(length=200), nullable=False),
    sa.Column('set_by', sa.String(length=40), nullable=False),
    sa.Column('set_at', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('temporary', sa.Boolean(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', casework.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_passwords')),
    sa.UniqueConstraint('staff_id', name=op.f('uq_staff_passwords_staff_id'))
    )
    with op.batch_alter_table('access_log') as batch:
        batch.alter_column('case_id', existing_type=sa.Integer(), nullable=True)
    op.create_index(op.f('ix_cases_client_id'), 'cases', ['client_id'])
    op.drop_index(op.f('ix_cases_case_manager_status'), table_name='cases')
    op.create_index(
        op.f('ix_cases_case_manager_status_stage'), 'cases', ['case_manager', 'status', 'stage']
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("REVOKE ALL ON staff_passwords FROM PUBLIC")
        op.execute("GRANT SELECT, INSERT, UPDATE ON staff_passwords TO casework_service")
        op.execute("GRANT INSERT, UPDATE ON staff_passwords TO casework_admin")
        op.execute("GRANT SELECT (staff_id, set_by, set_at) ON staff_passwords TO casework_admin")
        op.execute("GRANT USAGE ON SEQUENCE staff_passwords_id_seq TO casework_service, "
                   "casework_admin")
        _cases_policy(WRITTEN_OUT)


# Who sees a case, as casework_sees says it (0007), written out for the planner.
WRITTEN_OUT = """CASE
    WHEN pg_has_role(session_user, 'casework_service', 'member')
      OR pg_has_role(session_user, 'casework_operator', 'member')
      OR pg_has_role(session_user, 'casework_admin', 'member') THEN true
    WHEN pg_has_role(session_user, 'casework_case_manager', 'member')
      THEN case_manager = session_user
    ELSE program IN (
      SELECT p.program FROM staff_programs p JOIN staff s ON s.staff_id = p.staff_id
      WHERE p.staff_id = session_user AND s.active)
  END"""
AS_0007 = "casework_sees(case_manager, program)"


def _cases_policy(seen: str) -> None:
    op.execute("DROP POLICY by_case ON cases")
    op.execute(
        f"CREATE POLICY by_case ON cases TO casework_staff USING ({seen}) WITH CHECK ({AS_0007})"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _cases_policy(AS_0007)
    op.drop_index(op.f('ix_cases_client_id'), table_name='cases')
    op.drop_index(op.f('ix_cases_case_manager_status_stage'), table_name='cases')
    op.create_index(op.f('ix_cases_case_manager_status'), 'cases', ['case_manager', 'status'])
    op.execute("DELETE FROM access_log WHERE case_id IS NULL")
    with op.batch_alter_table('access_log') as batch:
        batch.alter_column('case_id', existing_type=sa.Integer(), nullable=False)
    op.drop_table('staff_passwords')
