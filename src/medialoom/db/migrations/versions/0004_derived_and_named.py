"""derived files, named transformations, access control; strict mode and token keys per environment

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 10:00:00
"""
from alembic import op

import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('environments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('strict_transformations', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('auth_token_key', sa.String(length=128), nullable=True))
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('access_control', sa.JSON(), nullable=True))
    op.create_table(
        'derived_files',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('environment_id', sa.Integer(), nullable=False),
        sa.Column('asset_pk', sa.Integer(), nullable=False),
        sa.Column('version_id', sa.String(length=32), nullable=False),
        sa.Column('transformation', sa.Text(), nullable=False),
        sa.Column('format', sa.String(length=16), nullable=False),
        sa.Column('key', sa.String(length=256), nullable=False),
        sa.Column('bytes', sa.BigInteger(), nullable=False),
        sa.Column('width', sa.Integer(), nullable=True),
        sa.Column('height', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['asset_pk'], ['assets.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['environment_id'], ['environments.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    op.create_index('ix_derived_files_asset', 'derived_files', ['asset_pk', 'transformation'], unique=False)
    op.create_table(
        'named_transformations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('environment_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=1024).with_variant(sa.String(length=1024, collation='C'), 'postgresql'),
                  nullable=False),
        sa.Column('transformation', sa.Text(), nullable=False),
        sa.Column('named', sa.Boolean(), nullable=False),
        sa.Column('allowed_for_strict', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['environment_id'], ['environments.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('environment_id', 'name', name='uq_named_transformation'),
    )


def downgrade() -> None:
    op.drop_table('named_transformations')
    op.drop_index('ix_derived_files_asset', table_name='derived_files')
    op.drop_table('derived_files')
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_column('access_control')
    with op.batch_alter_table('environments', schema=None) as batch_op:
        batch_op.drop_column('auth_token_key')
        batch_op.drop_column('strict_transformations')
