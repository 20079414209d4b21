"""MariaDB's replies read from the package's own buffer (dialects/aiomysql_replies.py):
every row, description and error exactly as aiomysql reads them, in far fewer waits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiomysql
import pytest
from pymysql.err import ProgrammingError
from sqlalchemy import make_url

from fastapi_building_blocks.dialects import aiomysql_replies
from fastapi_building_blocks.dialects.aiomysql_replies import BufferedReplies
from tests.backends import MARIADB_URL

#: Replies of every shape: NULL, text, numbers, dates, bytes, JSON, values whose length
#: takes 2 and 3 bytes to write, a row split over two packets (over 16 MiB), many rows,
#: no rows, and statements that answer OK.
REPLIES = [
    "SELECT 1, NULL, 'text', 1.5, CAST(2.25 AS DECIMAL(6, 3)), -7, 18446744073709551615",
    "SELECT CAST('2026-01-02 03:04:05.123456' AS DATETIME(6)), CAST('2026-01-02' AS DATE),"
    " CAST('10:11:12' AS TIME), x'00ff10', JSON_OBJECT('a', 1), 'é中'",
    "SELECT REPEAT('é', 300), REPEAT('b', 70000), NULL, 'after'",
    "SELECT REPEAT('x', 9000000), REPEAT('y', 9000000), 7",
    "SELECT seq, CONCAT('row ', seq) FROM seq_1_to_5000",
    "SELECT 1 FROM DUAL WHERE 0",
    "SET @answered = 1",
    "DO 1",
]


async def connected(connection_type: type[Any]) -> Any:
    url = make_url(MARIADB_URL)
    connection = connection_type(
        host=url.host, port=url.port, user=url.username, password=url.password,
        db=url.database, autocommit=True,
    )  # fmt: skip
    await connection._connect()
    return connection


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Any, Any]]:
    """aiomysql's own connection and the buffered one, to the same server."""
    own, buffered = await connected(aiomysql.Connection), await connected(BufferedReplies)
    yield own, buffered
    own.close()
    buffered.close()


async def answer(connection: Any, sql: str) -> tuple[Any, ...]:
    async with connection.cursor() as cursor:
        matched = await cursor.execute(sql)
        return matched, cursor.description, await cursor.fetchall()


@pytest.mark.parametrize("sql", REPLIES)
async def test_a_reply_reads_as_aiomysql_reads_it(pair: tuple[Any, Any], sql: str) -> None:
    own, buffered = pair
    assert await answer(buffered, sql) == await answer(own, sql)


async def test_replies_follow_each_other_on_one_connection(pair: tuple[Any, Any]) -> None:
    """What is left in the buffer after one reply belongs to the next."""
    own, buffered = pair
    for sql in REPLIES * 2:
        assert await answer(buffered, sql) == await answer(own, sql)


async def test_an_error_reply_is_aiomysqls_error_and_the_connection_goes_on(
    pair: tuple[Any, Any],
) -> None:
    own, buffered = pair
    errors = []
    for connection in (own, buffered):
        with pytest.raises(ProgrammingError) as refused:
            await answer(connection, "SELECT * FROM no_such_table")
        errors.append(refused.value.args)
    assert errors[0] == errors[1]
    assert await answer(buffered, "SELECT 2") == await answer(own, "SELECT 2")


#: Statements whose whole answer is an OK packet: counts of 1, 2 and 3 bytes, an insert
#: id, a message, a warning, and a transaction's status.
OK_REPLIES = [
    "CREATE TEMPORARY TABLE answered (id INT AUTO_INCREMENT PRIMARY KEY, n INT, s CHAR(2))",
    "INSERT INTO answered (n) VALUES (1), (2), (3)",
    "INSERT INTO answered (n) SELECT seq FROM seq_1_to_70000",
    "UPDATE answered SET n = n + 1 WHERE id <= 300",
    "UPDATE answered SET n = n + 1",
    "INSERT IGNORE INTO answered (id, n) VALUES (1, 1)",
    "BEGIN",
    "DELETE FROM answered WHERE id > 10",
    "COMMIT",
]


def ok_result(connection: Any, result: Any) -> tuple[Any, ...]:
    return (
        result.affected_rows, result.insert_id, result.server_status,
        result.warning_count, result.message, result.has_next, connection.server_status,
    )  # fmt: skip


@pytest.mark.filterwarnings("ignore:Duplicate entry")  # aiomysql shows the warning
async def test_an_ok_reply_reads_as_aiomysql_reads_it(pair: tuple[Any, Any]) -> None:
    own, buffered = pair
    counts = []
    for sql in OK_REPLIES:
        answers = []
        for connection in (own, buffered):
            async with connection.cursor() as cursor:
                await cursor.execute(sql)
                answers.append(ok_result(connection, cursor._result))
        assert answers[0] == answers[1], sql
        counts.append(answers[0][0])
    assert max(counts) == 70_003  # a count that takes 3 bytes to write was read


async def test_begin_and_commit_leave_the_server_status_aiomysql_reads(
    pair: tuple[Any, Any],
) -> None:
    own, buffered = pair
    for step in ("begin", "commit"):
        for connection in (own, buffered):
            await getattr(connection, step)()
        assert buffered.server_status == own.server_status, step


class CountingStream:
    """The connection's stream, counting the waits for its bytes."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.waits = stream, 0

    async def read(self, size: int) -> bytes:
        self.waits += 1
        return bytes(await self.stream.read(size))

    async def readexactly(self, size: int) -> bytes:
        self.waits += 1
        return bytes(await self.stream.readexactly(size))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


async def test_a_page_of_rows_is_read_in_a_few_waits_not_two_per_packet(
    pair: tuple[Any, Any],
) -> None:
    """A page of 50 rows is 55 packets; aiomysql waits twice for each (header, body)."""
    page = "SELECT seq, CONCAT('row ', seq) FROM seq_1_to_50"
    waits = {}
    for name, connection in zip(("own", "buffered"), pair, strict=True):
        connection._reader = stream = CountingStream(connection._reader)
        await answer(connection, page)
        waits[name] = stream.waits
    assert waits["own"] == 2 * 55
    assert waits["buffered"] <= 3


async def test_a_results_columns_are_worked_out_once_per_distinct_set(
    pair: tuple[Any, Any],
) -> None:
    _, buffered = pair
    results = []
    for _ in range(2):
        async with buffered.cursor() as cursor:
            await cursor.execute("SELECT 1 AS one, 'a' AS letter")
            results.append(cursor._result)
    first, second = results
    assert all(a is b for a, b in zip(first.fields, second.fields, strict=True))
    assert first.description is second.description
    assert first.fields is not second.fields  # each result's list is its own, as in aiomysql


async def test_the_description_cache_is_bounded(
    pair: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    own, buffered = pair
    monkeypatch.setattr(aiomysql_replies, "MAX_CACHED_DESCRIPTIONS", 8)
    monkeypatch.setattr(aiomysql_replies, "_DESCRIPTIONS", {})
    monkeypatch.setattr(aiomysql_replies, "_RESULTS", {})
    sizes = []
    for n in range(30):
        await answer(buffered, f"SELECT 1 AS column_{n}")
        sizes.append((len(aiomysql_replies._DESCRIPTIONS), len(aiomysql_replies._RESULTS)))
    assert max(sizes) == (8, 8)
    assert await answer(buffered, "SELECT 1 AS last") == await answer(own, "SELECT 1 AS last")
