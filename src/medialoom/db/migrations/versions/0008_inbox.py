"""in-app inbox notifications

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 14:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'inbox_notifications',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('environment_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('title', sa.String(length=500), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('assets', sa.JSON(), nullable=False),
        sa.Column('flow_id', sa.String(length=40), nullable=True),
        sa.Column('run_id', sa.String(length=40), nullable=True),
        sa.Column('dedupe_key', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['environment_id'], ['environments.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('dedupe_key'),
    )
    op.create_index('ix_inbox_env', 'inbox_notifications', ['environment_id', 'id'])


def downgrade() -> None:
    op.drop_index('ix_inbox_env', table_name='inbox_notifications')
    op.drop_table('inbox_notifications')
