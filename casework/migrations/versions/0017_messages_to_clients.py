"""messages to clients: how to reach them, their consent to be messaged, the messages

Revision ID: 0017
Revises: 0016

- `clients.email`: the client's email address (identity, as their phone is).
- `appointments.confirmed_at`: when the client confirmed the appointment by a reply.
- `contact_consents`: a client's consent to be messaged on a channel (sms, email), given
  on a day and withdrawn at a moment, by staff or by the client's STOP. One row per grant.
- `messages`: one row per message to a client (`MSG-000001`): what it is for and about
  (coded), its channel and language, its status, attempts and the next one, and the
  once-only key a sweep claims it by. No message's words are kept.

Runs waiting under 0016 are untouched: nothing here is read by a case's run.

On PostgreSQL, as the store's other tables: row-level security by the client (consents) or
the case (messages), the service role every row. Case managers and supervisors read both
and record consents; only the service role (the sweep, the reply hook) writes messages,
but for the client a supervisor's merge moves them to.
Program managers, operators and admins read both, which are coded only. Case managers and
supervisors may now update a client's phone and email (and nothing else of the identity).
"""

import sqlalchemy as sa
from alembic import op

import casework.models.base

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

WRITERS = "casework_case_manager, casework_supervisor"
READERS = "casework_program_manager, casework_operator, casework_admin"


def upgrade() -> None:
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'confirmed_at', casework.models.base.UTCDateTime(timezone=True), nullable=True
        ))
    op.create_table('contact_consents',
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=40), nullable=False),
    sa.Column('given_on', sa.Date(), nullable=False),
    sa.Column('recorded_by', sa.String(length=40), nullable=False),
    sa.Column('withdrawn_at', casework.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_by', sa.String(length=40), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_contact_consents_client_id_clients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_consents'))
    )
    op.create_index('ix_contact_consents_client_id_channel', 'contact_consents', ['client_id', 'channel'])
    op.create_table('messages',
    sa.Column('number', sa.String(length=20), nullable=True),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('episode', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=40), nullable=False),
    sa.Column('language', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('due_at', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_until', casework.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', casework.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=200), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_messages_case_id_cases')),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_messages_client_id_clients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('key', name=op.f('uq_messages_key')),
    sa.UniqueConstraint('number', name=op.f('uq_messages_number'))
    )
    op.create_index('ix_messages_status_next_attempt_at', 'messages', ['status', 'next_attempt_at'])
    op.create_index('ix_messages_case_id', 'messages', ['case_id'])
    if op.get_bind().dialect.name == "postgresql":
        _secure_postgresql()


def _secure_postgresql() -> None:
    run = op.execute
    run(f"GRANT UPDATE (phone, email, updated) ON clients TO {WRITERS}")
    run(f"GRANT SELECT (confirmed_at) ON appointments TO {READERS}")
    # A supervisor's merge moves the merged client's messages with their cases.
    run("GRANT UPDATE (client_id, updated) ON messages TO casework_supervisor")
    for table, seen in (
        ("contact_consents", "casework_sees_client(client_id)"),
        ("messages", "casework_sees_case(case_id)"),
    ):
        run(f"REVOKE ALL ON {table} FROM PUBLIC")
        run(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO casework_service")
        writes = ", INSERT, UPDATE" if table == "contact_consents" else ""
        run(f"GRANT SELECT{writes} ON {table} TO {WRITERS}")
        run(f"GRANT SELECT ON {table} TO {READERS}")
        run(f"GRANT USAGE ON SEQUENCE {table}_id_seq TO casework_service, {WRITERS}")
        run(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        run(f"CREATE POLICY by_case ON {table} TO casework_staff USING ({seen}) "
            f"WITH CHECK ({seen})")
        run(f"CREATE POLICY service ON {table} TO casework_service USING (true) WITH CHECK (true)")


def downgrade() -> None:
    op.drop_table('messages')
    op.drop_table('contact_consents')
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_column('confirmed_at')
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('email')
