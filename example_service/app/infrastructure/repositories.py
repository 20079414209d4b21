"""The user repository: the generic one, pointed at the users table."""

from __future__ import annotations

import uuid

from fastapi_building_blocks import SQLAlchemyRepository

from ..domain.user import User
from .tables import users


class UserRepository(SQLAlchemyRepository[User, uuid.UUID]):
    table = users
