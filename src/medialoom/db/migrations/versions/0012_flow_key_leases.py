"""runs on an idle asset start at once, holding the asset's lease

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 21:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_flow_runs_key', 'flow_runs', ['partition_key', 'finished_at'])
    op.create_table(
        'flow_key_leases',
        sa.Column('partition_key', sa.String(length=64), nullable=False),
        sa.Column('run_id', sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['flow_runs.run_id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('partition_key'),
    )
    op.create_index('ix_flow_key_leases_run_id', 'flow_key_leases', ['run_id'])


def downgrade() -> None:
    op.drop_index('ix_flow_key_leases_run_id', table_name='flow_key_leases')
    op.drop_table('flow_key_leases')
    op.drop_index('ix_flow_runs_key', table_name='flow_runs')
