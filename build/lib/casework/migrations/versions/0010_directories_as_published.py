"""directories as published: what a case manager chooses a provider by (description,
eligibility, address, postal codes, phone, languages, hours, taxonomy terms, a search
text), which directory a provider came from, and referral settings that may be absent (a
directory-only service: no electronic referral, made and tracked by hand)

Revision ID: 0010
Revises: 0009

Existing providers belong to the directory `main`, with their settings from `x-casework`.
Table grants (0007) cover the new columns.
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('providers') as batch:
        batch.add_column(sa.Column('description', sa.Text(), nullable=True))
        batch.add_column(sa.Column('eligibility', sa.Text(), nullable=True))
        batch.add_column(sa.Column('address', sa.String(length=300), nullable=True))
        batch.add_column(sa.Column('postal_codes', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('phone', sa.String(length=300), nullable=True))
        batch.add_column(sa.Column('languages', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('hours', sa.String(length=300), nullable=True))
        batch.add_column(sa.Column('taxonomy', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('search_text', sa.Text(), nullable=True))
        batch.add_column(
            sa.Column('directory', sa.String(length=40), nullable=False, server_default='main')
        )
        batch.add_column(sa.Column('partner', sa.String(length=64), nullable=True))
        batch.alter_column('category', existing_type=sa.String(length=40), nullable=True)
        batch.alter_column('endpoint', existing_type=sa.String(length=300), nullable=True)
        batch.alter_column('token_ref', existing_type=sa.String(length=64), nullable=True)
        batch.alter_column('response_days', existing_type=sa.Integer(), nullable=True)
        batch.create_index(batch.f('ix_providers_directory'), ['directory'], unique=False)
    op.execute(
        "UPDATE providers SET partner = 'x-casework', "
        "search_text = lower(service_name || ' ' || organization || ' ' || coalesce(location, ''))"
    )
    with op.batch_alter_table('providers') as batch:
        for column in ('postal_codes', 'languages', 'taxonomy', 'directory'):
            batch.alter_column(column, server_default=None)


def downgrade() -> None:
    raise NotImplementedError("directory-only providers have no place in the older schema")
