"""The fleet's change cursor for several workers (issue 12, deliverable 5).

`fleet_kiosks.changed_xid`: the PostgreSQL transaction that last changed the
row, indexed, so that each worker catches up with the rows changed since its
last catch-up instead of scanning all of them twice a second
(host.fleet.shared, docs/host.md "Several workers"). Existing rows keep NULL:
a worker reads every row once at start.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 17:40:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('fleet_kiosks', sa.Column('changed_xid', sa.BigInteger(), nullable=True))
    op.create_index('ix_fleet_kiosks_changed_xid', 'fleet_kiosks', ['changed_xid'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_fleet_kiosks_changed_xid', table_name='fleet_kiosks')
    with op.batch_alter_table('fleet_kiosks') as batch:
        batch.drop_column('changed_xid')
