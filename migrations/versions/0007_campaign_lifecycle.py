"""Campaign lifecycle: closed/archived/purged with when and why.

campaign gets who closed it, when and why (by a person, or "system" at its closing date), who
archived it and when, and when its contact data was purged (core.campaigns, integrity.purge).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 16:45:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.db

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('closed_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True))
        batch_op.add_column(sa.Column('closed_reason', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))
        batch_op.add_column(sa.Column('archived_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('archived_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True))
        batch_op.add_column(sa.Column('purged_at', core.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN on both dialects (SQLite >= 3.35): a batch "move and copy" would drop and
    # recreate `campaign`, which every other table references, and SQLite's foreign keys refuse that.
    for name in ('purged_at', 'archived_by', 'archived_at', 'closed_reason', 'closed_by', 'closed_at'):
        op.execute(f'ALTER TABLE campaign DROP COLUMN {name}')
