"""Dashboard sessions held server-side (revocable) and admins' TOTP second factor.

- monitor_session: one row per dashboard login; the cookie carries a random id whose SHA-256 is
  `token_hash`. Logout, a password change or disabling the user revokes rows; idle and absolute
  expiry are checked on every request.
- monitor_user.totp_secret / totp_enabled_at / totp_last_step: an optional TOTP second factor.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 16:45:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import core.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('monitor_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ip', sqlmodel.sql.sqltypes.AutoString(length=45), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['monitor_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('monitor_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitor_session_token_hash'), ['token_hash'], unique=True)
        batch_op.create_index(batch_op.f('ix_monitor_session_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('monitor_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret', sqlmodel.sql.sqltypes.AutoString(length=64),
                                      nullable=True))
        batch_op.add_column(sa.Column('totp_enabled_at', core.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35): a batch copy would recreate monitor_user, which
    # monitor_session and others reference.
    for name in ('totp_last_step', 'totp_enabled_at', 'totp_secret'):
        op.execute(f'ALTER TABLE monitor_user DROP COLUMN {name}')

    with op.batch_alter_table('monitor_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monitor_session_user_id'))
        batch_op.drop_index(batch_op.f('ix_monitor_session_token_hash'))

    op.drop_table('monitor_session')
