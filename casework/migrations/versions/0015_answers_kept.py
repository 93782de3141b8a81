"""answers kept: an instrument's items answered in words, and a program's own questions
on its stage forms

Revision ID: 0015
Revises: 0014

- `narratives.answers`: the answers given with a stage submission outside the run's form,
  for the submission the narrative belongs to: an instrument's items answered in words
  (instrument id -> {item id -> the words}) and the program's questions that bear identity
  (`questions` -> {question id -> the answer}). NULL when none were given, as for every
  row before this release; a submission with such answers and no narrative keeps an empty
  narrative text.
- `stage_events.answers`: the program's own coded questions (question id -> the code,
  number, yes/no or date), as answered with the form that made the move. NULL when the
  program asked none, as for every row before this release.

On PostgreSQL the tables' grants and row-level security (0007, 0011) cover the columns:
`narratives` is read and written by case managers and supervisors of the case only (never
program managers, operators or admins), and only a held row (a form in hand-over) may be
deleted by staff; `stage_events` is read as the rest of the case's coded record is.
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
    with op.batch_alter_table('stage_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answers', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('stage_events', schema=None) as batch_op:
        batch_op.drop_column('answers')
    with op.batch_alter_table('narratives', schema=None) as batch_op:
        batch_op.drop_column('answers')
