"""single sign-on: the desk signs a staff member in to the store after their provider did

Revision ID: 0023
Revises: 0022

On PostgreSQL the desk reads the store as the signed-in staff member's own role (the
policies name `session_user`), and a password sign-in gives that role the password typed.
A person signed in by the agency's OpenID provider typed none here. So the desk's role
(casework_service) may call `casework_sso_password(staff, verifier)`, with the definer's
rights, which sets the role's password to one the desk derives from its registration's
secret, as a SCRAM verifier (never the password itself), and then signs in as that role.

It sets the password of a case manager's, supervisor's or program manager's role only
(the desk's roles), and only while that role may log in: `casework staff deactivate` makes
a role NOLOGIN, and this function then refuses it. An operator's or admin's role, the
service's own and any other are refused. EXECUTE is revoked from PUBLIC and granted to
casework_service alone. On SQLite there is nothing to do: the desk reads the store itself.

No form, flow or stage changes: runs waiting under 0022 are untouched.
"""

from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

FUNCTION = """
CREATE FUNCTION casework_sso_password(staff text, verifier text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  IF NOT pg_has_role(session_user, 'casework_service', 'member') THEN
    RAISE EXCEPTION 'only the desk sets a signed-on staff member''s password';
  END IF;
  IF verifier !~ '^SCRAM-SHA-256\\$[0-9]+:[A-Za-z0-9+/=]+\\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$' THEN
    RAISE EXCEPTION 'not a SCRAM-SHA-256 verifier';
  END IF;
  IF NOT EXISTS (
    SELECT 1 FROM pg_roles r WHERE r.rolname = staff AND r.rolcanlogin AND NOT r.rolsuper
      AND (pg_has_role(r.oid, 'casework_case_manager', 'member')
        OR pg_has_role(r.oid, 'casework_supervisor', 'member')
        OR pg_has_role(r.oid, 'casework_program_manager', 'member'))
      AND NOT pg_has_role(r.oid, 'casework_admin', 'member')
      AND NOT pg_has_role(r.oid, 'casework_operator', 'member')
      AND NOT pg_has_role(r.oid, 'casework_service', 'member')
  ) THEN
    RAISE EXCEPTION 'no desk staff role % may sign in', staff;
  END IF;
  EXECUTE format('ALTER ROLE %I PASSWORD %L', staff, verifier);
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)
        op.execute("REVOKE ALL ON FUNCTION casework_sso_password(text, text) FROM PUBLIC")
        op.execute("GRANT EXECUTE ON FUNCTION casework_sso_password(text, text) TO casework_service")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION casework_sso_password(text, text)")
