"""a program's own intake fields: each case's answers, the coded ones apart from those that
bear identity

Revision ID: 0014
Revises: 0013

- `intake_details`: one row per case, `coded` (counts, yes/no, choices) and `identity`
  (the fields a program declares identity-bearing, and every text field).

On PostgreSQL, as the store's other case tables: row-level security by the case (a role
reads the row of a case it sees), the service role every row. Case managers and supervisors
read and write the whole row; program managers, operators and admins read its coded
columns only, never `identity`.
"""

import sqlalchemy as sa
from alembic import op

import casework.models.base

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

CODED_COLUMNS = "id, case_id, coded, recorded_by, recorded_at, created, updated"


def upgrade() -> None:
    op.create_table('intake_details',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('coded', sa.JSON(), nullable=False),
    sa.Column('identity', sa.JSON(), nullable=False),
    sa.Column('recorded_by', sa.String(length=40), nullable=False),
    sa.Column('recorded_at', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_intake_details_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_details')),
    sa.UniqueConstraint('case_id', name=op.f('uq_intake_details_case_id'))
    )
    if op.get_bind().dialect.name == "postgresql":
        run = op.execute
        run("REVOKE ALL ON intake_details FROM PUBLIC")
        run("GRANT SELECT, INSERT, UPDATE, DELETE ON intake_details TO casework_service")
        run("GRANT SELECT, INSERT, UPDATE ON intake_details TO casework_case_manager, "
            "casework_supervisor")
        run(f"GRANT SELECT ({CODED_COLUMNS}) ON intake_details TO casework_program_manager, "
            "casework_operator, casework_admin")
        run("GRANT USAGE ON SEQUENCE intake_details_id_seq TO casework_service, "
            "casework_case_manager, casework_supervisor")
        run("ALTER TABLE intake_details ENABLE ROW LEVEL SECURITY")
        run("CREATE POLICY by_case ON intake_details TO casework_staff "
            "USING (casework_sees_case(case_id)) WITH CHECK (casework_sees_case(case_id))")
        run("CREATE POLICY service ON intake_details TO casework_service "
            "USING (true) WITH CHECK (true)")


def downgrade() -> None:
    op.drop_table('intake_details')
