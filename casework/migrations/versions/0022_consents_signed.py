"""consent the client signs: what it shares, until when, and the signed document

Revision ID: 0022
Revises: 0021

- `consents.kind`: a consent to share (for referrals) or a release of information;
  `consents.scope`: what it lets the agency share; `consents.expires_on`: when it ends
  (none: until withdrawn). Rows written before this revision are consents to share the
  details a referral needs, without an end, as they were recorded.
- `consents.signed_at`, `signed_how` (desk | scan), `witness` (the staff member who saw it
  signed) and `signed_attachment_id`: the signed document, an attachment of the case
  (kind signed_consent). All coded: the client's typed name and drawn signature are in the
  signed document only, sealed with the case's attachments.

Runs waiting under 0021 are untouched: a case's run reads consents only when it records a
referral, and a consent recorded before this revision covers as it did. The new columns
fall under the table's grants and row-level policy (by the client), as its others do.
"""

import sqlalchemy as sa
from alembic import op

import casework.models.base

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=40), nullable=False, server_default='consent_to_share'))
        batch_op.add_column(sa.Column('scope', sa.String(length=40), nullable=False, server_default='referral_details'))
        batch_op.add_column(sa.Column('expires_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('signed_at', casework.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('signed_how', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('witness', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('signed_attachment_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_consents_signed_attachment_id_attachments'), 'attachments', ['signed_attachment_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_consents_signed_attachment_id_attachments'), type_='foreignkey')
        for column in ('signed_attachment_id', 'witness', 'signed_how', 'signed_at', 'expires_on', 'scope', 'kind'):
            batch_op.drop_column(column)
