"""flow executors' heartbeats

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 14:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'flow_executors',
        sa.Column('executor_id', sa.String(length=100), nullable=False),
        sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('executor_id'),
    )


def downgrade() -> None:
    op.drop_table('flow_executors')
