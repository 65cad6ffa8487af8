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
