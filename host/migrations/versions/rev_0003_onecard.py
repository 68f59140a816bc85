"""The estate one-card (issue 14, host.onecard): the registry and mirror
(`onecards`), every one-card transaction (`onecard_txns`) and the cards
refused and shown to staff (`onecard_flags`). Only new tables.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 14:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('onecards',
    sa.Column('uid', sa.String(length=8), nullable=False),
    sa.Column('serial', sa.BigInteger(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=True),
    sa.Column('house_no', sa.String(length=16), nullable=True),
    sa.Column('holder', sa.String(length=100), nullable=False),
    sa.Column('card_type', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('issued', sa.Date(), nullable=False),
    sa.Column('expiry', sa.Date(), nullable=False),
    sa.Column('black', sa.Boolean(), nullable=False),
    sa.Column('balance_fen', sa.BigInteger(), nullable=False),
    sa.Column('txn_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], ),
    sa.PrimaryKeyConstraint('uid'),
    sa.UniqueConstraint('serial')
    )
    op.create_table('onecard_txns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('txn_id', sa.String(length=64), nullable=False),
    sa.Column('kiosk_id', sa.String(length=32), nullable=False),
    sa.Column('uid', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('txn_type', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('balance_before', sa.BigInteger(), nullable=False),
    sa.Column('count_before', sa.Integer(), nullable=False),
    sa.Column('balance_after', sa.BigInteger(), nullable=False),
    sa.Column('count_after', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('masked_pan', sa.String(length=19), nullable=True),
    sa.Column('household_id', sa.Integer(), nullable=True),
    sa.Column('periods', sa.String(length=200), nullable=True),
    sa.Column('late_fee_fen', sa.BigInteger(), nullable=True),
    sa.Column('reference', sa.String(length=12), nullable=True),
    sa.Column('business_day', sa.Date(), nullable=False),
    sa.Column('reply_json', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('resolved_by', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['bank_accounts.id'], ),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reference'),
    sa.UniqueConstraint('txn_id')
    )
    op.create_index('ix_onecard_txns_household_state', 'onecard_txns', ['household_id', 'state'], unique=False)
    op.create_index(op.f('ix_onecard_txns_uid'), 'onecard_txns', ['uid'], unique=False)
    op.create_index('ix_onecard_txns_uid_state', 'onecard_txns', ['uid', 'state'], unique=False)
    op.create_table('onecard_flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=8), nullable=False),
    sa.Column('kiosk_id', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.String(length=300), nullable=False),
    sa.Column('cleared_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_onecard_flags_uid'), 'onecard_flags', ['uid'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_onecard_flags_uid'), table_name='onecard_flags')
    op.drop_table('onecard_flags')
    op.drop_index('ix_onecard_txns_uid_state', table_name='onecard_txns')
    op.drop_index(op.f('ix_onecard_txns_uid'), table_name='onecard_txns')
    op.drop_index('ix_onecard_txns_household_state', table_name='onecard_txns')
    op.drop_table('onecard_txns')
    op.drop_table('onecards')
