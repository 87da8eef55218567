"""Counters (loket) per unit: name and daily visitors (owned by qr).

- qr_counter: one row per counter of a unit (unique per unit and name), with the average number
  of visitors a day; each counter gets its own poster. The name is also kept in unit.counters.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 16:45:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.db

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('qr_counter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('daily_visitors', sa.Integer(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('unit_id', 'name')
    )
    with op.batch_alter_table('qr_counter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qr_counter_institution_id'), ['institution_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('qr_counter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qr_counter_institution_id'))

    op.drop_table('qr_counter')
