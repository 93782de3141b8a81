"""clients across cases: client numbers, merges, what duplicate detection compares; and a
case's pending reassessment request (reassessment from plan, referral or monitoring) and
whether its last transfer is still to be told to Prefect

Revision ID: 0008
Revises: 0007

Every existing client keeps its case(s) and gets its number (CLIENT-000001, from its id)
and its match row and blocking keys (models.matching), computed here from the row.

On PostgreSQL the two new tables are identity, under the clients table's rules. Three
functions of definer's rights let staff do what row-level security would otherwise stop:

- casework_match_rows(keys): the match rows of clients sharing one of `keys` (intake must
  find a person registered in a program its user cannot read; it learns client numbers
  and scores, and only for keys it already holds). With NULL, every row: for the service
  role, supervisors and admins (`casework duplicates`).
- casework_client(number, program): a client's id, what it was merged into, how many cases
  it has, and its open case in `program` if it has one (what linking at intake, and
  merging, check; not which programs it is helped in).
- casework_client_cases(client, case): the other cases of the client of a case the caller
  sees: the program and stage only where the caller sees that case or works its program.
"""

import sqlalchemy as sa
from alembic import op

import casework.models.base

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

SERVICE = "casework_service"
MAX_KEYS = 16  # an intake's keys: one birth date, a few family-name parts, phone, ID
STAFF = "casework_staff"
WRITERS = ("casework_case_manager", "casework_supervisor")
EVERY = (
    "casework_case_manager", "casework_supervisor", "casework_program_manager",
    "casework_operator", "casework_admin", SERVICE,
)
FUNCTIONS = (
    "casework_match_rows(text[]), casework_client(text, text), "
    "casework_client_cases(integer, integer)"
)


