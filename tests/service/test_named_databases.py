"""Several databases named from the environment, each route on the one its code names."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ValidationError
from sqlalchemy import make_url

from fastapi_building_blocks import ConfigurationError, SQLAlchemySession
from fastapi_building_blocks.fastapi import (
    crud_router,
    database,
    health_router,
    install_problem_handlers,
    open_databases,
    repository_in_unit_of_work,
)
from fastapi_building_blocks.settings import DatabasesSettings
from tests.backends import MARIADB_URL, POSTGRESQL_URL, sqlite_url
from tests.schema import Parent, SQLParents, create_tables, parents

SetEnv = Callable[..., None]


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> SetEnv:
    for name in ("DATABASE_URL", "DB_TYPE"):
        monkeypatch.delenv(name, raising=False)

    def set_env(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)

    return set_env


def parts_of(url: str, prefix: str) -> dict[str, str]:
    parsed = make_url(url)
    return {
        f"{prefix}DB_TYPE": "mariadb",
        f"{prefix}DB_HOST": str(parsed.host),
        f"{prefix}DB_PORT": str(parsed.port),
        f"{prefix}DB_USER": str(parsed.username),
        f"{prefix}DB_PASSWORD": str(parsed.password),
        f"{prefix}DB_NAME": str(parsed.database),
    }


def test_databases_are_named_by_the_environment_in_either_style(
    environment: SetEnv, tmp_path: Path
) -> None:
    environment(
        DATABASE_URL=sqlite_url(tmp_path),
        DATABASES__analytics__URL=POSTGRESQL_URL,
        DATABASES__analytics__POOL_SIZE="3",
        DATABASES__analytics__STATEMENT_TIMEOUT="5",
        **parts_of(MARIADB_URL, "DATABASES__ledger__"),
    )

    sessions = DatabasesSettings().sessions()

    assert sorted(sessions) == ["analytics", "default", "ledger"]
    assert sessions["analytics"].engine.pool.size() == 3  # type: ignore[attr-defined]
    assert sessions["analytics"].options.statement_timeout == 5
    assert (
        sessions["ledger"]
        .url.render_as_string(hide_password=False)
        .startswith(MARIADB_URL.split("?")[0].replace("/fbb_test", ""))
    )
    assert "fbb:***@" in repr(sessions["ledger"])  # the password stays a secret


def test_the_primary_can_be_spelled_in_parts(environment: SetEnv) -> None:
    environment(**parts_of(MARIADB_URL, ""))

    sessions = DatabasesSettings().sessions()

    assert list(sessions) == ["default"]
    assert sessions["default"].dialect.name in ("mysql", "mariadb")


@pytest.mark.parametrize(
    ("variables", "complaint"),
    [
        ({"DB_TYPE": "oracle", "DB_NAME": "x"}, "unknown DB_TYPE 'oracle'"),
        ({"DATABASES__analytics__POOL_SIZ": "3", "DATABASES__analytics__URL": "sqlite+aiosqlite://"},
         "pool_siz"),
        ({"DATABASES__analytics__POOL_SIZE": "3"}, "no URL"),
        ({"DB_HOST": "db"}, "need DB_TYPE"),
    ],
)  # fmt: skip
def test_a_configuration_it_cannot_honour_fails_at_startup(
    environment: SetEnv, variables: dict[str, str], complaint: str
) -> None:
    environment(**variables)

    with pytest.raises(ValidationError, match=complaint):
        DatabasesSettings()


def test_a_driver_that_is_not_installed_is_named_at_startup(environment: SetEnv) -> None:
    environment(DATABASE_URL="mssql+aioodbc://u:p@h/d?driver=x")

    with pytest.raises(ConfigurationError, match="aioodbc"):
        DatabasesSettings().sessions()


class ParentIn(BaseModel):
    label: str


class ParentOut(BaseModel):
    id: int
    label: str


AnalyticsParents = Annotated[SQLParents, repository_in_unit_of_work(SQLParents, "analytics")]


def analytics_app(settings: DatabasesSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_databases(app, settings):
            yield

    app = FastAPI(lifespan=lifespan)
    install_problem_handlers(app)
    app.include_router(health_router)
    app.include_router(
        crud_router(prefix="/parents", repository=SQLParents, database="analytics",
                    create=ParentIn, update=ParentIn, read=ParentOut)
    )  # fmt: skip

    @app.post("/pairs", status_code=201)
    async def pair(first: AnalyticsParents, second: AnalyticsParents, fail: bool = False) -> Any:
        created = [
            await first.create(Parent(label="left")),
            await second.create(Parent(label="right")),
        ]
        if fail:
            raise RuntimeError("after both writes")
        return {"ids": [parent.id for parent in created], "shared": first.session is second.session}

    return app


@pytest.fixture
async def client(environment: SetEnv, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    environment(DATABASE_URL=sqlite_url(tmp_path), DATABASES__analytics__URL=POSTGRESQL_URL)
    analytics = SQLAlchemySession(POSTGRESQL_URL)
    await create_tables(analytics)
    async with analytics.transaction() as connection:
        await connection.execute(parents.delete())
    await analytics.disconnect()
    app = analytics_app(DatabasesSettings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_a_router_serves_from_the_database_its_code_names(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/parents/", json={"label": "stored in postgres"})

    analytics = SQLAlchemySession(POSTGRESQL_URL)
    stored = await SQLParents(analytics).get(created.json()["id"])
    await analytics.disconnect()
    assert stored is not None
    assert stored.label == "stored in postgres"


async def test_repositories_in_one_unit_of_work_on_a_named_database_commit_together(
    client: httpx.AsyncClient,
) -> None:
    failed = await client.post("/pairs", params={"fail": "true"})
    stored = await client.post("/pairs")

    listed = (await client.get("/parents/")).json()
    assert failed.status_code == 500
    assert stored.status_code == 201
    assert stored.json()["shared"] is True  # one unit of work, one transaction
    assert sorted(parent["label"] for parent in listed["items"]) == ["left", "right"]


async def test_readiness_reports_every_database_by_name_with_its_latency(
    client: httpx.AsyncClient,
) -> None:
    ready = (await client.get("/health/ready")).json()

    assert sorted(ready["databases"]) == ["analytics", "default"]
    for check in ready["databases"].values():
        assert check["status"] == "ok"
        assert check["latency_ms"] >= 0


async def test_a_database_a_route_names_but_nobody_configured_stops_the_start(
    environment: SetEnv, tmp_path: Path
) -> None:
    environment(DATABASE_URL=sqlite_url(tmp_path))
    app = FastAPI()

    @app.get("/archive")
    async def archive(session: Annotated[SQLAlchemySession, database("archive")]) -> str:
        return session.dialect.name

    with pytest.raises(ConfigurationError, match="'archive' \\(used by /archive\\)"):
        async with open_databases(app, DatabasesSettings()):
            pass


def test_a_services_own_default_yields_to_whatever_the_environment_names(
    environment: SetEnv,
) -> None:
    from example_service.app.settings import Settings

    unconfigured = Settings().databases["default"].url
    environment(**parts_of(MARIADB_URL, ""))
    configured = Settings().databases["default"].url

    assert unconfigured is not None
    assert unconfigured.get_secret_value() == "sqlite+aiosqlite:///./example.db"
    assert configured is not None
    assert configured.get_secret_value().startswith("mysql+aiomysql://")
