"""How each dialect reads its driver's errors. The live backends prove this end to end in
the contract suite; SQL Server has no server here, so its messages are checked as text."""

from __future__ import annotations

import pytest

from fastapi_building_blocks.dialects import Diagnosis, Failure, dialect_named


class PyodbcError(Exception):
    """Shaped like pyodbc's errors: (SQLSTATE, message with the native number)."""


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "[23000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Violation of UNIQUE KEY "
            "constraint 'uq_users_email'. Cannot insert duplicate key in object 'dbo.users'. "
            "The duplicate key value is (a@b.c). (2627) (SQLExecDirectW)",
            Diagnosis(Failure.UNIQUE, constraint="uq_users_email"),
        ),
        (
            "[23000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Cannot insert duplicate "
            "key row in object 'dbo.users' with unique index 'ix_users_username'. The duplicate "
            "key value is (x). (2601) (SQLExecDirectW)",
            Diagnosis(Failure.UNIQUE, constraint="ix_users_username"),
        ),
        (
            "[23000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]The INSERT statement "
            'conflicted with the FOREIGN KEY constraint "fk_posts_author_id_users". The conflict '
            'occurred in database "app", table "dbo.users", column \'id\'. (547) (SQLExecDirectW)',
            Diagnosis(Failure.FOREIGN_KEY, constraint="fk_posts_author_id_users"),
        ),
        (
            "[23000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]The INSERT statement "
            'conflicted with the CHECK constraint "ck_things_score_not_negative". (547)',
            Diagnosis(Failure.CHECK, constraint="ck_things_score_not_negative"),
        ),
        (
            "[23000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Cannot insert the value "
            "NULL into column 'email', table 'app.dbo.users'; column does not allow nulls. "
            "INSERT fails. (515) (SQLExecDirectW)",
            Diagnosis(Failure.NOT_NULL, columns=("email",)),
        ),
        (
            "[40001] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Transaction (Process ID "
            "52) was deadlocked on lock resources with another process and has been chosen as the "
            "deadlock victim. Rerun the transaction. (1205) (SQLExecDirectW)",
            Diagnosis(Failure.CONCURRENCY),
        ),
        (
            "[28000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Login failed for user "
            "'sa'. (18456) (SQLDriverConnect)",
            Diagnosis(Failure.LOGIN_REFUSED),
        ),
        (
            "[23000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Violation of "
            "PRIMARY KEY constraint 'pk_parents'. Cannot insert duplicate key in object "
            "'dbo.parents'. The duplicate key value is (5). (2627) (SQLExecDirectW)",
            Diagnosis(Failure.UNIQUE, constraint="pk_parents"),
        ),
        ("[42S02] Invalid object name 'nope'. (208) (SQLExecDirectW)", None),
    ],
)
def test_sql_server_errors_are_read_from_their_native_numbers(
    message: str, expected: Diagnosis | None
) -> None:
    sqlstate, _, text = message.partition(" ")
    assert dialect_named("mssql").diagnose(PyodbcError(sqlstate.strip("[]"), text)) == expected


@pytest.mark.parametrize(
    ("errno", "message", "expected"),
    [
        (
            1062,
            "Duplicate entry 'a' for key 'uq_users_email'",
            Diagnosis(Failure.UNIQUE, "uq_users_email"),
        ),
        (
            1062,
            "Duplicate entry 'a' for key 'users.email'",
            Diagnosis(Failure.UNIQUE, "email"),
        ),  # MySQL 8
        (
            1452,
            "Cannot add or update a child row: a foreign key constraint fails (`d`.`children`, "
            "CONSTRAINT `fk_c` FOREIGN KEY (`parent_id`) REFERENCES `parents` (`id`))",
            Diagnosis(Failure.FOREIGN_KEY, "fk_c", ("parent_id",)),
        ),
        (
            1048,
            "Column 'category' cannot be null",
            Diagnosis(Failure.NOT_NULL, columns=("category",)),
        ),
        (1213, "Deadlock found when trying to get lock", Diagnosis(Failure.CONCURRENCY)),
        (2003, "Can't connect to MySQL server on '127.0.0.1'", Diagnosis(Failure.UNAVAILABLE)),
        (1045, "Access denied for user 'fbb'@'localhost'", Diagnosis(Failure.LOGIN_REFUSED)),
        (
            1969,
            "Query execution was interrupted (max_statement_time exceeded)",
            Diagnosis(Failure.TIMEOUT),
        ),
        (1146, "Table 'd.nope' doesn't exist", None),
    ],
)
def test_mysql_errors_are_read_from_their_error_numbers(
    errno: int, message: str, expected: Diagnosis | None
) -> None:
    assert dialect_named("mysql").diagnose(Exception(errno, message)) == expected
