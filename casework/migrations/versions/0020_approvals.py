"""a supervisor's approval of a stage form: the form held, and what became of it

Revision ID: 0020
Revises: 0019

- `approvals`: a stage form (a program's assessment, plan or closure, as its programs
  file asks) held for a supervisor's approval before the case moves on. It keeps the form
  as the case's run was given it (coded, as a run's input is; the form's version beside
  it), who submitted it and who handed it over, and where the run waits for the decision.
  A supervisor's decision is written here first (approved, or returned with a reason);
  the case's run, woken, records the move or the return as a stage event.

Runs waiting under 0019 are untouched: a form already given moves its case as before; a
form given after this revision waits for approval where its program asks for one. On
PostgreSQL `approvals` is secured by its case (row-level security, as the case's other
rows are): case managers read it whole (a returned form's reason is for them);
supervisors read it and write the decision; program managers, operators and admins read
every column but the reason, which is a supervisor's words about the client's case.
"""

import sqlalchemy as sa
from alembic import op

import casework.models.base

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

CODED_COLUMNS = (
    "id, case_id, episode, stage, stage_key, wait_key, form, form_version, submitted_by, "
    "handed_by, requested_at, status, decided_by, decided_at, created, updated"
)


def upgrade() -> None:
    op.create_table('approvals',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('episode', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=40), nullable=False),
    sa.Column('stage_key', sa.String(length=40), nullable=False),
    sa.Column('wait_key', sa.String(length=40), nullable=False),
    sa.Column('form', sa.JSON(), nullable=False),
    sa.Column('form_version', sa.Integer(), nullable=False),
    sa.Column('submitted_by', sa.String(length=40), nullable=False),
    sa.Column('handed_by', sa.String(length=40), nullable=True),
    sa.Column('requested_at', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('decided_by', sa.String(length=40), nullable=True),
    sa.Column('decided_at', casework.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_approvals_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approvals')),
    sa.UniqueConstraint('case_id', 'episode', 'stage_key', name=op.f('uq_approvals_case_id_episode_stage_key'))
    )
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approvals_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_approvals_status'), ['status'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        run = op.execute
        run("REVOKE ALL ON approvals FROM PUBLIC")
        run("GRANT SELECT, INSERT, UPDATE, DELETE ON approvals TO casework_service")
        run("GRANT USAGE ON SEQUENCE approvals_id_seq TO casework_service")
        run("GRANT SELECT ON approvals TO casework_case_manager, casework_supervisor")
        run("GRANT UPDATE (status, decided_by, decided_at, reason, updated) ON approvals "
            "TO casework_supervisor")
        run(f"GRANT SELECT ({CODED_COLUMNS}) ON approvals TO casework_program_manager, "
            "casework_operator, casework_admin")
        run("ALTER TABLE approvals ENABLE ROW LEVEL SECURITY")
        run("CREATE POLICY by_case ON approvals TO casework_staff "
            "USING (casework_sees_case(case_id)) WITH CHECK (casework_sees_case(case_id))")
        run("CREATE POLICY service ON approvals TO casework_service "
            "USING (true) WITH CHECK (true)")


def downgrade() -> None:
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approvals_status'))
        batch_op.drop_index(batch_op.f('ix_approvals_case_id'))
    op.drop_table('approvals')
