"""alias_moves: the history of every registry alias move (rollback walks it back)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 06:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('alias_moves',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alias', sa.String(length=64), nullable=False),
    sa.Column('from_version', sa.String(length=32), nullable=True),
    sa.Column('to_version', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_alias_moves_actor_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alias_moves'))
    )
    with op.batch_alter_table('alias_moves', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alias_moves_alias'), ['alias'], unique=False)
        batch_op.create_index(batch_op.f('ix_alias_moves_created_at'), ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('alias_moves', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alias_moves_created_at'))
        batch_op.drop_index(batch_op.f('ix_alias_moves_alias'))
    op.drop_table('alias_moves')
