"""WhatsApp as it really is: the messaging-limit ledger, holds, template approvals

- dispatch_wa_reach: when each number last got a template (business-initiated) message; the
  dispatcher never starts more unique numbers in a rolling 24 h than WHATSAPP_DAILY_LIMIT.
- dispatch_hold: bulk sending stopped for a sender (configuration problem, quality guard), a
  campaign or a wave; held rows stay pending.
- dispatch_template: the WhatsApp approval status and category of each Content API template.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 06:54:12.873582
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dispatch_hold',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('since', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('dispatch_hold', schema=None) as batch_op:
        batch_op.create_index('ux_dispatch_hold', ['scope', 'target'], unique=True)

    op.create_table('dispatch_template',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('content_sid', sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('rejection_reason', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('checked_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('dispatch_wa_reach',
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('last_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('address')
    )
    with op.batch_alter_table('dispatch_wa_reach', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispatch_wa_reach_last_at'), ['last_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('dispatch_wa_reach', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispatch_wa_reach_last_at'))

    op.drop_table('dispatch_wa_reach')
    op.drop_table('dispatch_template')
    with op.batch_alter_table('dispatch_hold', schema=None) as batch_op:
        batch_op.drop_index('ux_dispatch_hold')

    op.drop_table('dispatch_hold')
