"""trust that holds: duplicate checks scored inside the database, clients seen only through
their cases, every change to a case record written down by the database itself, and one
open case per client and program

Revision ID: 0011
Revises: 0010

Both dialects:

- `client_match.sounds`: the metaphone of each word (and whole) of a client's folded
  names, as models.matching computes it, so that PostgreSQL can score a pair exactly as
  Python does without the database learning another sound algorithm. Filled here.
- `change_log`: one row per insert, update or delete of a case, client, referral, notice
  or escalation (on PostgreSQL written by trigger, whoever wrote: a command, a flow, raw
  SQL), naming the columns changed (never their values) and the role signed in.
- one open case per client and program, by a partial unique index. A store that already
  holds two open cases of one client in one program is named and not migrated: close or
  merge one with the release that made them, then upgrade.

PostgreSQL only:

- `casework_sees_client`: a client is seen through a case the viewer sees. A client with
  no case (merged away, or an intake that never finished) is seen by the service role, by
  supervisors of the client it was merged into, and (not merged) by supervisors, who run
  merges; never by case managers of other programs, as before.
- registering a client inserts its row without reading it back (policy `register`):
  intake writes the client, then the case, then the match row, all in one transaction.
- `casework_match(...)` replaces `casework_match_rows`: it takes the person at intake and
  hands back client numbers, scores and coded signals, never a stored identity;
  `casework_likely_pairs(minimum)` is the whole-store scan, numbers and scores only. Both
  are audited; the first is for the roles that register clients, the second for the
  roles that merge them.
- `casework_client(number, program)` answers about `program` only for staff who work in
  it, and every staff call is audited.
- narratives: staff may delete only a narrative still held for a form in hand-over (its
  key has a `~`), which is how a refused form's held text is removed.
- `casework_client_cases` counts a case's open breaches, not their rungs.
- column grants: on cases and clients each staff role may update only the columns its
  commands write (NOT_WRITTEN below); every change to them is in change_log anyway.
"""

import sqlalchemy as sa
from alembic import op

import casework.models.base

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

SERVICE = "casework_service"
STAFF = "casework_staff"
CASE_MANAGER, SUPERVISOR = "casework_case_manager", "casework_supervisor"
PROGRAM_MANAGER, OPERATOR, ADMIN = "casework_program_manager", "casework_operator", "casework_admin"
WRITERS = (CASE_MANAGER, SUPERVISOR)
EVERY = (CASE_MANAGER, SUPERVISOR, PROGRAM_MANAGER, OPERATOR, ADMIN, SERVICE)
MAX_KEYS = 16
CHANGED = {  # table: the column naming its case (None: the row is the case, or a client)
    "cases": "id",
    "clients": None,
    "referrals": "case_id",
    "adverse_notices": "case_id",
    "escalations": "case_id",
}
# The columns of cases and clients no command of a staff role writes, which it may
# therefore not update (a reassignment is a transfer, by a supervisor or an operator; a
# client's number and program are fixed; identity is written at registration only).
# Other tables keep 0007's table-wide grants, and every change to them is logged.
NOT_WRITTEN = {
    ("cases", CASE_MANAGER): {"id", "case_number", "client_id", "program", "case_manager",
                              "announce_pending", "created"},
    ("cases", SUPERVISOR): {"id", "case_number", "program", "created"},
    ("cases", OPERATOR): {"id", "case_number", "client_id", "program", "created"},
}
CLIENTS_UPDATED_BY = {SUPERVISOR: ["merged_into_id", "updated"]}  # a merge; nobody else


