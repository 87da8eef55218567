"""Respondent cases (bukan saya, salah unit), the call-centre inbox and opt-in proof (issue 25).

- bot_case: a respondent's confirmed correction, waiting for the PIC (corrected, replaced, dropped).
- bot_agent_conversation: a question the bot could not answer, for the institution's agents.
- bot_consent: where and when a contact came to us with consent (list, QR registration, message).

New tables only (the pause of an assignment is a dispatch_hold row of scope "assignment").

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 17:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString as S

import core.db

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bot_case',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', S(length=16), nullable=False),
    sa.Column('phone', S(length=40), nullable=False),
    sa.Column('correction', sa.Text(), nullable=False),
    sa.Column('status', S(length=12), nullable=False),
    sa.Column('resolution', S(length=12), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=True),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('assignment_id', sa.Integer(), nullable=True),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('replacement_id', sa.Integer(), nullable=True),
    sa.Column('resolved_by', S(length=120), nullable=True),
    sa.Column('opened_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('bot_case', schema=None) as batch_op:
        batch_op.create_index('ix_bot_case_inst_status', ['institution_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_bot_case_assignment_id'), ['assignment_id'], unique=False)
    op.create_table('bot_agent_conversation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', S(length=40), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=True),
    sa.Column('status', S(length=12), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('unread', sa.Integer(), nullable=False),
    sa.Column('opened_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_in_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('first_response_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('bot_agent_conversation', schema=None) as batch_op:
        batch_op.create_index('ix_bot_agent_conv_inst_status', ['institution_id', 'status'], unique=False)
    op.create_table('bot_consent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('address', S(length=254), nullable=False),
    sa.Column('source', S(length=24), nullable=False),
    sa.Column('detail', S(length=600), nullable=False),
    sa.Column('consented_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('recorded_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('bot_consent', schema=None) as batch_op:
        batch_op.create_index('ux_bot_consent_person_addr', ['person_id', 'address', 'source'], unique=True)
        batch_op.create_index(batch_op.f('ix_bot_consent_person_id'), ['person_id'], unique=False)


def downgrade() -> None:
    op.drop_table('bot_consent')
    op.drop_table('bot_agent_conversation')
    op.drop_table('bot_case')
