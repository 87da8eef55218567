"""Workers' heartbeat for the silent-worker alert, and the open operational incidents (each
alert emailed once per incident) (owned by observability).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 17:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.db

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dispatch_worker_heartbeat',
    sa.Column('worker', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('started_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seen_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('worker')
    )
    op.create_table('dispatch_ops_incident',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('opened_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade() -> None:
    op.drop_table('dispatch_ops_incident')
    op.drop_table('dispatch_worker_heartbeat')
