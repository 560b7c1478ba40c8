"""flow schedule slots

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 14:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'flow_schedule_slots',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('flow_pk', sa.Integer(), nullable=False),
        sa.Column('slot', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['flow_pk'], ['flows.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('flow_pk', 'slot', name='uq_flow_schedule_slot'),
    )


def downgrade() -> None:
    op.drop_table('flow_schedule_slots')
