"""The ISO 8583 bank link's tables (issue 16, host.bank.frontend): per-terminal
sessions (working keys wrapped under the TMK, the open batch), the link's
journal keyed by terminal + batch + STAN, settlements and batch uploads, and
the counter of retrieval reference numbers. Only new tables: no row of 0001
moves.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 13:40:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('bank_link_sessions',
    sa.Column('terminal_id', sa.String(length=8), nullable=False),
    sa.Column('kiosk_id', sa.String(length=32), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('pik_under_tmk', sa.String(length=32), nullable=True),
    sa.Column('mak_under_tmk', sa.String(length=32), nullable=True),
    sa.Column('tdk_under_tmk', sa.String(length=32), nullable=True),
    sa.Column('batch', sa.String(length=6), nullable=False),
    sa.Column('business_day', sa.Date(), nullable=True),
    sa.Column('signed_on_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('terminal_id')
    )
    op.create_table('bank_link_journal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('terminal_id', sa.String(length=8), nullable=False),
    sa.Column('batch', sa.String(length=6), nullable=False),
    sa.Column('stan', sa.String(length=6), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('code', sa.String(length=2), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('masked_pan', sa.String(length=19), nullable=True),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('rrn', sa.String(length=12), nullable=True),
    sa.Column('auth_code', sa.String(length=6), nullable=True),
    sa.Column('bill_ref', sa.String(length=163), nullable=True),
    sa.Column('business_day', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('reversed_at', sa.DateTime(), nullable=True),
    sa.Column('reversal_code', sa.String(length=2), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['bank_accounts.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('terminal_id', 'batch', 'stan', name='uq_bank_link_journal_key')
    )
    op.create_index('ix_bank_link_journal_account_day', 'bank_link_journal', ['account_id', 'business_day'],
                    unique=False)
    op.create_index('ix_bank_link_journal_day', 'bank_link_journal', ['business_day'], unique=False)
    op.create_table('bank_link_settlements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('terminal_id', sa.String(length=8), nullable=False),
    sa.Column('batch', sa.String(length=6), nullable=False),
    sa.Column('business_day', sa.Date(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('kiosk_debit_fen', sa.BigInteger(), nullable=False),
    sa.Column('kiosk_debit_count', sa.Integer(), nullable=False),
    sa.Column('bank_debit_fen', sa.BigInteger(), nullable=False),
    sa.Column('bank_debit_count', sa.Integer(), nullable=False),
    sa.Column('result', sa.String(length=10), nullable=False),
    sa.Column('uploaded', sa.Integer(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_bank_link_settlements_terminal', 'bank_link_settlements', ['terminal_id', 'batch'],
                    unique=False)
    op.create_table('bank_link_uploads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=False),
    sa.Column('batch', sa.String(length=6), nullable=False),
    sa.Column('stan', sa.String(length=6), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('rrn', sa.String(length=12), nullable=False),
    sa.Column('matched', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['settlement_id'], ['bank_link_settlements.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_bank_link_uploads_settlement', 'bank_link_uploads', ['settlement_id'], unique=False)
    op.create_table('bank_link_counters',
    sa.Column('name', sa.String(length=16), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('bank_link_counters')
    op.drop_index('ix_bank_link_uploads_settlement', table_name='bank_link_uploads')
    op.drop_table('bank_link_uploads')
    op.drop_index('ix_bank_link_settlements_terminal', table_name='bank_link_settlements')
    op.drop_table('bank_link_settlements')
    op.drop_index('ix_bank_link_journal_day', table_name='bank_link_journal')
    op.drop_index('ix_bank_link_journal_account_day', table_name='bank_link_journal')
    op.drop_table('bank_link_journal')
    op.drop_table('bank_link_sessions')
