"""a client's own copy: who read their cases, for the supervisor who makes it

Revision ID: 0024
Revises: 0023

A subject-access copy (`casework client-record`) gives the client the access log's entries
for their cases: who read them, when. A supervisor's role may not read the access log
(migration 0007), so on PostgreSQL `casework_case_accesses(cases)` hands them back with
its definer's rights: the entries of the cases in `cases` that the caller sees, and only
to a supervisor or the service role (anyone else gets none). EXECUTE is granted to
casework_staff and casework_service. Nothing is added on SQLite, where the store is read
whole by whoever may open it.

No form, flow or stage changes: runs waiting under 0023 are untouched.
"""

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar()
    op.execute(f"""
CREATE FUNCTION casework_case_accesses(cases integer[])
RETURNS TABLE(at timestamptz, staff text, case_id integer, what text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = "{schema}" AS $$
  SELECT a.at, a.staff::text, a.case_id, a.what::text FROM access_log a
  WHERE a.case_id = ANY(cases) AND casework_sees_case(a.case_id)
    AND (pg_has_role(session_user, 'casework_supervisor', 'member')
         OR pg_has_role(session_user, 'casework_service', 'member'))
  ORDER BY a.at, a.id
$$""")
    op.execute("REVOKE ALL ON FUNCTION casework_case_accesses(integer[]) FROM PUBLIC")
    op.execute(
        "GRANT EXECUTE ON FUNCTION casework_case_accesses(integer[]) "
        "TO casework_staff, casework_service"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION casework_case_accesses(integer[])")
