"""The prepaid meters' tables (issue 15, host.meters): the estate's prepaid
meters with their user card's state, and every meter sale. Only new tables:
no row of an earlier revision moves.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-05 13:50:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('prepaid_meters',
    sa.Column('meter_no', sa.String(length=12), nullable=False),
    sa.Column('utility', sa.String(length=12), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('hoarding_max', sa.BigInteger(), nullable=False),
    sa.Column('card_state', sa.String(length=10), nullable=False),
    sa.Column('last_count', sa.Integer(), nullable=False),
    sa.Column('last_total', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], ),
    sa.PrimaryKeyConstraint('meter_no')
    )
    op.create_table('meter_sales',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sale_id', sa.String(length=64), nullable=False),
    sa.Column('kiosk_id', sa.String(length=32), nullable=False),
    sa.Column('meter_no', sa.String(length=12), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('lines', sa.Text(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('image', sa.String(length=40), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('masked_pan', sa.String(length=19), nullable=True),
    sa.Column('reference', sa.String(length=12), nullable=True),
    sa.Column('business_day', sa.Date(), nullable=True),
    sa.Column('quoted_at', sa.DateTime(), nullable=False),
    sa.Column('paid_at', sa.DateTime(), nullable=True),
    sa.Column('written_at', sa.DateTime(), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('reversed_at', sa.DateTime(), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['bank_accounts.id'], ),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], ),
    sa.ForeignKeyConstraint(['meter_no'], ['prepaid_meters.meter_no'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sale_id')
    )
    op.create_index('ix_meter_sales_meter_state', 'meter_sales', ['meter_no', 'state'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_meter_sales_meter_state', table_name='meter_sales')
    op.drop_table('meter_sales')
    op.drop_table('prepaid_meters')
