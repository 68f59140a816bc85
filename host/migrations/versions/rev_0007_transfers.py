"""Money between two cards (issue 14 deliverable 4): `transfers` and their
legs `transfer_legs`. Only new tables.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 16:45:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('transfers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('txn_id', sa.String(length=56), nullable=False),
    sa.Column('kiosk_id', sa.String(length=32), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=True),
    sa.Column('src_kind', sa.String(length=8), nullable=True),
    sa.Column('src_card', sa.String(length=20), nullable=True),
    sa.Column('src_wallet', sa.String(length=2), nullable=True),
    sa.Column('dst_kind', sa.String(length=8), nullable=True),
    sa.Column('dst_card', sa.String(length=20), nullable=True),
    sa.Column('dst_wallet', sa.String(length=2), nullable=True),
    sa.Column('reference', sa.String(length=12), nullable=True),
    sa.Column('business_day', sa.Date(), nullable=False),
    sa.Column('reply_json', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('debited_at', sa.DateTime(), nullable=True),
    sa.Column('completed_at', sa.DateTime(), nullable=True),
    sa.Column('resolved_by', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reference'),
    sa.UniqueConstraint('txn_id')
    )
    op.create_index('ix_transfers_dst', 'transfers', ['dst_card', 'state'], unique=False)
    op.create_index('ix_transfers_src', 'transfers', ['src_card', 'state'], unique=False)
    op.create_table('transfer_legs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('transfer_id', sa.Integer(), nullable=False),
    sa.Column('leg', sa.String(length=6), nullable=False),
    sa.Column('leg_txn_id', sa.String(length=64), nullable=False),
    sa.Column('card_kind', sa.String(length=8), nullable=False),
    sa.Column('card', sa.String(length=20), nullable=False),
    sa.Column('wallet', sa.String(length=2), nullable=True),
    sa.Column('txn_type', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('balance_before', sa.BigInteger(), nullable=False),
    sa.Column('counter', sa.Integer(), nullable=False),
    sa.Column('random', sa.String(length=8), nullable=True),
    sa.Column('term_txn_no', sa.BigInteger(), nullable=True),
    sa.Column('term_id', sa.String(length=12), nullable=True),
    sa.Column('when', sa.String(length=14), nullable=True),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('proof', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('leg_txn_id')
    )
    op.create_index(op.f('ix_transfer_legs_transfer_id'), 'transfer_legs', ['transfer_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_transfer_legs_transfer_id'), table_name='transfer_legs')
    op.drop_table('transfer_legs')
    op.drop_index('ix_transfers_src', table_name='transfers')
    op.drop_index('ix_transfers_dst', table_name='transfers')
    op.drop_table('transfers')
