"""The outbox's relay as a process of its own: `python -m example_service.relay`.

For a deployment that runs the relay apart from the web processes (then set
RUN_RELAY=false for them); `make run` runs it inside the service instead. SIGTERM or
SIGINT finishes the batch under way, then stops.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from fastapi_building_blocks.observability import configure_json_logging

from .app.projection import users_relay
from .app.settings import Settings


async def main() -> None:
    settings = Settings()
    if settings.json_logs:
        configure_json_logging()
    databases = settings.sessions()
    users, analytics = databases["default"], databases["analytics"]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await users.connect()
        await analytics.connect()
        logging.getLogger("example_service.relay").info("relaying users to analytics")
        await users_relay(users, analytics).run(stop)
    finally:
        await users.disconnect()
        await analytics.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
