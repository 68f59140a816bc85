"""The console's link queries indexed, and `bank_txns` dropped (issue 16).

- `property_backups.reference`: the transactions search and day totals join
  each link purchase to its kiosk copy by the RRN; without it SQLite built a
  temporary index over every copy for every query (docs/performance.md).
- `bank_link_journal.rrn`: a copy's booking (host.bank.link_ledger) and the
  reconciliation find the bank's line by its RRN.
- `meter_sales.business_day`: the reconciliation's meter sales of a day.
- `bank_txns` (the JSON bank payments' record, unwritten since issue 16
  removed those routes) is dropped with its rows: those payments' bank record
  is `bank_journal`'s `sale`/`reversal` lines, which stay (money_totals reads
  them). Downgrade recreates it empty.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 16:40:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_property_backups_reference', 'property_backups', ['reference'], unique=False)
    op.create_index('ix_bank_link_journal_rrn', 'bank_link_journal', ['rrn'], unique=False)
    op.create_index('ix_meter_sales_day', 'meter_sales', ['business_day'], unique=False)
    op.drop_index('ix_bank_txns_day', table_name='bank_txns')
    op.drop_index('ix_bank_txns_account_day', table_name='bank_txns')
    op.drop_table('bank_txns')


def downgrade() -> None:
    op.create_table('bank_txns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('txn_id', sa.String(length=64), nullable=False),
    sa.Column('kiosk_id', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('masked_pan', sa.String(length=19), nullable=True),
    sa.Column('household_id', sa.Integer(), nullable=True),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('reference', sa.String(length=12), nullable=True),
    sa.Column('business_day', sa.Date(), nullable=False),
    sa.Column('kiosk_time', sa.String(length=32), nullable=True),
    sa.Column('reply_json', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('reversed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['bank_accounts.id'], ),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reference'),
    sa.UniqueConstraint('txn_id')
    )
    op.create_index('ix_bank_txns_account_day', 'bank_txns', ['account_id', 'business_day'], unique=False)
    op.create_index('ix_bank_txns_day', 'bank_txns', ['business_day'], unique=False)
    op.drop_index('ix_meter_sales_day', table_name='meter_sales')
    op.drop_index('ix_bank_link_journal_rrn', table_name='bank_link_journal')
    op.drop_index('ix_property_backups_reference', table_name='property_backups')
