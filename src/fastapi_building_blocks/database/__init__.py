"""Engine ownership: URL → dialect tuning, pool, lifecycle, ping, error translation."""

from .session import DatabaseSession, SQLAlchemySession, mask_url
from .translate import translate_error

__all__ = ["DatabaseSession", "SQLAlchemySession", "mask_url", "translate_error"]
