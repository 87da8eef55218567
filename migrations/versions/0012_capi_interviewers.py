"""Interviewers, their devices and CAPI submissions (issue 23).

- monitor_user.pin_hash: an interviewer's PIN for the shared tablet (argon2id).
- capi_interviewer_assignment: a sampled respondent handed to an interviewer.
- capi_submission: one interview or refusal received from a device (submission_id UNIQUE).
- capi_device, capi_wipe_order: tablets seen and the "delete unsynced data" orders.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 17:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.db

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

S = sqlmodel.sql.sqltypes.AutoString
T = core.db.UTCDateTime


def upgrade() -> None:
    # A plain ADD COLUMN (nullable, no default): no batch copy of monitor_user, which others reference.
    op.add_column('monitor_user', sa.Column('pin_hash', S(length=255), nullable=True))
    op.create_table('capi_interviewer_assignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('interviewer_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('assigned_by', S(length=120), nullable=False),
    sa.Column('assigned_at', T(timezone=True), nullable=False),
    sa.Column('refused_at', T(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignment.id'], ),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], ),
    sa.ForeignKeyConstraint(['interviewer_id'], ['monitor_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('assignment_id')
    )
    with op.batch_alter_table('capi_interviewer_assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_capi_interviewer_assignment_institution_id'), ['institution_id'], unique=False)  # noqa: E501
        batch_op.create_index(batch_op.f('ix_capi_interviewer_assignment_interviewer_id'), ['interviewer_id'], unique=False)  # noqa: E501
    op.create_table('capi_submission',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', S(length=64), nullable=False),
    sa.Column('interviewer_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('device_id', S(length=64), nullable=False),
    sa.Column('body_hash', S(length=64), nullable=False),
    sa.Column('mode', S(length=16), nullable=False),
    sa.Column('outcome', S(length=16), nullable=False),
    sa.Column('counter_id', sa.Integer(), nullable=True),
    sa.Column('refusal_reason', S(length=40), nullable=True),
    sa.Column('response_id', sa.Integer(), nullable=True),
    sa.Column('interviewed_at', T(timezone=True), nullable=True),
    sa.Column('received_at', T(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['counter_id'], ['qr_counter.id'], ),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], ),
    sa.ForeignKeyConstraint(['interviewer_id'], ['monitor_user.id'], ),
    sa.ForeignKeyConstraint(['response_id'], ['response.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('submission_id')
    )
    with op.batch_alter_table('capi_submission', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_capi_submission_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_capi_submission_counter_id'), ['counter_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_capi_submission_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_capi_submission_interviewer_id'), ['interviewer_id'], unique=False)
    op.create_table('capi_device',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', S(length=64), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('last_interviewer_id', sa.Integer(), nullable=True),
    sa.Column('first_seen_at', T(timezone=True), nullable=False),
    sa.Column('last_seen_at', T(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], ),
    sa.ForeignKeyConstraint(['last_interviewer_id'], ['monitor_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('device_id')
    )
    with op.batch_alter_table('capi_device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_capi_device_institution_id'), ['institution_id'], unique=False)
    op.create_table('capi_wipe_order',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', S(length=64), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('ordered_by', S(length=120), nullable=False),
    sa.Column('ordered_at', T(timezone=True), nullable=False),
    sa.Column('obeyed_at', T(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('capi_wipe_order', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_capi_wipe_order_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_capi_wipe_order_institution_id'), ['institution_id'], unique=False)


def downgrade() -> None:
    for table in ('capi_wipe_order', 'capi_device', 'capi_submission', 'capi_interviewer_assignment'):
        op.drop_table(table)
    op.execute('ALTER TABLE monitor_user DROP COLUMN pin_hash')
