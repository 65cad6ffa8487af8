"""The MariaDB sandbox's account check: SELECT on one database, nothing else.

``SHOW GRANTS`` lists what the connected account may do (its own grants, the
roles granted to it, proxy rights). Anything beyond SELECT, SHOW VIEW and USAGE
on the connection's own database makes the sandbox refuse to run: no global
privilege, no grant or admin option, no role (``SET ROLE`` would bring its
privileges back), no proxy, no routine privilege, no other database.
"""

from __future__ import annotations

import re
from typing import Any

from targets.sandbox.base import SandboxMisconfigured

_ALLOWED_ON_DATABASE = frozenset({"SELECT", "SHOW VIEW", "USAGE"})
# A target's test-suite neighbours are databases named <target>__nb<n>
# (`neighbour_database`); its reader reads them too, deliberately, and nothing else.
NEIGHBOUR_SUFFIX = "__nb"
_NEIGHBOUR = re.compile(r"(.+)__nb([1-9][0-9]{0,2})")


def neighbour_database(database: str, number: int) -> str:
    """The name of neighbour ``number`` (1-based) of target database ``database``."""
    return f"{database}{NEIGHBOUR_SUFFIX}{number}"


def _same_family(name: str, database: str) -> bool:
    """Whether ``name`` is ``database``, its target, or a neighbour of either."""
    own = _NEIGHBOUR.fullmatch(database)
    root = own.group(1) if own else database
    other = _NEIGHBOUR.fullmatch(name)
    return name == root or (other is not None and other.group(1) == root)


def _outside_quotes(text: str) -> str:
    """``text`` with every quoted part (`...`, '...', "...") blanked out."""
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\" and quote != "`":
                i += 2
                out.append("  ")
                continue
            if ch == quote:
                if text[i + 1 : i + 2] == quote:
                    i += 2
                    out.append("  ")
                    continue
                quote = ""
            out.append(" " if quote else ch)
        elif ch in "`'\"":
            quote = ch
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _split_top(text: str, sep: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _grant_object_database(obj: str) -> str | None:
    """The database a grant's object names (None for ``*.*``), unescaped."""
    obj = obj.strip()
    if obj == "*.*":
        return None
    if obj.startswith("`"):
        end = obj.index("`", 1)
        while obj[end + 1 : end + 2] == "`":
            end = obj.index("`", end + 2)
        name = obj[1:end].replace("``", "`")
    else:
        name = obj.split(".", 1)[0]
    # Database-level grants show LIKE-escaped names.
    return re.sub(r"\\(.)", r"\1", name)


def grant_problems(grants: list[str], database: str) -> list[str]:
    """What in ``SHOW GRANTS`` lines goes beyond SELECT on ``database`` (and on
    the target and neighbour databases of its family: `neighbour_database`)."""
    problems: list[str] = []
    for line in grants:
        plain = _outside_quotes(line)
        upper = plain.upper()
        if not upper.startswith("GRANT "):
            problems.append(f"unexpected grant line: {line}")
            continue
        if "GRANT OPTION" in upper or "ADMIN OPTION" in upper:
            problems.append(f"may grant to others: {line}")
        on = upper.find(" ON ")
        to = upper.rfind(" TO ")
        if on < 0 or to < on:
            problems.append(f"holds a role: {line}")
            continue
        privileges = {p.split("(", 1)[0].strip() for p in _split_top(upper[6:on], ",")}
        obj = line[on + 4 : to].strip()
        kind = obj.split(" ", 1)[0].upper()
        if kind in {"FUNCTION", "PROCEDURE", "PACKAGE", "PACKAGE BODY"}:
            problems.append(f"holds a routine privilege: {line}")
            continue
        if "PROXY" in privileges:
            problems.append(f"may act as another user: {line}")
            continue
        try:
            name = _grant_object_database(obj)
        except ValueError:
            problems.append(f"unreadable grant: {line}")
            continue
        if name is None:
            if privileges != {"USAGE"}:
                problems.append(f"holds global privileges: {line}")
            continue
        if not _same_family(name, database) or "%" in name:
            problems.append(f"holds privileges on another database: {line}")
        elif not privileges <= _ALLOWED_ON_DATABASE:
            extra = ", ".join(sorted(privileges - _ALLOWED_ON_DATABASE))
            problems.append(f"may do more than read ({extra}): {line}")
    return problems


def verify_select_only(conn: Any, database: str) -> None:
    """Raise SandboxMisconfigured unless the account may only read ``database``."""
    with conn.cursor() as cur:
        cur.execute("SHOW GRANTS")
        grants = [str(row[0]) for row in cur.fetchall()]
    problems = grant_problems(grants, database)
    if problems:
        raise SandboxMisconfigured("not a SELECT-only account: " + "; ".join(problems))
