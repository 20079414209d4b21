"""A page view: what the analytics database records, apart from the users' database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from fastapi_building_blocks import uuid7


@dataclass
class PageView:
    path: str
    user_id: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid7)
    viewed_at: datetime | None = None
