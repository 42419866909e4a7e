"""Who drives a batch, and when it was interrupted: batch.driver_*, heartbeat_at, interrupted_at,
continued_by, inputs_key

Revision ID: 0006_batch_driver
Revises: 0005_batch_item_paths
Create Date: 2026-12-03

A `nianbao batch` killed mid-run left its batch "running" forever. The batch now records its
driver (host, pid, start token, heartbeat); whoever looks next marks it interrupted when that
driver is gone, and a re-run of the same command links the old batch to its successor.

The CLI batches from before, with work left that only their (unrecorded, long gone) command
would do, are marked interrupted here: otherwise they would say "running" forever.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006_batch_driver'
down_revision: str | None = '0005_batch_item_paths'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('batch') as batch_op:
        batch_op.add_column(sa.Column('driver_host', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('driver_pid', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('driver_token', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('interrupted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('continued_by', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('inputs_key', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_batch_inputs_key'), ['inputs_key'], unique=False)
    # Embedded store: any item left; PostgreSQL: items never moved into the queue (the queued
    # jobs are finished by workers as before).
    left = ("status IN ('queued', 'running')" if op.get_bind().dialect.name != 'postgresql'
            else "status = 'queued' AND source_path IS NOT NULL")
    op.execute(sa.text(
        "UPDATE batch SET interrupted_at = CURRENT_TIMESTAMP WHERE origin = 'cli' AND EXISTS "
        f"(SELECT 1 FROM batch_item WHERE batch_item.batch_id = batch.id AND {left})"))


def downgrade() -> None:
    with op.batch_alter_table('batch') as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_inputs_key'))
        for column in ('inputs_key', 'continued_by', 'interrupted_at', 'heartbeat_at', 'driver_token',
                       'driver_pid', 'driver_host'):
            batch_op.drop_column(column)
