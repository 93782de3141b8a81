"""records that end when the law says: legal holds, retention batches, masking marks

Revision ID: 0025
Revises: 0024

- `legal_holds`: a hold on a client or a case (`casework hold`); while it stands nothing
  of them is masked and erasure is refused. Coded: a reason, who placed and lifted it.
- `retention_batches` and `retention_items`: what a retention run (or an erasure request)
  would mask, by case and client, under which rule, held for a supervisor's or an admin's
  approval; the decision is written here first, and the run waiting for it applies it.
- `cases.records_masked_at` and `clients.identity_masked_at`: when retention masked a
  case's free text (and deleted its files), and a client's identity.

Runs waiting under 0024 are untouched: no form, flow or stage changes; case runs never
read these. A case masked later keeps its coded history, so a run of a closed case (there
is none waiting) would read what it always did. On PostgreSQL: the service role (the
retention run) writes all of it; supervisors and admins place and lift holds and decide
batches (decision columns only); every staff role reads holds and batches, which are
coded (numbers, rules, staff ids); a hold is seen with its case or client, a batch's items
(ids, rules and the programs they touch) by every staff role.
"""

import sqlalchemy as sa
from alembic import op

import casework.models.base

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

def _stamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created', casework.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    when = casework.models.base.UTCDateTime(timezone=True)
    op.create_table(
        'legal_holds',
        sa.Column('number', sa.String(length=20), nullable=True),
        sa.Column('client_id', sa.Integer(), nullable=True),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('reason', sa.String(length=40), nullable=False),
        sa.Column('placed_by', sa.String(length=40), nullable=False),
        sa.Column('placed_at', when, nullable=False),
        sa.Column('lifted_by', sa.String(length=40), nullable=True),
        sa.Column('lifted_at', when, nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_legal_holds_case_id_cases')),
        sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_legal_holds_client_id_clients')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_legal_holds')),
        sa.UniqueConstraint('number', name=op.f('uq_legal_holds_number')),
    )
    op.create_index(op.f('ix_legal_holds_case_id'), 'legal_holds', ['case_id'])
    op.create_index(op.f('ix_legal_holds_client_id'), 'legal_holds', ['client_id'])
    op.create_table(
        'retention_batches',
        sa.Column('number', sa.String(length=20), nullable=True),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('reason', sa.String(length=40), nullable=True),
        sa.Column('as_of', when, nullable=False),
        sa.Column('status', sa.String(length=40), nullable=False),
        sa.Column('requested_by', sa.String(length=40), nullable=False),
        sa.Column('requested_at', when, nullable=False),
        sa.Column('flow_run_id', sa.String(length=36), nullable=True),
        sa.Column('decided_by', sa.String(length=40), nullable=True),
        sa.Column('decided_at', when, nullable=True),
        sa.Column('refusal', sa.String(length=40), nullable=True),
        sa.Column('applied_at', when, nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_batches')),
        sa.UniqueConstraint('number', name=op.f('uq_retention_batches_number')),
    )
    op.create_index(op.f('ix_retention_batches_status'), 'retention_batches', ['status'])
    op.create_table(
        'retention_items',
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.Column('scope', sa.String(length=40), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('rule', sa.String(length=80), nullable=False),
        sa.Column('programs', sa.String(length=200), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(['batch_id'], ['retention_batches.id'], name=op.f('fk_retention_items_batch_id_retention_batches')),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_retention_items_case_id_cases')),
        sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_retention_items_client_id_clients')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_items')),
    )
    op.create_index(op.f('ix_retention_items_batch_id'), 'retention_items', ['batch_id'])
    op.create_index(op.f('ix_retention_items_case_id'), 'retention_items', ['case_id'])
    op.create_index(op.f('ix_retention_items_client_id'), 'retention_items', ['client_id'])
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('records_masked_at', when, nullable=True))
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identity_masked_at', when, nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        _secure_postgresql()


def _secure_postgresql() -> None:
    run = op.execute
    staff = ("casework_case_manager, casework_supervisor, casework_program_manager, "
             "casework_operator, casework_admin")
    for table in ('legal_holds', 'retention_batches', 'retention_items'):
        run(f"REVOKE ALL ON {table} FROM PUBLIC")
        run(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO casework_service")
        run(f"GRANT USAGE ON SEQUENCE {table}_id_seq TO casework_service")
        run(f"GRANT SELECT ON {table} TO {staff}")
    run("GRANT INSERT ON legal_holds TO casework_supervisor, casework_admin")
    run("GRANT USAGE ON SEQUENCE legal_holds_id_seq TO casework_supervisor, casework_admin")
    run("GRANT UPDATE (number, lifted_by, lifted_at, updated) ON legal_holds "
        "TO casework_supervisor, casework_admin")
    run("GRANT UPDATE (status, decided_by, decided_at, refusal, updated) ON retention_batches "
        "TO casework_supervisor, casework_admin")
    seen = ("(case_id IS NOT NULL AND casework_sees_case(case_id)) "
            "OR (case_id IS NULL AND casework_sees_client(client_id))")
    # A hold is seen with its case or client. A batch's items are coded (ids, rules, the
    # programs they touch) and seen whole by every staff role: a supervisor must see every
    # program a batch touches to be refused one that is not all theirs.
    run("ALTER TABLE legal_holds ENABLE ROW LEVEL SECURITY")
    run(f"CREATE POLICY by_case ON legal_holds TO casework_staff USING ({seen}) "
        f"WITH CHECK ({seen})")
    run("CREATE POLICY service ON legal_holds TO casework_service USING (true) "
        "WITH CHECK (true)")


def downgrade() -> None:
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('identity_masked_at')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('records_masked_at')
    op.drop_table('retention_items')
    op.drop_table('retention_batches')
    op.drop_table('legal_holds')
