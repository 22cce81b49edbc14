"""feedback review: status, reason, reviewer and time of a label's review

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 06:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        # Existing verdicts were never flagged: "none".
        batch_op.add_column(sa.Column('review', sa.String(length=16), server_default='none', nullable=False))
        batch_op.add_column(sa.Column('review_reason', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('reviewed_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reviewed_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_feedback_review'), ['review'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_feedback_reviewed_by_users'), 'users', ['reviewed_by'], ['id']
        )


def downgrade():
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_feedback_reviewed_by_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_feedback_review'))
        batch_op.drop_column('reviewed_at')
        batch_op.drop_column('reviewed_by')
        batch_op.drop_column('review_reason')
        batch_op.drop_column('review')
