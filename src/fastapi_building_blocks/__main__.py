"""`python -m fastapi_building_blocks new-service NAME --path DIR` (see `scaffold`)."""

from .scaffold import main

main()
