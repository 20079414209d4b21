"""A user as the analytics database knows it: what the users database's events said."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass
class UserProjection:
    id: uuid.UUID
    username: str
    email: str
    full_name: str
    is_active: bool
    source_version: int
    projected_at: datetime
