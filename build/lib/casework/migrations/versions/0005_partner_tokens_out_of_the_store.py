"""partner tokens out of the store: each provider names its token (token_ref); the token
itself moves to the data directory's 0600 partner-tokens.json

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from casework.core.credentials import save

    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT key, token FROM providers")).all()
    save({key: token for key, token in rows})
    with op.batch_alter_table('providers') as batch:
        batch.add_column(sa.Column('token_ref', sa.String(length=64), nullable=True))
    connection.execute(sa.text("UPDATE providers SET token_ref = key"))
    with op.batch_alter_table('providers') as batch:
        batch.alter_column('token_ref', nullable=False)
        batch.drop_column('token')


def downgrade() -> None:
    raise NotImplementedError("tokens stay out of the store")
