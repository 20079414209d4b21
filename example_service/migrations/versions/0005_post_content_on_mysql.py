"""post content holds 20,000 characters on MySQL / MariaDB

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 18:50:36.459503

The API takes posts of up to 20,000 characters. MySQL's TEXT holds 65,535 bytes, which
is 16,383 four-byte characters: a post of emoji within the API's limit was a 422 there.
MEDIUMTEXT holds 16 MiB. The other backends' text types have no such bound, so the
change is MySQL's alone (on SQLite an ALTER of the type would mean a table copy).
Going down refuses ("Data too long") while a post is longer than TEXT holds: shorten or
remove those first; nothing is cut silently.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeEngine

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _content_from(existing: TypeEngine[str], new: TypeEngine[str]) -> None:
    if op.get_context().dialect.name == "mysql":
        op.alter_column(
            "posts", "content", existing_type=existing, type_=new, existing_nullable=False
        )


def upgrade() -> None:
    _content_from(mysql.TEXT(), mysql.MEDIUMTEXT())


def downgrade() -> None:
    _content_from(mysql.MEDIUMTEXT(), mysql.TEXT())
