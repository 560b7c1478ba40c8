"""outbox facts for the flow engine

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 15:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_events') as batch_op:
        batch_op.add_column(sa.Column('facts', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_events') as batch_op:
        batch_op.drop_column('facts')
