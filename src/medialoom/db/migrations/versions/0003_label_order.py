"""labels carry their asset's created_at; covering columns in two asset indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 08:30:00
"""
from alembic import op

import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('asset_labels', schema=None) as batch_op:
        batch_op.drop_index('ix_asset_labels_lookup')
        batch_op.add_column(sa.Column('created_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE asset_labels SET created_at = "
               "(SELECT assets.created_at FROM assets WHERE assets.id = asset_labels.asset_pk)")
    with op.batch_alter_table('asset_labels', schema=None) as batch_op:
        batch_op.alter_column('created_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index('ix_asset_labels_lookup', ['environment_id', 'field', 'value', 'created_at', 'asset_pk'],
                              unique=False)
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_index('ix_assets_env_created')
        batch_op.create_index('ix_assets_env_created_live', ['environment_id', 'created_at', 'placeholder'],
                              unique=False)
        batch_op.drop_index('ix_assets_env_bytes')
        batch_op.create_index('ix_assets_env_bytes', ['environment_id', 'bytes', 'format', 'placeholder'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_index('ix_assets_env_created_live')
        batch_op.create_index('ix_assets_env_created', ['environment_id', 'created_at'], unique=False)
        batch_op.drop_index('ix_assets_env_bytes')
        batch_op.create_index('ix_assets_env_bytes', ['environment_id', 'bytes'], unique=False)
    with op.batch_alter_table('asset_labels', schema=None) as batch_op:
        batch_op.drop_index('ix_asset_labels_lookup')
        batch_op.drop_column('created_at')
        batch_op.create_index('ix_asset_labels_lookup', ['environment_id', 'field', 'value', 'asset_pk'], unique=False)
