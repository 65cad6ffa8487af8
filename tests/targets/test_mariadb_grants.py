"""The MariaDB sandbox's account check and URL parsing, without a server."""

from __future__ import annotations

import pytest

from targets.sandbox import MariaDBSandbox, SandboxMisconfigured
from targets.sandbox.mariadb_grants import grant_problems

USAGE = "GRANT USAGE ON *.* TO `r`@`%` IDENTIFIED BY PASSWORD '*AB'"


@pytest.mark.parametrize(
    ("database", "grants", "problem"),
    [
        ("db", [USAGE, "GRANT SELECT ON `db`.* TO `r`@`%`"], None),
        ("db", [USAGE, "GRANT SELECT, SHOW VIEW ON `db`.`t` TO `r`@`%`"], None),
        ("db", [USAGE, "GRANT SELECT (`a`, `b`) ON `db`.`t` TO `r`@`%`"], None),
        ("d_b", ["GRANT SELECT ON `d\\_b`.* TO `r`@`%`"], None),
        ("db", [USAGE, "GRANT SELECT ON `d\\_b`.* TO `r`@`%`"], "another database"),
        ("db", [USAGE, "GRANT SELECT, INSERT ON `db`.* TO `r`@`%`"], "INSERT"),
        ("db", [USAGE, "GRANT SELECT ON `other`.* TO `r`@`%`"], "another database"),
        ("d%", [USAGE, "GRANT SELECT ON `d%`.* TO `r`@`%`"], "another database"),
        ("db", ["GRANT FILE ON *.* TO `r`@`%`"], "global"),
        ("db", ["GRANT ALL PRIVILEGES ON *.* TO `r`@`%` WITH GRANT OPTION"], "grant"),
        ("db", [USAGE, "GRANT SELECT ON `db`.* TO `r`@`%` WITH GRANT OPTION"], "grant"),
        ("db", [USAGE, "GRANT `writer` TO `r`@`%`"], "role"),
        ("db", [USAGE, "SET DEFAULT ROLE `writer` FOR `r`@`%`"], "unexpected"),
        ("db", ["GRANT PROXY ON ''@'%' TO 'r'@'%'"], "another user"),
        ("db", [USAGE, "GRANT EXECUTE ON PROCEDURE `db`.`p` TO `r`@`%`"], "routine"),
        ("db", [USAGE, "GRANT SELECT ON `x ON y`.* TO `r`@`%`"], "another database"),
        ("x ON y", [USAGE, "GRANT SELECT ON `x ON y`.* TO `r`@`%`"], None),
        ("db", [USAGE, "GRANT SELECT ON `db`.`t TO x` TO `r`@`%`"], None),
        (
            "db",
            [USAGE, "GRANT INSERT ON `db`.`t` TO `r`@`%` WITH MAX_QUERIES_PER_HOUR 9"],
            "INSERT",
        ),
    ],
)
def test_grant_problems(database: str, grants: list[str], problem: str | None) -> None:
    found = "; ".join(grant_problems(grants, database))
    if problem is None:
        assert found == ""
    else:
        assert problem in found


@pytest.mark.parametrize(
    "dsn",
    [
        "postgres://u@h/db",
        "mysql://u@h",
        "mysql://h/db",
        "mysql://u@h:notaport/db",
    ],
)
def test_a_bad_mysql_url_is_misconfigured(dsn: str) -> None:
    with pytest.raises(SandboxMisconfigured):
        MariaDBSandbox(dsn)


NB = "GRANT SELECT ON `{}`.* TO `r`@`%`"


@pytest.mark.parametrize(
    ("database", "other", "allowed"),
    [
        # The target's reader reads its neighbours, and a neighbour's sandbox
        # accepts the target and the other neighbours: one family.
        ("db", "db\\_\\_nb1", True),
        ("db", "db\\_\\_nb5", True),
        ("db__nb2", "db", True),
        ("db__nb2", "db\\_\\_nb3", True),
        # Anything else is still another database.
        ("db", "dbx\\_\\_nb1", False),
        ("db", "other\\_\\_nb1", False),
        ("db", "db\\_\\_nb0", False),
        ("db", "db\\_\\_nbx", False),
        ("db", "db\\_\\_nb1\\_x", False),
        ("db", "db\\_\\_nb%", False),
        ("db__nb2", "other", False),
        ("db__nb2", "db\\_\\_nb2\\_\\_nb1", False),
        ("db", "db\\_\\_nb1\\_\\_nb1", False),
    ],
)
def test_neighbour_databases_are_the_only_other_databases_allowed(
    database: str, other: str, allowed: bool
) -> None:
    problems = grant_problems([USAGE, NB.format(other)], database)
    assert (problems == []) is allowed
    if not allowed:
        assert "another database" in problems[0]
