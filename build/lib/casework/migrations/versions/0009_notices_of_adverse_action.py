"""notices of adverse action: a benefit to be reduced, discontinued or denied, its
aid-continuing and hearing-request deadlines, the hearing request and the outcome

Revision ID: 0009
Revises: 0008

On PostgreSQL the table is coded (benefit, action, reason, dates), under the rules 0007
set for the coded tables: case managers and supervisors read and write the notices of the
cases they see, operators every case's, program managers and admins read them; the
service role (the sweeps) everything.
"""

import sqlalchemy as sa
from alembic import op

import casework.models.base

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

SERVICE = "casework_service"
STAFF = "casework_staff"
WRITERS = ("casework_case_manager", "casework_supervisor", "casework_operator")
READERS = ("casework_program_manager", "casework_admin")


def upgrade() -> None:
    op.create_table('adverse_notices',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('episode', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('benefit', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=True),
    sa.Column('notice_date', sa.Date(), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('aid_deadline', sa.Date(), nullable=True),
    sa.Column('hearing_deadline', sa.Date(), nullable=False),
    sa.Column('recorded_by', sa.String(length=40), nullable=False),
    sa.Column('hearing_requested_on', sa.Date(), nullable=True),
    sa.Column('aid_continuing', sa.Boolean(), nullable=True),
    sa.Column('declined_on', sa.Date(), nullable=True),
    sa.Column('decision', sa.String(length=40), nullable=True),
    sa.Column('decided_on', sa.Date(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_adverse_notices_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adverse_notices')),
    sa.UniqueConstraint('case_id', 'number', name=op.f('uq_adverse_notices_case_id_number'))
    )
    if op.get_bind().dialect.name == "postgresql":
        _secure_postgresql()


def _secure_postgresql() -> None:
    run = op.execute
    run(f"GRANT SELECT, INSERT, UPDATE, DELETE ON adverse_notices TO {SERVICE}")
    run(f"GRANT SELECT, INSERT, UPDATE ON adverse_notices TO {', '.join(WRITERS)}")
    run(f"GRANT SELECT ON adverse_notices TO {', '.join(READERS)}")
    run(f"GRANT USAGE ON SEQUENCE adverse_notices_id_seq TO {', '.join((*WRITERS, *READERS, SERVICE))}")
    run("ALTER TABLE adverse_notices ENABLE ROW LEVEL SECURITY")
    seen = "casework_sees_case(case_id)"
    run(f"CREATE POLICY by_case ON adverse_notices TO {STAFF} USING ({seen}) WITH CHECK ({seen})")
    run(f"CREATE POLICY service ON adverse_notices TO {SERVICE} USING (true) WITH CHECK (true)")


def downgrade() -> None:
    op.drop_table('adverse_notices')
