"""files kept with a case, sealed: an ID, proof of income, a signed release, a letter

Revision ID: 0021
Revises: 0020

- `attachments`: a file attached to a case, its content encrypted before it is written
  (casework.core.vault; the keys are outside the store), with its kind, its type as read
  from its content, its size, whether ClamAV scanned it, and its name and note as given.

Runs waiting under 0020 are untouched: nothing here is read by a case's run (its card
counts a case's attachments by kind). On PostgreSQL `attachments` is secured by its case
(row-level security): case managers and supervisors attach and open files; program
managers, operators and admins read the coded columns only (kind, type, size, scanned, who
and when), never the content, the name or the note; the service role re-seals content
when the keys rotate.
"""

import sqlalchemy as sa
from alembic import op

import casework.models.base

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

CODED_COLUMNS = (
    "id, case_id, kind, media_type, size, scanned, uploaded_by, uploaded_at, created, updated"
)


def upgrade() -> None:
    op.create_table('attachments',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('media_type', sa.String(length=40), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('scanned', sa.String(length=40), nullable=False),
    sa.Column('file_name', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_by', sa.String(length=40), nullable=False),
    sa.Column('uploaded_at', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_attachments_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attachments'))
    )
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attachments_case_id'), ['case_id'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        run = op.execute
        run("REVOKE ALL ON attachments FROM PUBLIC")
        run("GRANT SELECT, INSERT, UPDATE, DELETE ON attachments TO casework_service")
        run("GRANT USAGE ON SEQUENCE attachments_id_seq TO casework_service, "
            "casework_case_manager, casework_supervisor")
        run("GRANT SELECT, INSERT ON attachments TO casework_case_manager, casework_supervisor")
        run(f"GRANT SELECT ({CODED_COLUMNS}) ON attachments TO casework_program_manager, "
            "casework_operator, casework_admin")
        run("ALTER TABLE attachments ENABLE ROW LEVEL SECURITY")
        run("CREATE POLICY by_case ON attachments TO casework_staff "
            "USING (casework_sees_case(case_id)) WITH CHECK (casework_sees_case(case_id))")
        run("CREATE POLICY service ON attachments TO casework_service "
            "USING (true) WITH CHECK (true)")


def downgrade() -> None:
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attachments_case_id'))
    op.drop_table('attachments')
