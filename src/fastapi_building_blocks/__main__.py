"""`python -m fastapi_building_blocks new-service ...` / `migrate ...` (see `cli`)."""

from .cli import main

main()
