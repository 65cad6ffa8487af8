"""Multi-row INSERT of prepared column values, without model instances.

The batch endpoint stores up to 1,000 events per request; building model
instances and letting bulk_create prepare every value field by field costs more
than validation and redaction together. Values here are already clean Python
objects, so each column gets one cheap converter and the rows go through one
`executemany`. Append-only tables need no signals or history, so nothing is
skipped by not going through the ORM's save paths.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import connection, models

Converter = Callable[[Any], Any]
_PLANS: dict[tuple[str, type], tuple[str, list[tuple[str, Converter]]]] = {}


def _same(value: Any) -> Any:
    return value


def _converter(field: models.Field) -> Converter:
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    if isinstance(target, models.JSONField):
        return _json
    if connection.vendor != "sqlite":
        return _same
    if isinstance(target, models.UUIDField):
        return lambda value: None if value is None else value.hex
    if isinstance(target, models.DateTimeField):
        return _sqlite_datetime
    return _same


def _json(value: Any) -> str:
    # Most JSON columns here are empty lists; skip the encoder for them.
    return "[]" if value == [] else json.dumps(value, ensure_ascii=False)


def _sqlite_datetime(value: datetime | None) -> str | None:
    # What Django's SQLite backend stores for aware values with USE_TZ: naive UTC.
    if value is None:
        return None
    return str(value.astimezone(UTC).replace(tzinfo=None))


def _plan(model: type[models.Model]) -> tuple[str, list[tuple[str, Converter]]]:
    key = (connection.vendor, model)
    if key not in _PLANS:
        fields = model._meta.concrete_fields
        quote = connection.ops.quote_name
        # Concrete fields always have a column; the stubs type it as optional.
        columns = ", ".join(quote(field.column) for field in fields)  # type: ignore[arg-type]
        marks = ", ".join(["%s"] * len(fields))
        table = quote(model._meta.db_table)
        sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
        _PLANS[key] = (sql, [(field.attname, _converter(field)) for field in fields])
    return _PLANS[key]


def insert_rows(model: type[models.Model], rows: Sequence[dict[str, Any]]) -> None:
    """INSERT `rows` (dicts by attname, every column present) in one executemany."""
    sql, columns = _plan(model)
    params = [tuple(convert(row[name]) for name, convert in columns) for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
