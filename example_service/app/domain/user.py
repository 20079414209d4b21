"""The User entity: plain Python, no database in sight. Swap it for your own entity."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from fastapi_building_blocks import uuid7


def normalized_email(email: str) -> str:
    """A rule of the domain: emails compare case-insensitively, so keep them lower-case."""
    return email.strip().lower()


@dataclass
class User:
    first_name: str
    last_name: str
    email: str
    username: str
    is_active: bool = True
    id: uuid.UUID = field(default_factory=uuid7)
    # Kept by the repository (see infrastructure/tables.py): never set these yourself.
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    def __post_init__(self) -> None:
        self.email = normalized_email(self.email)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"
