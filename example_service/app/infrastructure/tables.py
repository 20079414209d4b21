"""The tables: the database side of the domain → table mapping.

Change a table here and add a migration (example_service/migrations) to match; a test
fails when the two disagree. Human text is `Unicode` / `UnicodeText`: NVARCHAR on SQL
Server, where plain VARCHAR would lose non-Latin characters and emoji.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Integer, String, Table, Unicode, UnicodeText, Uuid
from sqlalchemy.dialects.mysql import MEDIUMTEXT

from fastapi_building_blocks import (
    UTCDateTime,
    created_at,
    foreign_key,
    metadata,
    updated_at,
    uuid_primary_key,
    version,
)
from fastapi_building_blocks.idempotency import idempotency_keys_table
from fastapi_building_blocks.outbox import inbox_table, outbox_table

schema = metadata()

#: A post's text, up to the API's 20,000 characters on every backend. MySQL / MariaDB's
#: TEXT holds 65,535 bytes, which is 16,383 four-byte characters (emoji), so there it is
#: MEDIUMTEXT; the other backends' text types have no such bound.
POST_CONTENT = UnicodeText().with_variant(MEDIUMTEXT(), "mysql", "mariadb")

users = Table(
    "users",
    schema,
    uuid_primary_key(),
    Column("first_name", Unicode(100), nullable=False),
    Column("last_name", Unicode(100), nullable=False),
    Column("email", String(255), nullable=False, unique=True),
    Column("username", String(50), nullable=False, unique=True),
    Column("is_active", Boolean, nullable=False),
    created_at(),
    updated_at(),
    version(),
)

posts = Table(
    "posts",
    schema,
    uuid_primary_key(),
    foreign_key("author_id", users),  # the same type as users.id, and indexed
    Column("title", Unicode(200), nullable=False),
    Column("content", POST_CONTENT, nullable=False),
    Column("published", Boolean, nullable=False),
    created_at(),
    updated_at(),
    version(),
)

#: Events about users, written in the same transaction as the change (uow.publish); the
#: relay carries them to the analytics database.
outbox = outbox_table(schema)

#: Responses of writes sent with an Idempotency-Key, stored with their effect: a client's
#: retry gets the first response back (app/api/users.py).
idempotency_keys = idempotency_keys_table(schema)

#: The "analytics" database's tables (DATABASES__analytics__URL), in a schema of their
#: own with migrations of their own (example_service/analytics_migrations).
analytics_schema = metadata()

page_views = Table(
    "page_views",
    analytics_schema,
    uuid_primary_key(),
    Column("path", Unicode(500), nullable=False),
    # A user of the default database: another database, so no foreign key can hold it.
    Column("user_id", Uuid, nullable=True, index=True),
    created_at("viewed_at"),
)

#: Users as the analytics database sees them: projected from the users database's
#: events by the relay (app/projection.py), never written by a request.
user_projections = Table(
    "user_projections",
    analytics_schema,
    Column("id", Uuid, primary_key=True),
    Column("username", String(50), nullable=False),
    Column("email", String(255), nullable=False),
    Column("full_name", Unicode(201), nullable=False),
    Column("is_active", Boolean, nullable=False),
    # The user's version in the users database: a projection only ever moves forward.
    Column("source_version", Integer, nullable=False),
    Column("projected_at", UTCDateTime(), nullable=False),
)

#: The projection's record of the messages it has applied (each once).
inbox = inbox_table(analytics_schema)
