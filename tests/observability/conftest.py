"""The observability tests run on the example service over every SQL backend."""

from tests.service.conftest import service_url

__all__ = ["service_url"]
