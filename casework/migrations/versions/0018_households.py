"""households: clients who live together, their members past and present, household cases

Revision ID: 0018
Revises: 0017

- `households`: a household (`HH-000001`) and who registered it.
- `household_members`: one row per client per stay in a household, with the member's
  relationship to the head (HMIS 3.15, coded), the day they joined and the day they left
  (empty while they are a member). A client is a current member of one household at most.
- `cases.household_id`: a household case covers the members of its household.

Runs waiting under 0017 are untouched: no case's run reads these. Every case open before
the upgrade is a case of one client, as it was; a household is added to it with
`casework household CASE --add …`.

On PostgreSQL: a household, and its members' rows, are seen through a case of the
household that the viewer sees. A client is now seen through such a case too: a child
registered as a member has no case of their own, and is seen by those who see their
household's case (their case manager, the program's supervisors), never by others.
Case managers and supervisors register households and members; program managers,
operators and admins read them, coded (ids, relationships, dates), as the clients'
identity stays closed to them.
"""

import sqlalchemy as sa
from alembic import op

import casework.models.base

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

SERVICE = "casework_service"
WRITERS = "casework_case_manager, casework_supervisor"
READERS = "casework_program_manager, casework_operator, casework_admin"


def upgrade() -> None:
    op.create_table('households',
    sa.Column('household_number', sa.String(length=20), nullable=True),
    sa.Column('created_by', sa.String(length=40), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_households')),
    sa.UniqueConstraint('household_number', name=op.f('uq_households_household_number'))
    )
    op.create_table('household_members',
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('relationship', sa.String(length=40), nullable=False),
    sa.Column('joined_on', sa.Date(), nullable=False),
    sa.Column('left_on', sa.Date(), nullable=True),
    sa.Column('recorded_by', sa.String(length=40), nullable=False),
    sa.Column('left_recorded_by', sa.String(length=40), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_household_members_client_id_clients')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_household_members_household_id_households')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_household_members'))
    )
    op.create_index('ix_household_members_household_id', 'household_members', ['household_id'])
    op.create_index('ix_household_members_client_id', 'household_members', ['client_id'])
    op.create_index(
        'uq_household_members_current', 'household_members', ['client_id'], unique=True,
        postgresql_where=sa.text('left_on IS NULL'), sqlite_where=sa.text('left_on IS NULL'),
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('household_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_cases_household_id_households'), 'households', ['household_id'], ['id']
        )
        batch_op.create_index('ix_cases_household_id', ['household_id'])
    if op.get_bind().dialect.name == "postgresql":
        _secure_postgresql()


def _secure_postgresql() -> None:
    run = op.execute
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar()
    definer = f'SECURITY DEFINER SET search_path = "{schema}"'
    run(f"""
CREATE FUNCTION casework_sees_household(target integer) RETURNS boolean
LANGUAGE sql STABLE {definer} AS $$
  SELECT EXISTS (SELECT 1 FROM cases c WHERE c.household_id = target
                 AND casework_sees_case(c.id))
$$""")
    # A client: through a case of theirs, or through a case of a household they are or were
    # a member of; a client with neither, as before (the service role; supervisors).
    run(f"""
CREATE OR REPLACE FUNCTION casework_sees_client(target integer) RETURNS boolean
LANGUAGE sql STABLE {definer} AS $$
  SELECT CASE
    WHEN EXISTS (SELECT 1 FROM cases c WHERE c.client_id = target)
      OR EXISTS (SELECT 1 FROM household_members m WHERE m.client_id = target) THEN
      EXISTS (SELECT 1 FROM cases c WHERE c.client_id = target AND casework_sees_case(c.id))
      OR EXISTS (SELECT 1 FROM household_members m WHERE m.client_id = target
                 AND casework_sees_household(m.household_id))
    WHEN pg_has_role(session_user, '{SERVICE}', 'member') THEN true
    WHEN NOT pg_has_role(session_user, 'casework_supervisor', 'member') THEN false
    ELSE COALESCE((SELECT k.merged_into_id IS NULL OR casework_sees_client(k.merged_into_id)
                   FROM clients k WHERE k.id = target), false)
  END
$$""")
    run("REVOKE ALL ON FUNCTION casework_sees_household(integer) FROM PUBLIC")
    run("GRANT EXECUTE ON FUNCTION casework_sees_household(integer) TO casework_staff, "
        f"{SERVICE}")
    run(f"GRANT UPDATE (household_id, updated) ON cases TO {WRITERS}")
    for table, seen in (
        ("households", "casework_sees_household(id)"),
        ("household_members", "casework_sees_household(household_id)"),
    ):
        run(f"REVOKE ALL ON {table} FROM PUBLIC")
        run(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {SERVICE}")
        run(f"GRANT SELECT, INSERT, UPDATE ON {table} TO {WRITERS}")
        run(f"GRANT SELECT ON {table} TO {READERS}")
        run(f"GRANT USAGE ON SEQUENCE {table}_id_seq TO {SERVICE}, {WRITERS}")
        run(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        run(f"CREATE POLICY by_case ON {table} TO casework_staff USING ({seen}) "
            f"WITH CHECK ({seen})")
        run(f"CREATE POLICY service ON {table} TO {SERVICE} USING (true) WITH CHECK (true)")
    # A household is written before the case that makes it seen (intake: the household,
    # then its case, then its members): its row goes in unread, as a client's does.
    run(f"CREATE POLICY register ON households AS PERMISSIVE FOR INSERT TO {WRITERS} "
        "WITH CHECK (true)")


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_household_id')
        batch_op.drop_constraint('fk_cases_household_id_households', type_='foreignkey')
        batch_op.drop_column('household_id')
    op.drop_index('uq_household_members_current', table_name='household_members')
    op.drop_index('ix_household_members_client_id', table_name='household_members')
    op.drop_index('ix_household_members_household_id', table_name='household_members')
    op.drop_table('household_members')
    op.drop_table('households')
