"""monthly twins of the daily rollups, summed from the daily ones

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

A year's window read 365 daily rows per source; it now reads eleven monthly
ones and at most a month of daily ones (issue 3: p95 under 300 ms).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COUNTERS = ("messages", "dmarc_pass", "dkim_aligned", "spf_aligned", "quarantined", "rejected")


def upgrade() -> None:
    op.create_table(
        "monthly_source_stats",
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("source_ip", sa.String(length=45), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in COUNTERS),
        sa.PrimaryKeyConstraint("domain", "month", "source_ip", name=op.f("pk_monthly_source_stats")),
    )
    op.create_table(
        "monthly_source_evidence",
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("source_ip", sa.String(length=45), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("passed", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("domain", "month", "source_ip", "kind", "value",
                                name=op.f("pk_monthly_source_evidence")),
    )
    from dmarcpilot.store.rollups import rebuild_monthly  # the rollup's own definition, used once

    rebuild_monthly(op.get_bind())


def downgrade() -> None:
    op.drop_table("monthly_source_evidence")
    op.drop_table("monthly_source_stats")
