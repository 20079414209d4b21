"""`python -m fastapi_building_blocks`: make a service, migrate its databases.

python -m fastapi_building_blocks new-service orders_service --path ../orders-service
python -m fastapi_building_blocks migrate orders_service/alembic.ini
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .errors import ConfigurationError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fastapi_building_blocks")
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new-service", help="a new service, made from the example")
    new.add_argument("name", help="its Python package name, e.g. orders_service")
    new.add_argument("--path", type=Path, help="where to write it (default: ./NAME)")
    migrate = commands.add_parser(
        "migrate", help="upgrade every database the service has migrations for"
    )
    migrate.add_argument("alembic_ini", type=Path, help="the service's alembic.ini")
    options = parser.parse_args(argv)
    if options.command == "new-service":
        from .scaffold import new_service

        path = options.path or Path(options.name)
        try:
            new_service(options.name, path)
        except (ValueError, FileExistsError, FileNotFoundError) as error:
            parser.exit(2, f"new-service: {error}\n")
        print(f"{options.name}: written to {path}; cd {path} && make run")
    else:
        from .migrations import upgrade_all

        try:
            upgrade_all(options.alembic_ini)
        except ConfigurationError as error:
            parser.exit(2, f"migrate: {error}\n")
