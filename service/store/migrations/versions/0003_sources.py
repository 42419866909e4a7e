"""Sources: the uploaded bytes of each document and the PDF cell boxes

Revision ID: 0003_sources
Revises: 0002_review
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003_sources'
down_revision: str | None = '0002_review'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('document_source',
    sa.Column('document_id', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['document.id'], name=op.f('fk_document_source_document_id_document')),
    sa.PrimaryKeyConstraint('document_id', name=op.f('pk_document_source'))
    )
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.add_column(sa.Column('boxes', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.drop_column('boxes')
    op.drop_table('document_source')