def upgrade() -> None:
    with op.batch_alter_table('clients') as batch:
        batch.add_column(sa.Column('client_number', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch.create_unique_constraint(batch.f('uq_clients_client_number'), ['client_number'])
        batch.create_foreign_key(
            batch.f('fk_clients_merged_into_id_clients'), 'clients', ['merged_into_id'], ['id']
        )
    with op.batch_alter_table('cases') as batch:
        batch.add_column(sa.Column('reassess_key', sa.String(length=40), nullable=True))
        batch.add_column(sa.Column('reassess_reason', sa.String(length=40), nullable=True))
        batch.add_column(sa.Column('reassess_by', sa.String(length=40), nullable=True))
        batch.add_column(
            sa.Column('announce_pending', sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_index(batch.f('ix_cases_announce_pending'), ['announce_pending'])
        batch.create_index(batch.f('ix_cases_reassess_key'), ['reassess_key'])
    # One OS login may act as several staff ids (CASEWORK_ACTOR picks), as the roster
    # file always allowed: `staff add --login` refused a second.
    with op.batch_alter_table('staff') as batch:
        batch.drop_constraint(batch.f('uq_staff_login'), type_='unique')
        batch.create_index(batch.f('ix_staff_login'), ['login'], unique=False)
    op.create_table('client_match',
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('given', sa.String(length=100), nullable=False),
    sa.Column('family', sa.String(length=100), nullable=False),
    sa.Column('born', sa.Date(), nullable=False),
    sa.Column('phone', sa.String(length=10), nullable=True),
    sa.Column('id_number', sa.String(length=40), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_client_match_client_id_clients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client_match')),
    sa.UniqueConstraint('client_id', name=op.f('uq_client_match_client_id'))
    )
    op.create_table('client_keys',
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_client_keys_client_id_clients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client_keys')),
    sa.UniqueConstraint('key', 'client_id', name=op.f('uq_client_keys_key_client_id'))
    )
    op.create_index(op.f('ix_client_keys_client_id'), 'client_keys', ['client_id'], unique=False)
    _number_and_index_existing_clients()
    if op.get_bind().dialect.name == "postgresql":
        _secure_postgresql()


def _number_and_index_existing_clients() -> None:
    from datetime import UTC, datetime

    from casework.models.matching import Identity

    bind = op.get_bind()
    now = datetime.now(UTC)
    rows = bind.execute(
        sa.text("SELECT id, given_name, family_name, date_of_birth, phone, id_number FROM clients")
    ).all()
    for client_id, given, family, born, phone, id_number in rows:
        if isinstance(born, str):  # SQLite hands dates back as text here
            from datetime import date

            born = date.fromisoformat(born)
        who = Identity.of(given, family, born, phone, id_number)
        stamp = {"created": now, "updated": now, "client": client_id}
        bind.execute(
            sa.text("UPDATE clients SET client_number = :number WHERE id = :client"),
            {"number": f"CLIENT-{client_id:06d}", "client": client_id},
        )
        bind.execute(
            sa.text(
                "INSERT INTO client_match (client_id, given, family, born, phone, id_number,"
                " created, updated) VALUES (:client, :given, :family, :born, :phone, :id_number,"
                " :created, :updated)"
            ),
            {**stamp, "given": who.given, "family": who.family, "born": who.born,
             "phone": who.phone, "id_number": who.id_number},
        )
        for key in sorted(who.keys()):
            bind.execute(
                sa.text(
                    "INSERT INTO client_keys (client_id, key, created, updated)"
                    " VALUES (:client, :key, :created, :updated)"
                ),
                {**stamp, "key": key},
            )


def _secure_postgresql() -> None:
    run = op.execute
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar()
    run(f"GRANT SELECT, INSERT, UPDATE, DELETE ON client_match, client_keys TO {SERVICE}")
    # 0007 granted the sequences there were then; these two are new.
    run(f"GRANT USAGE ON SEQUENCE client_match_id_seq, client_keys_id_seq TO {', '.join(EVERY)}")
    for role in WRITERS:
        run(f"GRANT SELECT, INSERT ON client_match TO {role}")
        run(f"GRANT SELECT, INSERT, DELETE ON client_keys TO {role}")  # a merge drops keys
    for table in ("client_match", "client_keys"):
        run(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        seen = "casework_sees_client(client_id)"
        run(f"CREATE POLICY by_case ON {table} TO {STAFF} USING ({seen}) WITH CHECK ({seen})")
        run(f"CREATE POLICY service ON {table} TO {SERVICE} USING (true) WITH CHECK (true)")
    # A staff member could guess keys to read other programs' match rows (folded names,
    # birth dates): a call takes a person's keys, a handful, never a list of guesses, and
    # every staff call is in the audit trail (who, how many keys, how many rows).
    # Two queries, not one with an OR: the keyed one must use the index on key.
    run(f"""
CREATE FUNCTION casework_match_rows(wanted text[])
RETURNS TABLE(key text, client_id integer, client_number text, given text, family text,
              born date, phone text, id_number text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = "{schema}" AS $$
DECLARE
  found integer;
BEGIN
  IF wanted IS NULL AND NOT (pg_has_role(session_user, '{SERVICE}', 'member')
      OR pg_has_role(session_user, 'casework_supervisor', 'member')
      OR pg_has_role(session_user, 'casework_admin', 'member')
      OR NOT pg_has_role(session_user, '{STAFF}', 'member')) THEN
    RETURN;
  END IF;
  IF cardinality(wanted) > {MAX_KEYS} THEN
    RAISE EXCEPTION 'a duplicate check takes one person''s keys, at most {MAX_KEYS}'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF wanted IS NOT NULL THEN
    RETURN QUERY
      SELECT k.key::text, m.client_id, c.client_number::text, m.given::text, m.family::text,
        m.born, m.phone::text, m.id_number::text
      FROM client_keys k
      JOIN client_match m ON m.client_id = k.client_id
      JOIN clients c ON c.id = k.client_id
      WHERE k.key = ANY(wanted) AND c.merged_into_id IS NULL;
  ELSE
    RETURN QUERY
      SELECT k.key::text, m.client_id, c.client_number::text, m.given::text, m.family::text,
        m.born, m.phone::text, m.id_number::text
      FROM client_keys k
      JOIN client_match m ON m.client_id = k.client_id
      JOIN clients c ON c.id = k.client_id
      WHERE c.merged_into_id IS NULL;
  END IF;
  GET DIAGNOSTICS found = ROW_COUNT;
  IF pg_has_role(session_user, '{STAFF}', 'member') THEN
    INSERT INTO audit_events (case_id, episode, actor, action, detail, at, created, updated)
    VALUES (NULL, NULL, session_user, 'match_rows_read',
            json_build_object('keys', coalesce(cardinality(wanted), 0), 'rows', found),
            now(), now(), now());
  END IF;
END $$""")
    # Only what linking and merging must check, about the one program asked of: which of
    # a client's programs it is helped in is itself confidential.
    run(f"""
CREATE FUNCTION casework_client(number text, program text)
RETURNS TABLE(id integer, merged_into text, cases integer, open_case text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = "{schema}" AS $$
  SELECT c.id, m.client_number,
    (SELECT count(*)::integer FROM cases k WHERE k.client_id = c.id),
    (SELECT k.case_number FROM cases k WHERE k.client_id = c.id AND k.status = 'open'
     AND k.program = casework_client.program ORDER BY k.id LIMIT 1)
  FROM clients c LEFT JOIN clients m ON m.id = c.merged_into_id
  WHERE c.client_number = number
$$""")
    run(f"""
CREATE FUNCTION casework_client_cases(client integer, seen_case integer)
RETURNS TABLE(case_number text, program text, stage text, status text, crisis boolean,
              escalations integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = "{schema}" AS $$
  SELECT k.case_number,
    CASE WHEN shown THEN k.program END,
    CASE WHEN shown THEN k.stage END,
    k.status,
    k.crisis_since IS NOT NULL,
    CASE WHEN shown THEN (SELECT count(*)::integer FROM escalations e
                          WHERE e.case_id = k.id AND e.resolved_at IS NULL) END
  FROM cases k,
    LATERAL (SELECT casework_sees_case(k.id) OR EXISTS (
      SELECT 1 FROM staff_programs p WHERE p.staff_id = session_user
      AND p.program = k.program) AS shown) v
  WHERE k.client_id = client AND k.id <> seen_case AND casework_sees_case(seen_case)
    AND EXISTS (SELECT 1 FROM cases s WHERE s.id = seen_case AND s.client_id = client)
  ORDER BY k.id
$$""")
    run(f"REVOKE ALL ON FUNCTION {FUNCTIONS} FROM PUBLIC")
    run(f"GRANT EXECUTE ON FUNCTION {FUNCTIONS} TO {', '.join(EVERY)}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {FUNCTIONS}")
    op.drop_index(op.f('ix_client_keys_client_id'), table_name='client_keys')
    op.drop_table('client_keys')
    op.drop_table('client_match')
    with op.batch_alter_table('staff') as batch:
        batch.drop_index(batch.f('ix_staff_login'))
        batch.create_unique_constraint(batch.f('uq_staff_login'), ['login'])
    with op.batch_alter_table('cases') as batch:
        batch.drop_index(batch.f('ix_cases_reassess_key'))
        batch.drop_index(batch.f('ix_cases_announce_pending'))
        for column in ('announce_pending', 'reassess_by', 'reassess_reason', 'reassess_key'):
            batch.drop_column(column)
    with op.batch_alter_table('clients') as batch:
        batch.drop_constraint(batch.f('fk_clients_merged_into_id_clients'), type_='foreignkey')
        batch.drop_constraint(batch.f('uq_clients_client_number'), type_='unique')
        batch.drop_column('merged_into_id')
        batch.drop_column('client_number')
