"""rollouts: staged rollouts and the shadow answers of their candidate/baseline

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 06:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rollouts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alias', sa.String(length=64), nullable=False),
    sa.Column('candidate_version', sa.String(length=32), nullable=False),
    sa.Column('baseline_version', sa.String(length=32), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('active_lock', sa.String(length=64), nullable=True),
    sa.Column('canary_share', sa.Float(), nullable=False),
    sa.Column('thresholds', sa.JSON(), nullable=False),
    sa.Column('history', sa.JSON(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('retrain_job_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('stage_changed_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_rollouts_created_by_users')),
    sa.ForeignKeyConstraint(['retrain_job_id'], ['retrain_jobs.id'], name=op.f('fk_rollouts_retrain_job_id_retrain_jobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rollouts')),
    sa.UniqueConstraint('active_lock', name=op.f('uq_rollouts_active_lock'))
    )
    with op.batch_alter_table('rollouts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rollouts_alias'), ['alias'], unique=False)
        batch_op.create_index(batch_op.f('ix_rollouts_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_rollouts_stage'), ['stage'], unique=False)
    op.create_table('shadow_predictions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prediction_id', sa.Integer(), nullable=False),
    sa.Column('rollout_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.Column('predicted', sa.Integer(), nullable=False),
    sa.Column('probability', sa.Float(), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['prediction_id'], ['predictions.id'], name=op.f('fk_shadow_predictions_prediction_id_predictions')),
    sa.ForeignKeyConstraint(['rollout_id'], ['rollouts.id'], name=op.f('fk_shadow_predictions_rollout_id_rollouts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shadow_predictions')),
    sa.UniqueConstraint('prediction_id', name=op.f('uq_shadow_predictions_prediction_id'))
    )
    with op.batch_alter_table('shadow_predictions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shadow_predictions_rollout_id'), ['rollout_id'], unique=False)


def downgrade():
    with op.batch_alter_table('shadow_predictions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shadow_predictions_rollout_id'))
    op.drop_table('shadow_predictions')
    with op.batch_alter_table('rollouts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rollouts_stage'))
        batch_op.drop_index(batch_op.f('ix_rollouts_created_at'))
        batch_op.drop_index(batch_op.f('ix_rollouts_alias'))
    op.drop_table('rollouts')
