"""instruments as data: each assessment keeps, per instrument, the version it was taken
with, its answers, scores and bands; the domains it put in crisis; and the store keeps
each instrument version's declaration as first used

Revision ID: 0013
Revises: 0012

- `assessments.instruments`: instrument id -> {version, answers, scores, bands,
  crisis_flags, crisis_domains, domain_scores, risk}. Every assessment before this release
  was taken with the self-sufficiency matrix, version 1 (the form of 0.x): its answers are
  its domain scores and crisis flags, its scores worked out here as the matrix declares them
  (lowest domain, domains at 2 or lower, all domains added).
- `assessments.crisis_domains`: the needs domains the assessment put in crisis (the plan
  must cover them); before this release, the domains scored 1.
- `instrument_versions`: an instrument's declaration per version, written the first time
  the version is used (`casework up` writes those it starts with). Coded: no client's data.

On PostgreSQL every staff role and the service role read `instrument_versions`; the service
role and operators write it (`up` runs as one of them). Table grants (0007) cover the new
columns of `assessments`.
"""

import sqlalchemy as sa
from alembic import op

import casework.models.base

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

MATRIX = "self_sufficiency_matrix"
CRISIS_SCREEN = [
    "suicide_or_self_harm_risk", "domestic_violence_risk", "homeless_tonight",
    "medical_emergency", "child_safety_concern",
]
ROLES = [
    "casework_case_manager", "casework_supervisor", "casework_program_manager",
    "casework_operator", "casework_admin", "casework_service",
]


def _as_matrix(scores: dict[str, int], flags: list[str], risk: str) -> dict[str, object]:
    values = [int(v) for v in scores.values()]
    return {
        MATRIX: {
            "version": 1,
            "answers": {**scores, **{flag: flag in flags for flag in CRISIS_SCREEN}},
            "scores": {
                "lowest": float(min(values)),
                "vulnerable_domains": float(sum(v <= 2 for v in values)),
                "total": float(sum(values)),
            } if values else {},
            "bands": {},
            "crisis_flags": list(flags),
            "crisis_domains": sorted(d for d, v in scores.items() if int(v) == 1),
            "domain_scores": dict(scores),
            "risk": risk,
        }
    }


def upgrade() -> None:
    with op.batch_alter_table('assessments') as batch:
        batch.add_column(sa.Column('crisis_domains', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('instruments', sa.JSON(), nullable=True))
    bind = op.get_bind()
    table = sa.table(
        'assessments',
        sa.column('id', sa.Integer()),
        sa.column('scores', sa.JSON()),
        sa.column('crisis_flags', sa.JSON()),
        sa.column('risk_level', sa.String()),
        sa.column('crisis_domains', sa.JSON()),
        sa.column('instruments', sa.JSON()),
    )
    rows = bind.execute(
        sa.select(table.c.id, table.c.scores, table.c.crisis_flags, table.c.risk_level)
    ).all()
    for row in rows:
        scores = row.scores or {}
        bind.execute(
            table.update().where(table.c.id == row.id).values(
                crisis_domains=sorted(d for d, v in scores.items() if int(v) == 1),
                instruments=_as_matrix(scores, row.crisis_flags or [], row.risk_level),
            )
        )
    with op.batch_alter_table('assessments') as batch:
        batch.alter_column('crisis_domains', existing_type=sa.JSON(), nullable=False)
        batch.alter_column('instruments', existing_type=sa.JSON(), nullable=False)
    op.create_table('instrument_versions',
    sa.Column('instrument', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=32), nullable=False),
    sa.Column('declaration', sa.JSON(), nullable=False),
    sa.Column('first_used', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated', casework.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instrument_versions')),
    sa.UniqueConstraint('instrument', 'version', name=op.f('uq_instrument_versions_instrument_version'))
    )
    if bind.dialect.name == "postgresql":
        op.execute("REVOKE ALL ON instrument_versions FROM PUBLIC")
        op.execute(f"GRANT SELECT ON instrument_versions TO {', '.join(ROLES)}")
        op.execute("GRANT INSERT ON instrument_versions TO casework_service, casework_operator")
        op.execute("GRANT USAGE ON SEQUENCE instrument_versions_id_seq TO casework_service, "
                   "casework_operator")


def downgrade() -> None:
    op.drop_table('instrument_versions')
    with op.batch_alter_table('assessments') as batch:
        batch.drop_column('instruments')
        batch.drop_column('crisis_domains')
