"""Database settings from the environment: one database or many, by name.

    settings = DatabasesSettings()       # DATABASE_URL, DATABASES__<name>__URL, ...
    async with open_databases(app, settings): ...

- `DATABASE_URL` is the database named "default"; `DATABASES__<name>__URL` names others,
  with any option of `DatabaseSettings` beside it (`DATABASES__analytics__POOL_SIZE=20`,
  `DATABASES__analytics__STATEMENT_TIMEOUT=5`).
- The split style works too, for the default (`DB_TYPE`, `DB_HOST`, `DB_PORT`, `DB_USER`,
  `DB_PASSWORD`, `DB_NAME`) and per name (`DATABASES__users_db__DB_TYPE=postgres`, ...):
  it becomes the same URL. `DB_TYPE` is postgres, mysql, mariadb, sqlite or mssql.
- Every URL and password is a `SecretStr`: never shown in a repr, a log line or a dump.

A service extends `DatabasesSettings` with its own fields, or uses `DatabaseSettings`
(one database) inside its own pydantic-settings class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

from .database import SQLAlchemySession
from .database.replicas import MAX_LAG_SECONDS, Strategy
from .database.session import CONNECT_TIMEOUT_SECONDS, PING_TIMEOUT_SECONDS
from .dialects import DEFAULT_ENGINE_OPTIONS as DEFAULTS
from .errors import ConfigurationError


class DatabaseSettings(BaseModel):
    """One database: its URL and pool; everything else follows from the URL."""

    url: SecretStr = SecretStr("sqlite+aiosqlite:///./app.db")
    pool_size: int = Field(DEFAULTS.pool_size, ge=1)
    max_overflow: int = Field(DEFAULTS.max_overflow, ge=0)
    pool_timeout: float = Field(DEFAULTS.pool_timeout, gt=0)
    pool_recycle: int | None = DEFAULTS.pool_recycle
    pool_pre_ping: bool = DEFAULTS.pool_pre_ping
    #: Connections returned to the pool more recently than this are not pinged again.
    ping_after_idle_seconds: float = Field(0.5, ge=0)
    echo: bool = DEFAULTS.echo
    #: Seconds a statement may run, or wait for a lock, before the database cancels it.
    statement_timeout: float = Field(DEFAULTS.statement_timeout, gt=0)
    #: Seconds startup waits for the database to answer before giving up.
    connect_timeout: float = Field(CONNECT_TIMEOUT_SECONDS, ge=0)
    #: Seconds a health check waits for the database's answer.
    ping_timeout: float = Field(PING_TIMEOUT_SECONDS, gt=0)
    #: Hot statements straight through the driver (see `dialects.driver_path`).
    use_driver_path: bool = True
    #: Read replicas: reads outside a unit of work go to one that has replayed this
    #: context's writes (see `database.replicas`); JSON in the environment,
    #: DATABASES__<name>__REPLICA_URLS='["postgresql+asyncpg://..."]'.
    replica_urls: list[SecretStr] = []
    #: Seconds a replica may be behind its primary and still serve reads.
    max_replica_lag: float = Field(MAX_LAG_SECONDS, gt=0)
    #: Which replica serves a read: each in turn, or the one with the fewest in flight.
    replica_strategy: Strategy = "round_robin"

    def session(self) -> SQLAlchemySession:
        return SQLAlchemySession(
            self.url.get_secret_value(),
            pool_size=self.pool_size,
            max_overflow=self.max_overflow,
            pool_timeout=self.pool_timeout,
            pool_recycle=self.pool_recycle,
            pool_pre_ping=self.pool_pre_ping,
            ping_after_idle_seconds=self.ping_after_idle_seconds,
            echo=self.echo,
            statement_timeout=self.statement_timeout,
            connect_timeout=self.connect_timeout,
            ping_timeout=self.ping_timeout,
            use_driver_path=self.use_driver_path,
            replica_urls=[replica.get_secret_value() for replica in self.replica_urls],
            max_replica_lag=self.max_replica_lag,
            replica_strategy=self.replica_strategy,
        )


#: DB_TYPE → the URL scheme of the package's driver for it.
SCHEMES = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
    "sqlite": "sqlite+aiosqlite",
    "mssql": "mssql+aioodbc",
    "sqlserver": "mssql+aioodbc",
}
DEFAULT = "default"


class DatabaseParts(BaseModel):
    """The split style: a URL spelled out field by field (the design notes' DB_TYPE, ...)."""

    db_type: str | None = None
    db_host: str | None = None
    db_port: int | None = Field(None, ge=1, le=65535)
    db_user: str | None = None
    db_password: SecretStr | None = None
    db_name: str | None = None

    def spelled_url(self) -> SecretStr | None:
        """The URL these parts spell, None when none is given."""
        if self.db_type is None:
            if any(getattr(self, name) is not None for name in self._parts()):
                raise ValueError("DB_HOST, DB_NAME, ... need DB_TYPE beside them")
            return None
        scheme = SCHEMES.get(self.db_type.strip().lower())
        if scheme is None:
            raise ValueError(
                f"unknown DB_TYPE {self.db_type!r}: use one of {', '.join(sorted(SCHEMES))}"
            )
        if scheme.startswith("sqlite"):
            return SecretStr(f"{scheme}:///{self.db_name or ':memory:'}")
        password = self.db_password.get_secret_value() if self.db_password else None
        return SecretStr(
            URL.create(
                scheme, self.db_user, password, self.db_host, self.db_port, self.db_name
            ).render_as_string(hide_password=False)
        )

    @staticmethod
    def _parts() -> tuple[str, ...]:
        return ("db_host", "db_port", "db_user", "db_password", "db_name")


class NamedDatabaseSettings(DatabaseParts, DatabaseSettings):
    """One named database: a URL, or its parts, and every session option. An option it
    does not know (a typo, or one this version lacks) fails at startup, never ignored."""

    model_config = ConfigDict(extra="forbid")

    url: SecretStr | None = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _one_url(self) -> NamedDatabaseSettings:
        spelled = self.spelled_url()
        if spelled is not None and self.url is not None:
            raise ValueError("give the URL or its DB_* parts, not both")
        self.url = self.url or spelled
        return self

    def session(self) -> SQLAlchemySession:
        if self.url is None:
            raise ConfigurationError("no URL: set URL, or DB_TYPE and its parts")
        return DatabaseSettings.session(self)


class DatabasesSettings(DatabaseParts, BaseSettings):
    """Every database of a service, from the environment (see the module's docstring)."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", env_file=".env", extra="ignore")

    #: The default database when the environment names none (a subclass's choice, e.g. an
    #: SQLite file so the service starts with nothing configured).
    default_url: ClassVar[str | None] = None
    #: The same for other names: databases the service's code uses (its routes name
    #: them), each with the URL it gets when DATABASES__<name>__URL is not set.
    default_urls: ClassVar[Mapping[str, str]] = {}

    database_url: SecretStr | None = None
    databases: dict[str, NamedDatabaseSettings] = {}

    @model_validator(mode="after")
    def _the_default(self) -> DatabasesSettings:
        spelled = self.spelled_url()
        if spelled is not None and self.database_url is not None:
            raise ValueError("give DATABASE_URL or DB_TYPE and its parts, not both")
        named = self.databases.get(DEFAULT, NamedDatabaseSettings())
        primary = self.database_url or spelled
        if primary is None and named.url is None and self.default_url is not None:
            primary = SecretStr(self.default_url)
        if primary is not None:
            if named.url is not None:
                raise ValueError("DATABASE_URL and DATABASES__default__URL both name the default")
            self.databases[DEFAULT] = named.model_copy(update={"url": primary})
        for name, url in self.default_urls.items():
            given = self.databases.get(name, NamedDatabaseSettings())
            if given.url is None:  # options alone (…__POOL_SIZE) keep the default URL
                self.databases[name] = given.model_copy(update={"url": SecretStr(url)})
        for name, database in self.databases.items():
            if database.url is None:
                raise ValueError(f"database {name!r} has options but no URL (or DB_TYPE)")
        return self

    def sessions(self) -> dict[str, SQLAlchemySession]:
        """A session per configured database, by name (nothing connects yet)."""
        try:
            return {name: database.session() for name, database in self.databases.items()}
        except ConfigurationError as error:
            raise ConfigurationError(f"databases: {error}") from error
