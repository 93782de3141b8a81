"""staff, access log, and on PostgreSQL: staff roles, grants and row-level security

Revision ID: 0007
Revises: 0006

On PostgreSQL each staff member connects as a database role of their own, a member of one
group role per staff role (casework_case_manager, casework_supervisor,
casework_program_manager, casework_operator, casework_admin) and of casework_staff; the
sweeps and flows connect as a member of casework_service. What each may read and write is
set here, by grants (which tables) and row-level security (which cases):

- a case manager: their own cases, identity and narrative included;
- a supervisor: the cases of their programs, identity and narrative included;
- a program manager: the coded records of their programs' cases (the report), read only;
  no identity, narrative, document or audit table at all;
- an operator: every case's coded records, read and write (reassess, sweep, import
  providers); no identity, narrative or document table;
- an admin: the roster (staff add), providers, the audit trail and the access log; every
  case's coded records read only; no identity, narrative or document table;
- the service role: everything, as the flows need it.

The audit trail and the access log take inserts only; for staff roles the database itself
writes session_user as the actor, whatever the client sent. The table owner (the role that
runs migrations) is not subject to these policies.
"""

import sqlalchemy as sa
from alembic import op

import casework.models.base

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

GROUPS = {
    "case_manager": "casework_case_manager",
    "supervisor": "casework_supervisor",
    "program_manager": "casework_program_manager",
    "operator": "casework_operator",
    "admin": "casework_admin",
}
SERVICE = "casework_service"
STAFF = "casework_staff"
IDENTITY = ["clients", "contacts", "narratives", "documents"]
CODED = [
    "cases", "episodes", "stage_events", "assessments", "care_plans", "plan_goals",
    "referrals", "referral_events", "consents", "benefits", "waivers", "follow_ups",
    "escalations",
]
LOGS = ["audit_events", "access_log"]
DIRECTORY = ["providers", "staff", "staff_programs", "alembic_version"]
# Which rows of each table a role sees: the case it belongs to.
ROW_CASE = {
    "cases": "casework_sees(case_manager, program)",  # its own columns: a new row too
    "clients": "casework_sees_client(id)",
    "consents": "casework_sees_client(client_id)",
    "plan_goals": "casework_sees_case((SELECT p.case_id FROM care_plans p WHERE p.id = plan_id))",
    "referral_events": (
        "casework_sees_case((SELECT r.case_id FROM referrals r WHERE r.id = referral_id))"
    ),
}


