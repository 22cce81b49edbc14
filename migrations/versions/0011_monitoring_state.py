"""monitoring: the last drift verdict per alias

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 06:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('monitoring_state',
    sa.Column('alias', sa.String(length=64), nullable=False),
    sa.Column('model_version', sa.String(length=32), nullable=True),
    sa.Column('alarm', sa.Boolean(), nullable=False),
    sa.Column('p_value', sa.Float(), nullable=True),
    sa.Column('estimated_accuracy', sa.Float(), nullable=True),
    sa.Column('window_n', sa.Integer(), nullable=False),
    sa.Column('changed_at', sa.DateTime(), nullable=False),
    sa.Column('checked_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('alias', name=op.f('pk_monitoring_state'))
    )


def downgrade():
    op.drop_table('monitoring_state')
