"""flow runs know how deep a chain of runs they continue

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 17:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('flow_runs') as batch_op:
        batch_op.add_column(sa.Column('chain_depth', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('flow_runs') as batch_op:
        batch_op.drop_column('chain_depth')
