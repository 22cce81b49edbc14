"""users: token stamp, ids never reused (SQLite AUTOINCREMENT), names unique in any letter case

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 23:50:00

"""
import logging

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def _random_hex(dialect: str) -> str:
    if dialect == "sqlite":
        return "lower(hex(randomblob(16)))"
    return "md5(random()::text || clock_timestamp()::text || id::text)"


def upgrade():
    bind = op.get_bind()
    dialect = bind.dialect.name
    # SQLite: rebuild the table with AUTOINCREMENT so a deleted user's id is never handed out again
    # (PostgreSQL sequences never reuse ids). The stamp is filled per row below.
    with op.batch_alter_table(
        'users',
        recreate='always' if dialect == 'sqlite' else 'auto',
        table_kwargs={'sqlite_autoincrement': True},
    ) as batch_op:
        batch_op.add_column(sa.Column('token_stamp', sa.String(length=32), nullable=False, server_default=''))
    op.execute(f"UPDATE users SET token_stamp = {_random_hex(dialect)}")

    # Names that differ only in letter case ("racer", "Racer"): the older account keeps its name,
    # the newer ones get "-<id>" appended (logged) so the case-insensitive index can be built.
    rows = bind.execute(sa.text(
        "SELECT id, username FROM users WHERE lower(username) IN "
        "(SELECT lower(username) FROM users GROUP BY lower(username) HAVING count(*) > 1) ORDER BY id"
    )).all()
    seen: set[str] = set()
    for user_id, name in rows:
        if name.lower() in seen:
            new = f"{name[:50]}-{user_id}"
            log.warning("renaming user %s %r to %r: names are now unique in any letter case", user_id, name, new)
            bind.execute(sa.text("UPDATE users SET username = :n WHERE id = :i"), {"n": new, "i": user_id})
        seen.add(name.lower())
    op.create_index('uq_users_username_lower', 'users', [sa.text('lower(username)')], unique=True)


def downgrade():
    op.drop_index('uq_users_username_lower', table_name='users')
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table(
        'users', recreate='always' if dialect == 'sqlite' else 'auto', table_kwargs={'sqlite_autoincrement': False}
    ) as batch_op:
        batch_op.drop_column('token_stamp')
