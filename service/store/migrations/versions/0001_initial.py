"""Initial schema: document, extraction, extraction_field, finding.

Revision ID: 0001_initial
Revises:
Create Date: 2025-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "document",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(), nullable=True),
        sa.Column("media_type", sa.String(length=128), nullable=False),
        sa.Column("encoding", sa.String(length=64), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("chars", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_document"),
        sa.UniqueConstraint("sha256", name="uq_document_sha256"),
    )
    op.create_table(
        "extraction",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("document_id", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(), nullable=True),
        sa.Column("prompt_version", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("contract", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"], ["document.id"], name="fk_extraction_document_id_document"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_extraction"),
    )
    op.create_index("ix_extraction_document_id", "extraction", ["document_id"])
    op.create_table(
        "extraction_field",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("extraction_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("span_start", sa.Integer(), nullable=True),
        sa.Column("span_end", sa.Integer(), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["extraction_id"], ["extraction.id"], name="fk_extraction_field_extraction_id_extraction"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_extraction_field"),
    )
    op.create_index("ix_extraction_field_extraction_id", "extraction_field", ["extraction_id"])
    op.create_index("ix_extraction_field_path", "extraction_field", ["path"])
    op.create_table(
        "finding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("extraction_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("spans", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["extraction_id"], ["extraction.id"], name="fk_finding_extraction_id_extraction"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_finding"),
    )
    op.create_index("ix_finding_extraction_id", "finding", ["extraction_id"])
    op.create_index("ix_finding_kind", "finding", ["kind"])


def downgrade() -> None:
    op.drop_table("finding")
    op.drop_table("extraction_field")
    op.drop_table("extraction")
    op.drop_table("document")
