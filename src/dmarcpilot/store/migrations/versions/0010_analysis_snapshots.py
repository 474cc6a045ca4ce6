"""analysis snapshots: a window's analysed sources kept in the store for every process

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analysis_snapshots",
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("window", sa.String(length=48), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("domain", "window", name=op.f("pk_analysis_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("analysis_snapshots")
