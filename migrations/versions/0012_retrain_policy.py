"""retrain policy, scheduler leases, and what started each retrain job

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 06:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('retrain_policy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('min_new_labels', sa.Integer(), nullable=True),
    sa.Column('interval_seconds', sa.Integer(), nullable=True),
    sa.Column('on_drift_alarm', sa.Boolean(), nullable=False),
    sa.Column('accuracy_drop', sa.Float(), nullable=True),
    sa.Column('cooldown_seconds', sa.Integer(), nullable=False),
    sa.Column('job_options', sa.JSON(), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['updated_by'], ['users.id'], name=op.f('fk_retrain_policy_updated_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retrain_policy'))
    )
    op.create_table('scheduler_leases',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=128), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduler_leases'))
    )
    with op.batch_alter_table('retrain_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('trigger', sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table('retrain_jobs', schema=None) as batch_op:
        batch_op.drop_column('trigger')
    op.drop_table('scheduler_leases')
    op.drop_table('retrain_policy')
