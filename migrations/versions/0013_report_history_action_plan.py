"""Index history, peer results and the followed-through action plan (issue 24).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 17:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # history (reports) -- begin
    op.create_table('indexhistory',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('index', sa.Float(), nullable=False),
    sa.Column('internal', sa.Float(), nullable=True),
    sa.Column('external', sa.Float(), nullable=True),
    sa.Column('expert', sa.Float(), nullable=True),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('entered_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('institution_id', 'year', name='uq_indexhistory_institution_year')
    )
    op.create_index(op.f('ix_indexhistory_institution_id'), 'indexhistory', ['institution_id'], unique=False)
    with op.batch_alter_table('correctioninput') as batch:
        batch.add_column(sa.Column('kpk_inputs', sa.JSON(), nullable=False, server_default='{}'))
    # history (reports) -- end
    # action plan -- begin (actionplan/models.py)
    op.create_table('actionitem',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=40), nullable=False),
    sa.Column('group', sa.String(length=16), nullable=False),
    sa.Column('dimension', sa.String(length=200), nullable=False),
    sa.Column('variable', sa.String(length=400), nullable=False),
    sa.Column('levels', sa.String(length=400), nullable=False),
    sa.Column('recommendation', sa.Text(), nullable=False),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('mcp_area', sa.String(length=200), nullable=False),
    sa.Column('success_criteria', sa.Text(), nullable=False),
    sa.Column('success_measure', sa.Text(), nullable=False),
    sa.Column('owner_unit_id', sa.Integer(), nullable=True),
    sa.Column('timing', sa.String(length=60), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('updated_by', sa.String(length=120), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], ),
    sa.ForeignKeyConstraint(['owner_unit_id'], ['unit.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_actionitem_campaign_id'), 'actionitem', ['campaign_id'], unique=False)
    op.create_index(op.f('ix_actionitem_institution_id'), 'actionitem', ['institution_id'], unique=False)
    op.create_table('actionevidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('file_type', sa.String(length=10), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('stored', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('uploaded_by', sa.String(length=120), nullable=False),
    sa.Column('uploaded_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], ),
    sa.ForeignKeyConstraint(['item_id'], ['actionitem.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('stored')
    )
    op.create_index(op.f('ix_actionevidence_institution_id'), 'actionevidence', ['institution_id'], unique=False)
    op.create_index(op.f('ix_actionevidence_item_id'), 'actionevidence', ['item_id'], unique=False)
    # action plan -- end
    pass


def downgrade() -> None:
    # action plan -- begin
    op.drop_index(op.f('ix_actionevidence_item_id'), table_name='actionevidence')
    op.drop_index(op.f('ix_actionevidence_institution_id'), table_name='actionevidence')
    op.drop_table('actionevidence')
    op.drop_index(op.f('ix_actionitem_institution_id'), table_name='actionitem')
    op.drop_index(op.f('ix_actionitem_campaign_id'), table_name='actionitem')
    op.drop_table('actionitem')
    # action plan -- end
    pass
    # history (reports) -- begin
    with op.batch_alter_table('correctioninput') as batch:
        batch.drop_column('kpk_inputs')
    op.drop_index(op.f('ix_indexhistory_institution_id'), table_name='indexhistory')
    op.drop_table('indexhistory')
    # history (reports) -- end
