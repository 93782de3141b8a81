"""appointments: each case's appointments and visits, and what became of them

Revision ID: 0016
Revises: 0015

- `appointments`: one row per appointment (`APT-000001`), its case and episode, kind, time
  (UTC), status (scheduled, attended, missed, cancelled, rescheduled; a rescheduled one
  names the appointment that replaced it), who booked it and who recorded its outcome; and
  whom the client sees and where (`with_whom`, `place`), which bear identity.

On PostgreSQL, as the store's other case tables: row-level security by the case, the
service role every row. Case managers and supervisors read and write the whole row;
program managers, operators and admins read its coded columns only, never `with_whom` or
`place`.
"""

import sqlalchemy as sa
from alembic import op

import casework.models.base

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

CODED_COLUMNS = (
    "id, case_id, episode, number, kind, at, status, rescheduled_to, booked_by, outcome_by, "
    "outcome_at, created, updated"
)


def upgrade() -> None:
    op.create_table('appointments',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('episode', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('at', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('with_whom', sa.String(length=200), nullable=False),
    sa.Column('place', sa.String(length=300), nullable=True),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('rescheduled_to', sa.String(length=20), nullable=True),
    sa.Column('booked_by', sa.String(length=40), nullable=False),
    sa.Column('outcome_by', sa.String(length=40), nullable=True),
    sa.Column('outcome_at', casework.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_appointments_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointments')),
    sa.UniqueConstraint('number', name=op.f('uq_appointments_number'))
    )
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appointments_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_appointments_status_at', ['status', 'at'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        run = op.execute
        run("REVOKE ALL ON appointments FROM PUBLIC")
        run("GRANT SELECT, INSERT, UPDATE, DELETE ON appointments TO casework_service")
        run("GRANT SELECT, INSERT, UPDATE ON appointments TO casework_case_manager, "
            "casework_supervisor")
        run(f"GRANT SELECT ({CODED_COLUMNS}) ON appointments TO casework_program_manager, "
            "casework_operator, casework_admin")
        run("GRANT USAGE ON SEQUENCE appointments_id_seq TO casework_service, "
            "casework_case_manager, casework_supervisor")
        run("ALTER TABLE appointments ENABLE ROW LEVEL SECURITY")
        run("CREATE POLICY by_case ON appointments TO casework_staff "
            "USING (casework_sees_case(case_id)) WITH CHECK (casework_sees_case(case_id))")
        run("CREATE POLICY service ON appointments TO casework_service "
            "USING (true) WITH CHECK (true)")


def downgrade() -> None:
    op.drop_table('appointments')
