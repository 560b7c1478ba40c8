"""eager_async work is a durable job: a process that dies while rendering leaves it to another

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'eager_jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('environment_id', sa.Integer(), nullable=False),
        sa.Column('asset_pk', sa.Integer(), nullable=False),
        sa.Column('version_id', sa.String(length=32), nullable=False),
        sa.Column('items', sa.JSON(), nullable=False),
        sa.Column('batch_id', sa.String(length=32), nullable=False),
        sa.Column('notification_url', sa.Text(), nullable=True),
        sa.Column('request_id', sa.String(length=64), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['asset_pk'], ['assets.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['environment_id'], ['environments.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_eager_jobs_asset_pk', 'eager_jobs', ['asset_pk'])
    op.create_index('ix_eager_jobs_lease_until', 'eager_jobs', ['lease_until'])


def downgrade() -> None:
    op.drop_index('ix_eager_jobs_lease_until', table_name='eager_jobs')
    op.drop_index('ix_eager_jobs_asset_pk', table_name='eager_jobs')
    op.drop_table('eager_jobs')
