"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-12-04 16:28:04.625060
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('blobs',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('stored_size', sa.BigInteger(), nullable=False),
    sa.Column('codec', sa.String(length=16), nullable=False),
    sa.Column('chunks', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_blobs'))
    )
    op.create_table('aggregate_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_name', sa.Text(), nullable=False),
    sa.Column('report_id', sa.Text(), nullable=False),
    sa.Column('domain', sa.Text(), nullable=False),
    sa.Column('email', sa.Text(), nullable=True),
    sa.Column('extra_contact_info', sa.Text(), nullable=True),
    sa.Column('begin_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('schema', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Text(), nullable=True),
    sa.Column('generator', sa.Text(), nullable=True),
    sa.Column('adkim', sa.String(length=1), nullable=True),
    sa.Column('aspf', sa.String(length=1), nullable=True),
    sa.Column('p', sa.String(length=16), nullable=True),
    sa.Column('sp', sa.String(length=16), nullable=True),
    sa.Column('np', sa.String(length=16), nullable=True),
    sa.Column('pct', sa.Integer(), nullable=True),
    sa.Column('fo', sa.Text(), nullable=True),
    sa.Column('testing', sa.Boolean(), nullable=True),
    sa.Column('discovery_method', sa.String(length=16), nullable=True),
    sa.Column('reporter_errors', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('parse_errors', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('record_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('message_count', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('input_sha256', sa.String(length=64), nullable=False),
    sa.Column('source_path', sa.Text(), nullable=False),
    sa.Column('ingested_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['input_sha256'], ['blobs.sha256'], name=op.f('fk_aggregate_reports_input_sha256_blobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_aggregate_reports')),
    sa.UniqueConstraint('org_name', 'report_id', 'domain', name='uq_aggregate_reports_natural_key')
    )
    with op.batch_alter_table('aggregate_reports', schema=None) as batch_op:
        batch_op.create_index('ix_aggregate_reports_domain_begin', ['domain', 'begin_at'], unique=False)

    op.create_table('blob_chunks',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['sha256'], ['blobs.sha256'], name=op.f('fk_blob_chunks_sha256_blobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sha256', 'seq', name=op.f('pk_blob_chunks'))
    )
    op.create_table('failure_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('feedback_type', sa.Text(), nullable=False),
    sa.Column('user_agent', sa.Text(), nullable=True),
    sa.Column('version', sa.Text(), nullable=True),
    sa.Column('arrival_date', sa.DateTime(timezone=True), nullable=True),
    sa.Column('source_ip', sa.String(length=45), nullable=True),
    sa.Column('reported_domain', sa.Text(), nullable=True),
    sa.Column('original_mail_from', sa.Text(), nullable=True),
    sa.Column('original_rcpt_to', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('auth_failure', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('delivery_result', sa.Text(), nullable=True),
    sa.Column('dkim_domain', sa.Text(), nullable=True),
    sa.Column('dkim_selector', sa.Text(), nullable=True),
    sa.Column('dkim_identity', sa.Text(), nullable=True),
    sa.Column('spf_dns', sa.Text(), nullable=True),
    sa.Column('identity_alignment', sa.Text(), nullable=True),
    sa.Column('authentication_results', sa.Text(), nullable=True),
    sa.Column('sample_subject', sa.Text(), nullable=True),
    sa.Column('sample_from', sa.Text(), nullable=True),
    sa.Column('sample_message_id', sa.Text(), nullable=True),
    sa.Column('sample_headers', sa.Text(), nullable=True),
    sa.Column('reporter', sa.Text(), nullable=True),
    sa.Column('report_date', sa.DateTime(timezone=True), nullable=True),
    sa.Column('input_sha256', sa.String(length=64), nullable=False),
    sa.Column('source_path', sa.Text(), nullable=False),
    sa.Column('ingested_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['input_sha256'], ['blobs.sha256'], name=op.f('fk_failure_reports_input_sha256_blobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_failure_reports')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_failure_reports_fingerprint'))
    )
    with op.batch_alter_table('failure_reports', schema=None) as batch_op:
        batch_op.create_index('ix_failure_reports_domain_arrival', ['reported_domain', 'arrival_date'], unique=False)

    op.create_table('inputs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('origin', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reports', sa.Integer(), server_default='0', nullable=False),
    sa.Column('rejected', sa.Integer(), server_default='0', nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['sha256'], ['blobs.sha256'], name=op.f('fk_inputs_sha256_blobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inputs')),
    sa.UniqueConstraint('sha256', name=op.f('uq_inputs_sha256'))
    )
    op.create_table('quarantine',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('origin', sa.Text(), nullable=False),
    sa.Column('part', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['sha256'], ['blobs.sha256'], name=op.f('fk_quarantine_sha256_blobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantine'))
    )
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantine_sha256'), ['sha256'], unique=False)

    op.create_table('tls_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_name', sa.Text(), nullable=False),
    sa.Column('report_id', sa.Text(), nullable=False),
    sa.Column('contact_info', sa.Text(), nullable=True),
    sa.Column('begin_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('successful', sa.BigInteger(), nullable=False),
    sa.Column('failed', sa.BigInteger(), nullable=False),
    sa.Column('input_sha256', sa.String(length=64), nullable=False),
    sa.Column('source_path', sa.Text(), nullable=False),
    sa.Column('ingested_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['input_sha256'], ['blobs.sha256'], name=op.f('fk_tls_reports_input_sha256_blobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tls_reports')),
    sa.UniqueConstraint('org_name', 'report_id', name='uq_tls_reports_natural_key')
    )
    op.create_table('aggregate_records',
    sa.Column('report_pk', sa.Integer(), nullable=False),
    sa.Column('rec_no', sa.Integer(), nullable=False),
    sa.Column('source_ip', sa.String(length=45), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('disposition', sa.String(length=16), nullable=True),
    sa.Column('dkim', sa.String(length=8), nullable=True),
    sa.Column('spf', sa.String(length=8), nullable=True),
    sa.Column('reasons', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('header_from', sa.Text(), nullable=True),
    sa.Column('envelope_from', sa.Text(), nullable=True),
    sa.Column('envelope_to', sa.Text(), nullable=True),
    sa.Column('dkim_results', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('spf_results', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['report_pk'], ['aggregate_reports.id'], name=op.f('fk_aggregate_records_report_pk_aggregate_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('report_pk', 'rec_no', name=op.f('pk_aggregate_records')),
    sqlite_with_rowid=False,
    )
    with op.batch_alter_table('aggregate_records', schema=None) as batch_op:
        batch_op.create_index('ix_aggregate_records_source_ip', ['source_ip'], unique=False)

    op.create_table('tls_policies',
    sa.Column('report_pk', sa.Integer(), nullable=False),
    sa.Column('idx', sa.Integer(), nullable=False),
    sa.Column('policy_type', sa.Text(), nullable=False),
    sa.Column('policy_domain', sa.Text(), nullable=False),
    sa.Column('policy_strings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('mx_host_patterns', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('successful', sa.BigInteger(), nullable=False),
    sa.Column('failed', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['report_pk'], ['tls_reports.id'], name=op.f('fk_tls_policies_report_pk_tls_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('report_pk', 'idx', name=op.f('pk_tls_policies'))
    )
    with op.batch_alter_table('tls_policies', schema=None) as batch_op:
        batch_op.create_index('ix_tls_policies_domain', ['policy_domain'], unique=False)

    op.create_table('tls_failures',
    sa.Column('report_pk', sa.Integer(), nullable=False),
    sa.Column('policy_idx', sa.Integer(), nullable=False),
    sa.Column('idx', sa.Integer(), nullable=False),
    sa.Column('result_type', sa.Text(), nullable=False),
    sa.Column('sending_mta_ip', sa.String(length=45), nullable=True),
    sa.Column('receiving_mx_hostname', sa.Text(), nullable=True),
    sa.Column('receiving_mx_helo', sa.Text(), nullable=True),
    sa.Column('receiving_ip', sa.String(length=45), nullable=True),
    sa.Column('failed_session_count', sa.BigInteger(), nullable=False),
    sa.Column('additional_information', sa.Text(), nullable=True),
    sa.Column('failure_reason_code', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['report_pk', 'policy_idx'], ['tls_policies.report_pk', 'tls_policies.idx'], name=op.f('fk_tls_failures_report_pk_tls_policies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('report_pk', 'policy_idx', 'idx', name=op.f('pk_tls_failures'))
    )



def downgrade() -> None:

    op.drop_table('tls_failures')
    with op.batch_alter_table('tls_policies', schema=None) as batch_op:
        batch_op.drop_index('ix_tls_policies_domain')

    op.drop_table('tls_policies')
    with op.batch_alter_table('aggregate_records', schema=None) as batch_op:
        batch_op.drop_index('ix_aggregate_records_source_ip')

    op.drop_table('aggregate_records')
    op.drop_table('tls_reports')
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantine_sha256'))

    op.drop_table('quarantine')
    op.drop_table('inputs')
    with op.batch_alter_table('failure_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_failure_reports_domain_arrival')

    op.drop_table('failure_reports')
    op.drop_table('blob_chunks')
    with op.batch_alter_table('aggregate_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_aggregate_reports_domain_begin')

    op.drop_table('aggregate_reports')
    op.drop_table('blobs')

