"""flows, versions, runs, run steps, variables

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 13:48:52.211418
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('flow_variables',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('environment_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('secret', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['environment_id'], ['environments.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('environment_id', 'name', name='uq_flow_variable')
    )
    op.create_table('flows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('environment_id', sa.Integer(), nullable=False),
    sa.Column('flow_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('current_version', sa.Integer(), nullable=False),
    sa.Column('trigger_type', sa.String(length=64), nullable=False),
    sa.Column('webhook_token', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['environment_id'], ['environments.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('flow_id'),
    sa.UniqueConstraint('webhook_token')
    )
    with op.batch_alter_table('flows', schema=None) as batch_op:
        batch_op.create_index('ix_flows_trigger', ['environment_id', 'trigger_type', 'enabled'], unique=False)

    op.create_table('flow_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.String(length=40), nullable=False),
    sa.Column('environment_id', sa.Integer(), nullable=False),
    sa.Column('flow_pk', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('trigger_type', sa.String(length=64), nullable=False),
    sa.Column('trigger_payload', sa.JSON(), nullable=False),
    sa.Column('partition_key', sa.String(length=64), nullable=True),
    sa.Column('rerun_of', sa.String(length=40), nullable=True),
    sa.Column('resume_from', sa.String(length=64), nullable=True),
    sa.Column('parent_run_id', sa.String(length=40), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['environment_id'], ['environments.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['flow_pk'], ['flows.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id')
    )
    with op.batch_alter_table('flow_runs', schema=None) as batch_op:
        batch_op.create_index('ix_flow_runs_env', ['environment_id', 'id'], unique=False)
        batch_op.create_index('ix_flow_runs_finished', ['finished_at'], unique=False)
        batch_op.create_index('ix_flow_runs_flow', ['flow_pk', 'id'], unique=False)

    op.create_table('flow_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('flow_pk', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['flow_pk'], ['flows.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('flow_pk', 'version', name='uq_flow_version')
    )
    op.create_table('flow_run_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_pk', sa.Integer(), nullable=False),
    sa.Column('block', sa.String(length=64), nullable=False),
    sa.Column('block_type', sa.String(length=64), nullable=False),
    sa.Column('iteration', sa.String(length=200), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('input', sa.JSON(), nullable=True),
    sa.Column('output', sa.JSON(), nullable=True),
    sa.Column('port', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_ms', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['run_pk'], ['flow_runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_pk', 'block', 'iteration', 'attempt', name='uq_flow_run_step')
    )
    with op.batch_alter_table('flow_run_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_flow_run_steps_run_pk'), ['run_pk'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('flow_run_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_flow_run_steps_run_pk'))

    op.drop_table('flow_run_steps')
    op.drop_table('flow_versions')
    with op.batch_alter_table('flow_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_flow_runs_flow')
        batch_op.drop_index('ix_flow_runs_finished')
        batch_op.drop_index('ix_flow_runs_env')

    op.drop_table('flow_runs')
    with op.batch_alter_table('flows', schema=None) as batch_op:
        batch_op.drop_index('ix_flows_trigger')

    op.drop_table('flows')
    op.drop_table('flow_variables')
