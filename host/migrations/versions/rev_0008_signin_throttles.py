"""The console's sign-in throttles in the database, for several workers
(issue 12, deliverable 2: `kiosk host serve --workers N`). Only a new table.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 16:40:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('signin_throttles',
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure', sa.Float(), nullable=False),
    sa.Column('until', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('name', 'source')
    )


def downgrade() -> None:
    op.drop_table('signin_throttles')
