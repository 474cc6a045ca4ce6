"""daily rollup per domain and source, built from the records already stored

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daily_source_stats",
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source_ip", sa.String(length=45), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("dmarc_pass", sa.BigInteger(), nullable=False),
        sa.Column("dkim_aligned", sa.BigInteger(), nullable=False),
        sa.Column("spf_aligned", sa.BigInteger(), nullable=False),
        sa.Column("quarantined", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("domain", "day", "source_ip", name=op.f("pk_daily_source_stats")),
    )
    with op.batch_alter_table("daily_source_stats", schema=None) as batch_op:
        batch_op.create_index("ix_daily_source_stats_day", ["day"], unique=False)
    from dmarcpilot.store.rollups import rebuild_stats  # the rollup's own definition, used once

    rebuild_stats(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("daily_source_stats", schema=None) as batch_op:
        batch_op.drop_index("ix_daily_source_stats_day")
    op.drop_table("daily_source_stats")
