"""enforcement: DMARC policy stage changes (append-only) and sent alerts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSONText = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

_PG_FUNCTION = """
CREATE FUNCTION policy_stages_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'policy_stages is append-only';
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.create_table(
        "policy_stages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("stage", sa.String(length=24), nullable=False),
        sa.Column("previous", sa.String(length=24), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("figures", JSONText, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_stages")),
    )
    op.create_index("ix_policy_stages_domain", "policy_stages", ["domain", "id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":  # the stage history is an audit trail: refuse UPDATE/DELETE
        op.execute(_PG_FUNCTION)
        op.execute("CREATE TRIGGER policy_stages_append_only BEFORE UPDATE OR DELETE ON policy_stages "
                   "FOR EACH ROW EXECUTE FUNCTION policy_stages_append_only()")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER policy_stages_no_{event.lower()} BEFORE {event} ON policy_stages "
                       "BEGIN SELECT RAISE(ABORT, 'policy_stages is append-only'); END")
    op.create_table(
        "alerts_sent",
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("domain", "key", name=op.f("pk_alerts_sent")),
    )


def downgrade() -> None:
    op.drop_table("alerts_sent")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS policy_stages_append_only ON policy_stages")
        op.execute("DROP FUNCTION IF EXISTS policy_stages_append_only()")
    op.drop_index("ix_policy_stages_domain", table_name="policy_stages")
    op.drop_table("policy_stages")
