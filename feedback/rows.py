"""Multi-row INSERT of prepared column values, without model instances.

The batch endpoint stores up to 1,000 events per request; building model
instances and letting bulk_create prepare every value field by field costs more
than validation and redaction together. Values here are already clean Python
objects, so each column gets one cheap converter and the rows go through one
`executemany`, or on PostgreSQL through one COPY, which skips the per-row
statement work. Append-only tables need no signals or history, so nothing is
skipped by not going through the ORM's save paths.

Both ways are all or nothing: COPY into the table itself checks the same
constraints and fires the same triggers as INSERT, and a refused row (a stored
id, a value out of range) fails the whole call with the same Django exception,
so callers handle refusals one way.
"""

from __future__ import annotations

import json
import operator
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import connection, models

Converter = Callable[[Any], Any]
Plan = tuple[str, str, list[tuple[str, Converter]]]
_PLANS: dict[tuple[str, type], Plan] = {}
# A lone row costs one round trip either way; COPY pays off from two rows on.
COPY_MIN_ROWS = 2


def _same(value: Any) -> Any:
    return value


def _converter(field: models.Field) -> Converter:
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    if isinstance(target, models.JSONField):
        return _json
    if connection.vendor != "sqlite":
        return _same
    if isinstance(target, models.UUIDField):
        return _sqlite_uuid
    if isinstance(target, models.DateTimeField):
        return _sqlite_datetime
    return _same


def _json(value: Any) -> str:
    # Most JSON columns here are empty lists; skip the encoder for them.
    return "[]" if value == [] else json.dumps(value, ensure_ascii=False)


def _sqlite_uuid(value: uuid.UUID | str | None) -> str | None:
    # What Django's SQLite backend stores: 32 hex digits.
    if value is None:
        return None
    return (value if isinstance(value, uuid.UUID) else uuid.UUID(value)).hex


def _sqlite_datetime(value: datetime | None) -> str | None:
    # What Django's SQLite backend stores for aware values with USE_TZ: naive UTC.
    if value is None:
        return None
    return str(value.astimezone(UTC).replace(tzinfo=None))


def _plan(model: type[models.Model]) -> Plan:
    """The INSERT and COPY statements of `model`, and its column converters."""
    key = (connection.vendor, model)
    if key not in _PLANS:
        fields = model._meta.concrete_fields
        quote = connection.ops.quote_name
        # Concrete fields always have a column; the stubs type it as optional.
        columns = ", ".join(quote(field.column) for field in fields)  # type: ignore[arg-type]
        marks = ", ".join(["%s"] * len(fields))
        table = quote(model._meta.db_table)
        insert = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
        copy = f"COPY {table} ({columns}) FROM STDIN"
        converters = [(field.attname, _converter(field)) for field in fields]
        _PLANS[key] = (insert, copy, converters)
    return _PLANS[key]


def stored_fingerprints(
    model: type[models.Model], ids: Collection[str]
) -> list[tuple[str, str]]:
    """(event id, fingerprint) of the rows of `model` among `ids` (canonical
    UUID texts), in no order; ids come back as such texts.

    On PostgreSQL the ids go as one array parameter: a 1,000-id `pk__in` costs
    the ORM and the server a placeholder each, three times the work.
    Every id must be a UUID text (ingestion validates them), so none can break
    out of the array literal; PostgreSQL checks each as it casts.
    """
    if connection.vendor != "postgresql":
        found = model._default_manager.filter(pk__in=list(ids))
        rows = found.values_list("pk", "fingerprint")
    else:
        quote = connection.ops.quote_name
        table = quote(model._meta.db_table)
        pk = quote(model._meta.pk.column)  # type: ignore[arg-type]
        where = f"{pk} = ANY(%s::uuid[])"
        with connection.cursor() as cursor:
            # One array literal: Django's client-side binding quotes a Python
            # list element by element. Ids are validated UUID texts.
            cursor.execute(
                f"SELECT {pk}, {quote('fingerprint')} FROM {table} WHERE {where}",  # noqa: S608
                ["{" + ",".join(ids) + "}"],
            )
            rows = cursor.fetchall()
    return [(str(pk), print_) for pk, print_ in rows]


def insert_rows(model: type[models.Model], rows: Iterable[dict[str, Any]]) -> None:
    """Store `rows` (dicts by attname, every column present), all or none.

    PostgreSQL: COPY from two rows on, or for an iterator, whose rows are sent as
    it yields them; otherwise one executemany.
    """
    if not isinstance(rows, Sequence):
        if connection.vendor == "postgresql":
            copy_rows(model, rows)
            return
        rows = list(rows)
    if connection.vendor == "postgresql" and len(rows) >= COPY_MIN_ROWS:
        copy_rows(model, rows)
    else:
        execute_rows(model, rows)


def execute_rows(model: type[models.Model], rows: Sequence[dict[str, Any]]) -> None:
    """INSERT `rows` in one executemany (any backend)."""
    sql, _, columns = _plan(model)
    params = [tuple(convert(row[name]) for name, convert in columns) for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def copy_rows(model: type[models.Model], rows: Iterable[dict[str, Any]]) -> None:
    """COPY `rows` into the table of `model` (PostgreSQL only), sent in chunks
    of some 32 KB as `rows` yields them: the server parses one while a generator
    builds the next.

    Errors surface as Django's database exceptions, as from `execute_rows`:
    Django wraps `execute` but not psycopg's `copy`.
    """
    _, sql, columns = _plan(model)
    # Most columns pass through unchanged: pick every value in one C call and
    # convert only the others (JSON on PostgreSQL).
    names = [name for name, _ in columns]
    pick = operator.itemgetter(*names)
    # itemgetter of one name returns the value itself, not a 1-tuple.
    single = len(names) == 1
    converted = [
        (i, convert) for i, (_, convert) in enumerate(columns) if convert is not _same
    ]
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.copy(sql) as copy,
    ):
        for row in rows:
            values = [pick(row)] if single else list(pick(row))
            for i, convert in converted:
                values[i] = convert(values[i])
            copy.write_row(values)
