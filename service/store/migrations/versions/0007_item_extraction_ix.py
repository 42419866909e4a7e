"""Index batch_item.extraction_id: recording an item asks which item already owns the extraction

Revision ID: 0007_item_extraction_ix
Revises: 0006_batch_driver
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0007_item_extraction_ix'
down_revision: str | None = '0006_batch_driver'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('batch_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_item_extraction_id'), ['extraction_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('batch_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_item_extraction_id'))
