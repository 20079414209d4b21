"""The User entity: plain Python, no database in sight. Swap it for your own entity."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from fastapi_building_blocks import uuid7


@dataclass
class User:
    first_name: str
    last_name: str
    email: str
    username: str
    is_active: bool = True
    id: uuid.UUID = field(default_factory=uuid7)

    def __post_init__(self) -> None:
        # One rule of the domain: emails compare case-insensitively, so store them lower-case.
        self.email = self.email.strip().lower()
