"""written answers: an instrument's items answered in words, kept with the assessment's
narrative in the case store, never in a run's input

Revision ID: 0015
Revises: 0014

- `narratives.answers`: instrument id -> {item id -> the words}, for the submission the
  narrative belongs to (NULL: none were given, as for every row before this release). A
  submission with written answers and no narrative keeps an empty narrative text.

On PostgreSQL the table's grants and row-level security (0007, 0011) cover the column:
case managers and supervisors of the case read and write it, program managers, operators
and admins never read it, and a held row (a form in hand-over) is the only one staff may
delete.
"""

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('narratives', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answers', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('narratives', schema=None) as batch_op:
        batch_op.drop_column('answers')
