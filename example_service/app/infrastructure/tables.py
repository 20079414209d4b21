"""The users table: the database side of the domain → table mapping."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, String, Table

from fastapi_building_blocks import metadata, uuid_primary_key

schema = metadata()

users = Table(
    "users",
    schema,
    uuid_primary_key(),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("email", String(255), nullable=False, unique=True),
    Column("username", String(50), nullable=False, unique=True),
    Column("is_active", Boolean, nullable=False, default=True),
)
