"""The one-card's unpaid-fee blacklist (issue 14, deliverable 5): the
households listed (`onecard_unpaid`), the versioned changes of their one-cards
(`onecard_blacklist`) and the rule's last run (`onecard_blacklist_runs`).
Only new tables.

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-05 14:30:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('onecard_unpaid',
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('house_no', sa.String(length=16), nullable=False),
    sa.Column('since', sa.Date(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('listed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], ),
    sa.PrimaryKeyConstraint('household_id')
    )
    op.create_table('onecard_blacklist',
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('uid', sa.String(length=8), nullable=False),
    sa.Column('listed', sa.Boolean(), nullable=False),
    sa.Column('house_no', sa.String(length=16), nullable=True),
    sa.Column('since', sa.Date(), nullable=True),
    sa.Column('amount_fen', sa.BigInteger(), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('version')
    )
    op.create_index(op.f('ix_onecard_blacklist_uid'), 'onecard_blacklist', ['uid'], unique=False)
    op.create_table('onecard_blacklist_runs',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('unpaid_days', sa.Integer(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('onecard_blacklist_runs')
    op.drop_index(op.f('ix_onecard_blacklist_uid'), table_name='onecard_blacklist')
    op.drop_table('onecard_blacklist')
    op.drop_table('onecard_unpaid')
