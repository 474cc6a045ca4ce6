"""reverse DNS cache

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rdns_cache",
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ip", name=op.f("pk_rdns_cache")),
    )
    with op.batch_alter_table("rdns_cache", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rdns_cache_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rdns_cache", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rdns_cache_expires_at"))
    op.drop_table("rdns_cache")