def upgrade() -> None:
    with op.batch_alter_table('client_match') as batch:
        batch.add_column(sa.Column('sounds', sa.JSON(), nullable=True))
    _fill_sounds()
    op.create_table('change_log',
    sa.Column('table_name', sa.String(length=40), nullable=False),
    sa.Column('row_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('operation', sa.String(length=10), nullable=False),
    sa.Column('columns', sa.JSON(), nullable=False),
    sa.Column('actor', sa.String(length=63), nullable=False),
    sa.Column('at', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_change_log'))
    )
    op.create_index(op.f('ix_change_log_case_id_at'), 'change_log', ['case_id', 'at'])
    op.create_index(op.f('ix_change_log_table_name_row_id'), 'change_log', ['table_name', 'row_id'])
    _refuse_open_clashes()
    op.create_index(
        'uq_cases_one_open_per_client_program', 'cases', ['client_id', 'program'], unique=True,
        postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"),
    )
    if op.get_bind().dialect.name == "postgresql":
        _secure_postgresql()


def _fill_sounds() -> None:
    import json

    from casework.models.matching import Identity

    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, given, family, born FROM client_match")).all()
    for row_id, given, family, born in rows:
        sounds = Identity(given, family, born).sounds()
        bind.execute(
            sa.text("UPDATE client_match SET sounds = :sounds WHERE id = :id"),
            {"sounds": json.dumps(sounds), "id": row_id},
        )


def _refuse_open_clashes() -> None:
    clashes = op.get_bind().execute(sa.text(
        "SELECT client_id, program, count(*) FROM cases WHERE status = 'open' "
        "GROUP BY client_id, program HAVING count(*) > 1"
    )).all()
    if clashes:
        named = op.get_bind().execute(sa.text(
            "SELECT case_number FROM cases c WHERE status = 'open' AND EXISTS (SELECT 1 FROM "
            "cases d WHERE d.client_id = c.client_id AND d.program = c.program "
            "AND d.status = 'open' AND d.id <> c.id) ORDER BY id"
        )).scalars().all()
        raise RuntimeError(
            "store: clients with two open cases in one program (" + ", ".join(named) + "); "
            "close one of each with the release that opened them, then upgrade"
        )


def _secure_postgresql() -> None:
    run = op.execute
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar()
    definer = f'SECURITY DEFINER SET search_path = "{schema}"'
    run("GRANT INSERT ON change_log TO " + ", ".join(EVERY))
    run("GRANT SELECT ON change_log TO " + f"{SERVICE}, {ADMIN}")
    run("GRANT USAGE ON SEQUENCE change_log_id_seq TO " + ", ".join(EVERY))
    _seeing_clients(run, definer)
    _scoring(run, definer)
    _client_lookup(run, definer)
    _change_triggers(run, definer)
    _other_cases_count_breaches(run, definer)
    _column_grants(run)
    # A held narrative is removed when its form is refused, or replaced by the stage's own.
    run(f"GRANT DELETE ON narratives TO {', '.join(WRITERS)}")
    run(
        f"CREATE POLICY held_only ON narratives AS RESTRICTIVE FOR DELETE TO {STAFF} "
        "USING (position('~' in stage_key) > 0)"
    )


def _seeing_clients(run, definer: str) -> None:  # type: ignore[no-untyped-def]
    run(f"""
CREATE OR REPLACE FUNCTION casework_sees_client(target integer) RETURNS boolean
LANGUAGE sql STABLE {definer} AS $$
  SELECT CASE
    WHEN EXISTS (SELECT 1 FROM cases c WHERE c.client_id = target) THEN
      EXISTS (SELECT 1 FROM cases c WHERE c.client_id = target AND casework_sees_case(c.id))
    WHEN pg_has_role(session_user, '{SERVICE}', 'member') THEN true
    WHEN NOT pg_has_role(session_user, '{SUPERVISOR}', 'member') THEN false
    ELSE COALESCE((SELECT k.merged_into_id IS NULL OR casework_sees_client(k.merged_into_id)
                   FROM clients k WHERE k.id = target), false)
  END
$$""")
    run(
        f"CREATE POLICY register ON clients AS PERMISSIVE FOR INSERT TO {', '.join(WRITERS)} "
        "WITH CHECK (true)"
    )


def _scoring(run, definer: str) -> None:  # type: ignore[no-untyped-def]
    run("DROP FUNCTION casework_match_rows(text[])")
    # rapidfuzz's JaroWinkler.similarity (prefix weight 0.1), step for step: the same
    # floating-point operations in the same order, so the scores are equal, not close.
    run("""
CREATE FUNCTION casework_jaro_winkler(a text, b text) RETURNS double precision
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  plen integer := length(a);
  tlen integer := length(b);
  s1 text := a;
  s2 text := b;
  bound integer;
  f1 boolean[];
  f2 boolean[];
  common integer := 0;
  trans integer := 0;
  prefix integer := 0;
  k integer := 0;
  at integer;
  ch text;
  sim double precision;
BEGIN
  IF plen = 0 AND tlen = 0 THEN RETURN 1.0; END IF;
  IF plen = 0 OR tlen = 0 THEN RETURN 0.0; END IF;
  FOR i IN 1..least(plen, tlen, 4) LOOP
    EXIT WHEN substr(a, i, 1) <> substr(b, i, 1);
    prefix := prefix + 1;
  END LOOP;
  IF plen = 1 AND tlen = 1 THEN
    sim := CASE WHEN a = b THEN 1.0 ELSE 0.0 END;
  ELSE
    IF tlen > plen THEN
      bound := tlen / 2 - 1;
      IF tlen > plen + bound THEN s2 := left(b, plen + bound); END IF;
    ELSE
      bound := plen / 2 - 1;
      IF plen > tlen + bound THEN s1 := left(a, tlen + bound); END IF;
    END IF;
    f1 := array_fill(false, ARRAY[plen]);
    f2 := array_fill(false, ARRAY[tlen]);
    FOR i IN 0..length(s1) - 1 LOOP
      ch := substr(s1, i + 1, 1);
      FOR j IN greatest(0, i - bound)..least(i + bound, tlen - 1) LOOP
        IF NOT f2[j + 1] AND substr(s2, j + 1, 1) = ch THEN
          f1[i + 1] := true;
          f2[j + 1] := true;
          common := common + 1;
          EXIT;
        END IF;
      END LOOP;
    END LOOP;
    IF common = 0 THEN RETURN 0.0; END IF;
    FOR i IN 0..plen - 1 LOOP
      IF f1[i + 1] THEN
        at := k;
        FOR j IN k..tlen - 1 LOOP
          at := j;
          IF f2[j + 1] THEN k := j + 1; EXIT; END IF;
        END LOOP;
        IF substr(s1, i + 1, 1) <> substr(s2, at + 1, 1) THEN trans := trans + 1; END IF;
      END IF;
    END LOOP;
    sim := (common::float8 / plen + common::float8 / tlen
            + (common - trans / 2)::float8 / common) / 3.0::float8;
  END IF;
  IF sim > 0.7::float8 THEN
    sim := sim + prefix * 0.1::float8 * (1.0::float8 - sim);
  END IF;
  RETURN sim;
END $$""")
    # models.matching._similar, _family, _given, transposed and score, in the same order.
    run("""
CREATE FUNCTION casework_similar(a text, b text, a_sounds json, b_sounds json)
RETURNS double precision LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  sim double precision;
BEGIN
  IF a = '' OR b = '' THEN RETURN 0.0; END IF;
  sim := casework_jaro_winkler(a, b);
  IF sim < 0.9::float8 AND (a_sounds ->> a) = (b_sounds ->> b) THEN sim := 0.9::float8; END IF;
  RETURN sim;
END $$""")
    run("""
CREATE FUNCTION casework_family_alike(a text, b text, a_sounds json, b_sounds json)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT greatest(casework_similar(a, b, a_sounds, b_sounds),
    (SELECT max(casework_similar(x, y, a_sounds, b_sounds))
     FROM unnest(string_to_array(a, ' ')) x, unnest(string_to_array(b, ' ')) y))
$$""")
    run("""
CREATE FUNCTION casework_given_alike(a text, b text, a_sounds json, b_sounds json)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT greatest(casework_similar(a, b, a_sounds, b_sounds),
    casework_similar(split_part(a, ' ', 1), split_part(b, ' ', 1), a_sounds, b_sounds))
$$""")
    run("""
CREATE FUNCTION casework_birth_transposed(a date, b date) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  x text := to_char(a, 'YYYYMMDD');
  y text := to_char(b, 'YYYYMMDD');
  differ integer[] := '{}';
BEGIN
  IF extract(year FROM a) = extract(year FROM b) AND extract(month FROM a) = extract(day FROM b)
     AND extract(day FROM a) = extract(month FROM b) THEN
    RETURN true;
  END IF;
  FOR i IN 1..8 LOOP
    IF substr(x, i, 1) <> substr(y, i, 1) THEN differ := differ || i; END IF;
  END LOOP;
  RETURN cardinality(differ) = 2 AND differ[2] = differ[1] + 1
    AND substr(x, differ[1], 1) = substr(y, differ[2], 1)
    AND substr(x, differ[2], 1) = substr(y, differ[1], 1);
END $$""")
    run("""
CREATE FUNCTION casework_match_score(
  a_given text, a_family text, a_born date, a_phone text, a_id text, a_sounds json,
  b_given text, b_family text, b_born date, b_phone text, b_id text, b_sounds json,
  OUT score integer, OUT signals text[])
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  name double precision;
  birth double precision;
  named double precision;
  total double precision;
BEGIN
  signals := '{}';
  name := greatest(
    (casework_given_alike(a_given, b_given, a_sounds, b_sounds)
      + casework_family_alike(a_family, b_family, a_sounds, b_sounds)) / 2,
    (casework_given_alike(a_given, b_family, a_sounds, b_sounds)
      + casework_family_alike(a_family, b_given, a_sounds, b_sounds)) / 2);
  IF name >= 0.999::float8 THEN
    signals := signals || 'name'::text;
  ELSIF name >= 0.85::float8 THEN
    signals := signals || 'name_similar'::text;
  END IF;
  IF a_born = b_born THEN
    birth := 1.0;
    signals := signals || 'birth'::text;
  ELSIF casework_birth_transposed(a_born, b_born) THEN
    birth := 0.8::float8;
    signals := signals || 'birth_transposed'::text;
  ELSE
    birth := 0.0;
  END IF;
  named := least(greatest((name - 0.75::float8) / (1 - 0.75::float8), 0.0::float8), 1.0::float8);
  total := 0.6::float8 * named + 0.4::float8 * birth;
  IF coalesce(a_phone, '') <> '' AND a_phone = b_phone THEN
    total := total + 0.15::float8;
    signals := signals || 'phone'::text;
  END IF;
  IF coalesce(a_id, '') <> '' AND coalesce(b_id, '') <> '' THEN
    IF a_id = b_id THEN
      total := total + 0.25::float8;
      signals := signals || 'id'::text;
    ELSE
      total := total - 0.15::float8;
      signals := signals || 'id_differs'::text;
    END IF;
  END IF;
  score := round(100 * least(greatest(total, 0.0::float8), 1.0::float8))::integer;
END $$""")
    run(f"""
CREATE FUNCTION casework_match(p_given text, p_family text, p_born date, p_phone text,
                               p_id_number text, p_sounds json, wanted text[],
                               minimum integer)
RETURNS TABLE(client_id integer, client_number text, score integer, signals text[])
LANGUAGE plpgsql VOLATILE {definer} AS $$
DECLARE
  found integer;
BEGIN
  IF cardinality(wanted) > {MAX_KEYS} THEN
    RAISE EXCEPTION 'a duplicate check takes one person''s keys, at most {MAX_KEYS}'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN QUERY
    SELECT m.client_id, c.client_number::text, s.score, s.signals
    FROM (SELECT DISTINCT k.client_id FROM client_keys k WHERE k.key = ANY(wanted)) hit
    JOIN client_match m ON m.client_id = hit.client_id
    JOIN clients c ON c.id = hit.client_id AND c.merged_into_id IS NULL,
    LATERAL casework_match_score(p_given, p_family, p_born, p_phone, p_id_number, p_sounds,
      m.given, m.family, m.born, m.phone, m.id_number, m.sounds) s
    WHERE s.score >= minimum;
  GET DIAGNOSTICS found = ROW_COUNT;
  IF pg_has_role(session_user, '{STAFF}', 'member') THEN
    INSERT INTO audit_events (case_id, episode, actor, action, detail, at, created, updated)
    VALUES (NULL, NULL, session_user, 'duplicate_check',
            json_build_object('keys', coalesce(cardinality(wanted), 0), 'found', found),
            now(), now(), now());
  END IF;
END $$""")
    # Pairs sharing a key, each scored once. A block of names alone cannot reach a
    # minimum above what a name earns alone (60): skipped then, as Python skips it.
    run(f"""
CREATE FUNCTION casework_likely_pairs(minimum integer)
RETURNS TABLE(first text, second text, score integer, signals text[])
LANGUAGE plpgsql VOLATILE {definer} AS $$
DECLARE
  found integer;
BEGIN
  IF pg_has_role(session_user, '{STAFF}', 'member') AND NOT (
      pg_has_role(session_user, '{SUPERVISOR}', 'member')
      OR pg_has_role(session_user, '{ADMIN}', 'member')) THEN
    RAISE EXCEPTION 'the whole-store duplicate scan is for supervisors and admins'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN QUERY
    WITH pairs AS (
      SELECT DISTINCT a.client_id AS x, b.client_id AS y
      FROM client_keys a JOIN client_keys b ON b.key = a.key AND b.client_id > a.client_id
      WHERE NOT (a.key LIKE 'n:%' AND minimum > 60)
    )
    SELECT ca.client_number::text, cb.client_number::text, s.score, s.signals
    FROM pairs
    JOIN client_match ma ON ma.client_id = pairs.x
    JOIN client_match mb ON mb.client_id = pairs.y
    JOIN clients ca ON ca.id = pairs.x AND ca.merged_into_id IS NULL
    JOIN clients cb ON cb.id = pairs.y AND cb.merged_into_id IS NULL,
    LATERAL casework_match_score(ma.given, ma.family, ma.born, ma.phone, ma.id_number,
      ma.sounds, mb.given, mb.family, mb.born, mb.phone, mb.id_number, mb.sounds) s
    WHERE s.score >= minimum;
  GET DIAGNOSTICS found = ROW_COUNT;
  IF pg_has_role(session_user, '{STAFF}', 'member') THEN
    INSERT INTO audit_events (case_id, episode, actor, action, detail, at, created, updated)
    VALUES (NULL, NULL, session_user, 'duplicate_scan',
            json_build_object('minimum', minimum, 'found', found), now(), now(), now());
  END IF;
END $$""")
    run(
        "REVOKE ALL ON FUNCTION casework_match(text, text, date, text, text, json, text[], "
        "integer), casework_likely_pairs(integer) FROM PUBLIC"
    )
    run(
        "GRANT EXECUTE ON FUNCTION casework_match(text, text, date, text, text, json, "
        f"text[], integer) TO {', '.join(WRITERS)}, {SERVICE}"
    )
    run(
        "GRANT EXECUTE ON FUNCTION casework_likely_pairs(integer) TO "
        f"{SUPERVISOR}, {ADMIN}, {SERVICE}"
    )


def _client_lookup(run, definer: str) -> None:  # type: ignore[no-untyped-def]
    run("DROP FUNCTION casework_client(text, text)")
    run(f"""
CREATE FUNCTION casework_client(number text, program text)
RETURNS TABLE(id integer, merged_into text, cases integer, open_case text)
LANGUAGE plpgsql VOLATILE {definer} AS $$
DECLARE
  staff boolean := pg_has_role(session_user, '{STAFF}', 'member');
BEGIN
  IF program IS NOT NULL AND staff AND NOT EXISTS (
      SELECT 1 FROM staff_programs p JOIN staff s ON s.staff_id = p.staff_id
      WHERE p.staff_id = session_user AND p.program = casework_client.program AND s.active) THEN
    RAISE EXCEPTION 'program: you do not work in %', program
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF staff THEN
    INSERT INTO audit_events (case_id, episode, actor, action, detail, at, created, updated)
    VALUES (NULL, NULL, session_user, 'client_looked_up',
            json_build_object('client', number, 'program', program), now(), now(), now());
  END IF;
  RETURN QUERY
    SELECT c.id, m.client_number::text,
      (SELECT count(*)::integer FROM cases k WHERE k.client_id = c.id),
      (SELECT k.case_number::text FROM cases k WHERE k.client_id = c.id
       AND k.status = 'open' AND k.program = casework_client.program ORDER BY k.id LIMIT 1)
    FROM clients c LEFT JOIN clients m ON m.id = c.merged_into_id
    WHERE c.client_number = number;
END $$""")
    run("REVOKE ALL ON FUNCTION casework_client(text, text) FROM PUBLIC")
    run(f"GRANT EXECUTE ON FUNCTION casework_client(text, text) TO {', '.join(EVERY)}")


def _other_cases_count_breaches(run, definer: str) -> None:  # type: ignore[no-untyped-def]
    # 0008's function, counting a case's open breaches (not their rungs: a breach at
    # level 2 has its level-1 rung open too).
    run(f"""
CREATE OR REPLACE FUNCTION casework_client_cases(client integer, seen_case integer)
RETURNS TABLE(case_number text, program text, stage text, status text, crisis boolean,
              escalations integer)
LANGUAGE sql STABLE {definer} AS $$
  SELECT k.case_number,
    CASE WHEN shown THEN k.program END,
    CASE WHEN shown THEN k.stage END,
    k.status,
    k.crisis_since IS NOT NULL,
    CASE WHEN shown THEN (SELECT count(DISTINCT (e.rule, e.subject))::integer
                          FROM escalations e
                          WHERE e.case_id = k.id AND e.resolved_at IS NULL) END
  FROM cases k,
    LATERAL (SELECT casework_sees_case(k.id) OR EXISTS (
      SELECT 1 FROM staff_programs p WHERE p.staff_id = session_user
      AND p.program = k.program) AS shown) v
  WHERE k.client_id = client AND k.id <> seen_case AND casework_sees_case(seen_case)
    AND EXISTS (SELECT 1 FROM cases s WHERE s.id = seen_case AND s.client_id = client)
  ORDER BY k.id
$$""")


def _change_triggers(run, definer: str) -> None:  # type: ignore[no-untyped-def]
    # Definer's rights: staff insert into change_log through the trigger only (they may
    # not read it), and the row names who signed in, never who they say they are.
    run(f"""
CREATE FUNCTION casework_log_change() RETURNS trigger LANGUAGE plpgsql {definer} AS $$
DECLARE
  fresh jsonb := CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_jsonb(NEW) END;
  stale jsonb := CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD) END;
  row_json jsonb := coalesce(fresh, stale);
  changed jsonb;
BEGIN
  SELECT coalesce(jsonb_agg(key ORDER BY key), '[]'::jsonb) INTO changed
  FROM jsonb_object_keys(coalesce(fresh, stale)) AS key
  WHERE key NOT IN ('created', 'updated')
    AND (TG_OP <> 'UPDATE' OR fresh -> key IS DISTINCT FROM stale -> key);
  IF TG_OP = 'UPDATE' AND changed = '[]'::jsonb THEN
    RETURN NULL;
  END IF;
  INSERT INTO change_log (table_name, row_id, case_id, operation, columns, actor, at,
                          created, updated)
  VALUES (TG_TABLE_NAME, (row_json ->> 'id')::integer,
          CASE TG_ARGV[0] WHEN '' THEN NULL ELSE (row_json ->> TG_ARGV[0])::integer END,
          lower(TG_OP), changed::json, session_user, now(), now(), now());
  RETURN NULL;
END $$""")
    for table, case_column in CHANGED.items():
        run(
            f"CREATE TRIGGER log_change AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION casework_log_change('{case_column or ''}')"
        )
    run("REVOKE ALL ON FUNCTION casework_log_change() FROM PUBLIC")


def _column_grants(run) -> None:  # type: ignore[no-untyped-def]
    for (table, role), barred in NOT_WRITTEN.items():
        columns = op.get_bind().execute(sa.text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = :table "
            "ORDER BY ordinal_position"
        ), {"table": table}).scalars().all()
        run(f"REVOKE UPDATE ON {table} FROM {role}")
        allowed = ", ".join(c for c in columns if c not in barred)
        run(f"GRANT UPDATE ({allowed}) ON {table} TO {role}")
    for role in WRITERS:
        run(f"REVOKE UPDATE ON clients FROM {role}")
    for role, columns in CLIENTS_UPDATED_BY.items():
        run(f"GRANT UPDATE ({', '.join(columns)}) ON clients TO {role}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        raise NotImplementedError("0011 does not downgrade on PostgreSQL: restore a backup")
    op.drop_index('uq_cases_one_open_per_client_program', table_name='cases')
    op.drop_index(op.f('ix_change_log_table_name_row_id'), table_name='change_log')
    op.drop_index(op.f('ix_change_log_case_id_at'), table_name='change_log')
    op.drop_table('change_log')
    with op.batch_alter_table('client_match') as batch:
        batch.drop_column('sounds')

