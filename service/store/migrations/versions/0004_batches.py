"""Batches: batch, batch_item, batch_source, extraction_version; on PostgreSQL, Procrastinate's schema

Revision ID: 0004_batches
Revises: 0003_sources
Create Date: 2026-12-03

On PostgreSQL the batches are Procrastinate jobs, so its schema (tables procrastinate_*, their
types, functions and triggers, in the PostgreSQL schema `procrastinate`) is created here from the
SQL file the installed procrastinate ships
(`SchemaManager.get_schema()`, procrastinate 3.10.0, pinned). A later procrastinate upgrade brings
its own migration files (procrastinate/sql/migrations/): apply them in a new revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004_batches'
down_revision: str | None = '0003_sources'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('batch',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('mode', sa.String(length=32), nullable=True),
    sa.Column('llm_scope', sa.String(length=32), nullable=True),
    sa.Column('reader_version', sa.String(length=255), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch'))
    )
    op.create_table('batch_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=512), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=True),
    sa.Column('reason_en', sa.Text(), nullable=True),
    sa.Column('reason_zh', sa.Text(), nullable=True),
    sa.Column('document_id', sa.String(length=64), nullable=True),
    sa.Column('extraction_id', sa.String(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], name=op.f('fk_batch_item_batch_id_batch')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch_item')),
    sa.UniqueConstraint('batch_id', 'position', name='uq_batch_item_batch_id_position')
    )
    with op.batch_alter_table('batch_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_item_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_batch_item_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_batch_item_status'), ['status'], unique=False)

    op.create_table('batch_source',
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['batch_item.id'], name=op.f('fk_batch_source_item_id_batch_item')),
    sa.PrimaryKeyConstraint('item_id', name=op.f('pk_batch_source'))
    )
    op.create_table('extraction_version',
    sa.Column('extraction_id', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('reader_version', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['extraction_id'], ['extraction.id'], name='fk_extraction_version_extraction_id_extraction', initially='DEFERRED', deferrable=True),
    sa.PrimaryKeyConstraint('extraction_id', name=op.f('pk_extraction_version')),
    sa.UniqueConstraint('sha256', 'reader_version', name='uq_extraction_version_sha256_reader_version')
    )
    if op.get_bind().dialect.name == "postgresql":
        _create_procrastinate_schema()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _drop_procrastinate_schema()
    op.drop_table('extraction_version')
    op.drop_table('batch_source')
    with op.batch_alter_table('batch_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_item_status'))
        batch_op.drop_index(batch_op.f('ix_batch_item_sha256'))
        batch_op.drop_index(batch_op.f('ix_batch_item_batch_id'))

    op.drop_table('batch_item')
    op.drop_table('batch')


def _create_procrastinate_schema() -> None:
    """Procrastinate's own SQL in a schema of its own (`procrastinate`: the store's tables and
    the queue's never mix, and comparing the models with the database sees only ours), run as
    one script through the driver (it holds `%` and `:` that SQLAlchemy's text() would read as
    parameters), in the migration's transaction. Its functions name their tables unqualified:
    whoever calls them puts `procrastinate` on the search_path (service.batch.queue)."""
    from procrastinate.schema import SchemaManager

    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    driver.execute("CREATE SCHEMA procrastinate")
    row = driver.execute("SELECT current_setting('search_path')").fetchone()
    assert row is not None
    driver.execute("SELECT set_config('search_path', 'procrastinate', true)")
    driver.execute(SchemaManager.get_schema())
    driver.execute("SELECT set_config('search_path', %s, true)", (row[0],))


def _drop_procrastinate_schema() -> None:
    op.execute("DROP SCHEMA IF EXISTS procrastinate CASCADE")