def upgrade() -> None:
    op.create_table('staff',
    sa.Column('staff_id', sa.String(length=40), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=False),
    sa.Column('login', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('added_by', sa.String(length=40), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff')),
    sa.UniqueConstraint('login', name=op.f('uq_staff_login')),
    sa.UniqueConstraint('staff_id', name=op.f('uq_staff_staff_id'))
    )
    op.create_table('staff_programs',
    sa.Column('staff_id', sa.String(length=40), nullable=False),
    sa.Column('program', sa.String(length=40), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.staff_id'], name=op.f('fk_staff_programs_staff_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_programs')),
    sa.UniqueConstraint('staff_id', 'program', name=op.f('uq_staff_programs_staff_id_program'))
    )
    op.create_table('access_log',
    sa.Column('staff', sa.String(length=63), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('what', sa.String(length=40), nullable=False),
    sa.Column('at', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_access_log_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_log'))
    )
    op.create_index(op.f('ix_access_log_case_id_at'), 'access_log', ['case_id', 'at'], unique=False)
    op.create_index(op.f('ix_access_log_staff_at'), 'access_log', ['staff', 'at'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        _secure_postgresql()


def _secure_postgresql() -> None:
    run = op.execute
    for role in [*GROUPS.values(), SERVICE, STAFF]:  # roles are the cluster's: made once
        run(
            f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
    for role in GROUPS.values():
        run(f"GRANT {STAFF} TO {role}")
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar()
    every = ", ".join([*GROUPS.values(), SERVICE])
    run(f'GRANT USAGE ON SCHEMA "{schema}" TO {every}')
    run(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA "{schema}" TO {every}')
    run(f"GRANT SELECT ON {', '.join(DIRECTORY)} TO {every}")
    run(f"GRANT INSERT ON {', '.join(LOGS)} TO {every}")
    # An insert hands back the new row's id (RETURNING), which takes SELECT on that column.
    run(f"GRANT SELECT (id) ON {', '.join(LOGS)} TO {every}")
    everything = ", ".join([*IDENTITY, *CODED])
    run(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {everything} TO {SERVICE}")
    run(f"GRANT SELECT ON {', '.join(LOGS)} TO {SERVICE}, {GROUPS['admin']}")
    run(f"GRANT UPDATE ON providers TO {SERVICE}")
    for role in ("case_manager", "supervisor"):
        run(f"GRANT SELECT, INSERT, UPDATE ON {everything} TO {GROUPS[role]}")
        run(f"GRANT SELECT ON audit_events TO {GROUPS[role]}")
    run(f"GRANT SELECT ON {', '.join(CODED)} TO {GROUPS['program_manager']}, {GROUPS['admin']}")
    run(f"GRANT SELECT, INSERT, UPDATE ON {', '.join(CODED)} TO {GROUPS['operator']}")
    run(f"GRANT INSERT, UPDATE ON providers TO {GROUPS['operator']}, {GROUPS['admin']}")
    run(f"GRANT INSERT, UPDATE ON staff TO {GROUPS['admin']}")
    run(f"GRANT INSERT, UPDATE, DELETE ON staff_programs TO {GROUPS['admin']}")  # re-adding

    # Who sees which case: definer's rights, so that asking never depends on what the
    # asker may read; session_user, the role that signed in, whatever SET ROLE says.
    run(f"""
CREATE FUNCTION casework_sees(manager text, case_program text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = "{schema}" AS $$
  SELECT CASE
    WHEN pg_has_role(session_user, '{SERVICE}', 'member')
      OR pg_has_role(session_user, '{GROUPS["operator"]}', 'member')
      OR pg_has_role(session_user, '{GROUPS["admin"]}', 'member') THEN true
    WHEN pg_has_role(session_user, '{GROUPS["case_manager"]}', 'member')
      THEN manager = session_user
    ELSE EXISTS (
      SELECT 1 FROM staff_programs p JOIN staff s ON s.staff_id = p.staff_id
      WHERE p.staff_id = session_user AND p.program = case_program AND s.active)
  END
$$""")
    run(f"""
CREATE FUNCTION casework_sees_case(target integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = "{schema}" AS $$
  SELECT CASE
    WHEN target IS NULL THEN pg_has_role(session_user, '{SERVICE}', 'member')
      OR pg_has_role(session_user, '{GROUPS["admin"]}', 'member')
    ELSE COALESCE(
      (SELECT casework_sees(c.case_manager, c.program) FROM cases c WHERE c.id = target), false)
  END
$$""")
    # A client is seen with a case of theirs that is seen; a client with no case yet is
    # the one intake is registering in this very transaction.
    run(f"""
CREATE FUNCTION casework_sees_client(target integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = "{schema}" AS $$
  SELECT EXISTS (SELECT 1 FROM cases c WHERE c.client_id = target
                 AND casework_sees_case(c.id))
      OR NOT EXISTS (SELECT 1 FROM cases c WHERE c.client_id = target)
$$""")
    functions = "casework_sees(text, text), casework_sees_case(integer), " + (
        "casework_sees_client(integer)"
    )
    run(f"REVOKE ALL ON FUNCTION {functions} FROM PUBLIC")
    run(f"GRANT EXECUTE ON FUNCTION {functions} TO {every}")
    for table in [*IDENTITY, *CODED, *LOGS]:
        seen = ROW_CASE.get(table, "casework_sees_case(case_id)")
        run(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        run(f"CREATE POLICY by_case ON {table} TO {STAFF} USING ({seen}) WITH CHECK ({seen})")
        # The flows see every row: a policy of its own, so no row pays for the check above.
        run(f"CREATE POLICY service ON {table} TO {SERVICE} USING (true) WITH CHECK (true)")
    # The actor of an audit row and the reader of an access entry is who signed in.
    run("""
CREATE FUNCTION casework_signed_in_actor() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF pg_has_role(session_user, 'casework_staff', 'member') THEN
    IF TG_TABLE_NAME = 'audit_events' THEN
      NEW.actor := session_user;
    ELSE
      NEW.staff := session_user;
    END IF;
  END IF;
  RETURN NEW;
END $$""")
    for table in LOGS:
        run(
            f"CREATE TRIGGER signed_in_actor BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION casework_signed_in_actor()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in LOGS:
            op.execute(f"DROP TRIGGER IF EXISTS signed_in_actor ON {table}")
        op.execute("DROP FUNCTION IF EXISTS casework_signed_in_actor()")
        for table in [*IDENTITY, *CODED, *LOGS]:
            op.execute(f"DROP POLICY IF EXISTS by_case ON {table}")
            op.execute(f"DROP POLICY IF EXISTS service ON {table}")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
        op.execute("DROP FUNCTION IF EXISTS casework_sees_client(integer)")
        op.execute("DROP FUNCTION IF EXISTS casework_sees_case(integer)")
        op.execute("DROP FUNCTION IF EXISTS casework_sees(text, text)")
    op.drop_index(op.f('ix_access_log_staff_at'), table_name='access_log')
    op.drop_index(op.f('ix_access_log_case_id_at'), table_name='access_log')
    op.drop_table('access_log')
    op.drop_table('staff_programs')
    op.drop_table('staff')
