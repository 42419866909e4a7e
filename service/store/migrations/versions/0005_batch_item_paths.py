"""Batch items read from where they lie: batch_item.source_path and source_member

Revision ID: 0005_batch_item_paths
Revises: 0004_batches
Create Date: 2026-12-03

`nianbao batch` on the embedded store registers each file by its path (and a zip member by its
archive's path and its name in the archive) instead of copying its bytes into batch_source first:
the bytes are read, hashed and extracted when the item's turn comes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005_batch_item_paths'
down_revision: str | None = '0004_batches'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('batch_item') as batch_op:
        batch_op.add_column(sa.Column('source_path', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('source_member', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('batch_item') as batch_op:
        batch_op.drop_column('source_member')
        batch_op.drop_column('source_path')
