"""ab phases: experiment phases (arms, weights, mode) and their SRM alarm state

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 06:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ab_phases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('experiment', sa.String(length=64), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('arms', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('started_by', sa.Integer(), nullable=True),
    sa.Column('srm_alarmed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['started_by'], ['users.id'], name=op.f('fk_ab_phases_started_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ab_phases')),
    sa.UniqueConstraint('experiment', 'number', name='uq_ab_phases_experiment_number')
    )
    with op.batch_alter_table('ab_phases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ab_phases_experiment'), ['experiment'], unique=False)


def downgrade():
    with op.batch_alter_table('ab_phases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ab_phases_experiment'))
    op.drop_table('ab_phases')
