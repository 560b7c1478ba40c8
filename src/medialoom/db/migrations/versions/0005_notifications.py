"""notification endpoints (triggers), deliveries and their attempts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 14:00:00
"""
from alembic import op

import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'notification_endpoints',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('environment_id', sa.Integer(), nullable=False),
        sa.Column('trigger_id', sa.String(length=64), nullable=False),
        sa.Column('uri', sa.Text(), nullable=False),
        sa.Column('uri_type', sa.String(length=16), nullable=False),
        sa.Column('event_type', sa.String(length=64), nullable=False),
        sa.Column('secret', sa.String(length=128), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('disabled_reason', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['environment_id'], ['environments.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('trigger_id'),
    )
    op.create_index('ix_notification_endpoints_environment_id', 'notification_endpoints', ['environment_id'])
    op.create_table(
        'notification_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('environment_id', sa.Integer(), nullable=False),
        sa.Column('outbox_id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.String(length=32), nullable=False),
        sa.Column('endpoint_id', sa.Integer(), nullable=True),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('order_key', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_status_code', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('last_duration_ms', sa.Float(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['environment_id'], ['environments.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['outbox_id'], ['outbox_events.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['endpoint_id'], ['notification_endpoints.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_deliveries_due', 'notification_deliveries', ['status', 'next_attempt_at'])
    op.create_index('ix_deliveries_order', 'notification_deliveries', ['url', 'order_key', 'status', 'id'])
    op.create_index('ix_deliveries_env', 'notification_deliveries', ['environment_id', 'id'])
    op.create_index('ix_notification_deliveries_outbox_id', 'notification_deliveries', ['outbox_id'])
    op.create_index('ix_notification_deliveries_endpoint_id', 'notification_deliveries', ['endpoint_id'])
    op.create_table(
        'notification_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('delivery_id', sa.Integer(), nullable=False),
        sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('duration_ms', sa.Float(), nullable=False),
        sa.Column('response_snippet', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['delivery_id'], ['notification_deliveries.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_notification_attempts_delivery_id', 'notification_attempts', ['delivery_id'])


def downgrade() -> None:
    op.drop_table('notification_attempts')
    op.drop_table('notification_deliveries')
    op.drop_table('notification_endpoints')
