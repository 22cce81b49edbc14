"""predictions: out-of-distribution flag and score

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 06:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    # Rows stored before the detector existed were never judged: ood false, score null.
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ood", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("ood_score", sa.Float(), nullable=True))


def downgrade():
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_column("ood_score")
        batch_op.drop_column("ood")
