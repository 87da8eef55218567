"""Units' own upload links and contact for deadline reminders (owned by the data-collection work).

- unit_upload_link: a unit's own upload link for one campaign; the token is derived from
  `token_nonce` and SECRET_KEY (core.tokens) and stored only as its SHA-256; revocable.
- unit.contact_email: the unit's office address for the reminder before the data deadline.

Independent of 0009/0010: touches only these two objects.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 17:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.db

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('unit_upload_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('token_nonce', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('token_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('unit_upload_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_upload_link_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_unit_upload_link_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_unit_upload_link_token_hash'), ['token_hash'], unique=True)
    # A plain ADD COLUMN (nullable, no default): no batch copy of `unit`, which others reference.
    op.add_column('unit', sa.Column('contact_email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True))


def downgrade() -> None:
    op.execute('ALTER TABLE unit DROP COLUMN contact_email')
    with op.batch_alter_table('unit_upload_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unit_upload_link_token_hash'))
        batch_op.drop_index(batch_op.f('ix_unit_upload_link_unit_id'))
        batch_op.drop_index(batch_op.f('ix_unit_upload_link_campaign_id'))
    op.drop_table('unit_upload_link')
