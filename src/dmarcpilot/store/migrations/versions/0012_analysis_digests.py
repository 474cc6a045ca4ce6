"""analysis digests: a window's sums (totals, classes, countries, senders, largest sources) beside its analysis

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

Dashboards and headlines read a few kilobytes instead of every analysed
source. Rows written before this have none: the next reader adds it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("analysis_snapshots") as batch:
        batch.add_column(sa.Column("digest", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analysis_snapshots") as batch:
        batch.drop_column("digest")
