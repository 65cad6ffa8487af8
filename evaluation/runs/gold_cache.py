"""Golden results computed once per snapshot and reused by every run on it.

Chunks of any run call `gold_results_for`; the first to need an item executes its
golden query and stores the rows, later ones (and other runs) read them. Two
workers racing on the same item both compute it, one row is stored
(`ignore_conflicts`), and both then use the stored one.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from evaluation.models import GoldenExample, GoldenSetSnapshot, GoldResultCache
from evaluation.scoring import SQLGLOT_VERSION, GoldQueryError, GoldResult, Mode
from evaluation.scoring import prepare_gold as execute_gold
from targets.execution import sandbox_for_target
from targets.sandbox import SandboxError
from targets.schema import sqlglot_schema

__all__ = [
    "decode_rows",
    "encode_rows",
    "gold_results_for",
]


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$time": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$timedelta": value.total_seconds()}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    # Exotic engine types (arrays, ranges...) keep their text; such items may then
    # miss against a prediction that returns the native type.
    return {"$str": str(value)}


_DECODERS: dict[str, Any] = {
    "$float": float,
    "$bytes": base64.b64decode,
    "$decimal": Decimal,
    "$datetime": dt.datetime.fromisoformat,
    "$date": dt.date.fromisoformat,
    "$time": dt.time.fromisoformat,
    "$timedelta": lambda s: dt.timedelta(seconds=s),
    "$uuid": uuid.UUID,
    "$str": str,
}


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, raw),) = value.items()
        return _DECODERS[tag](raw)
    return value


def encode_rows(rows: Sequence[Sequence[Any]]) -> str:
    """JSON text that `decode_rows` turns back into equal, same-typed rows."""
    return json.dumps(
        [[_encode(v) for v in row] for row in rows], separators=(",", ":")
    )


def decode_rows(text: str) -> list[tuple[Any, ...]]:
    """Rows as tuples of native values, as the sandbox returned them."""
    return [tuple(_decode(v) for v in row) for row in json.loads(text or "[]")]


def _compute(
    snapshot: GoldenSetSnapshot, example: GoldenExample, mode: Mode
) -> GoldResultCache:
    target = example.target_database
    row = GoldResultCache(
        snapshot=snapshot,
        golden_example=example,
        mode=mode,
        sqlglot_version=SQLGLOT_VERSION,
    )
    try:
        gold = execute_gold(
            example.sql,
            sandbox_for_target(target),
            mode=mode,
            dialect=target.dialect,
            schema=sqlglot_schema(target.schema),
        )
    except (GoldQueryError, SandboxError) as exc:
        row.error = str(exc) or type(exc).__name__
        return row
    row.columns = list(gold.columns)
    row.rows_json = encode_rows(gold.rows)
    row.row_count = len(gold.rows)
    row.normalized_sql = gold.normalized_sql
    row.has_order_by = gold.has_order_by
    row.truncated = gold.truncated
    return row


def _as_gold(row: GoldResultCache, example: GoldenExample) -> GoldResult | str:
    if row.error:
        return row.error
    return GoldResult(
        sql=example.sql,
        rows=decode_rows(row.rows_json),
        columns=tuple(row.columns),
        normalized_sql=row.normalized_sql,
        has_order_by=row.has_order_by,
        truncated=row.truncated,
        mode=row.mode,  # type: ignore[arg-type]
    )


def gold_results_for(
    *, snapshot: GoldenSetSnapshot, examples: Sequence[GoldenExample], mode: Mode
) -> dict[int, GoldResult | str]:
    """Golden result (or the reason it failed) of each example, by example id.

    Reads stored results in one query, computes and stores the missing ones.
    Idempotent and safe under concurrent callers.
    """
    ids = [e.pk for e in examples]

    def stored() -> dict[int, GoldResultCache]:
        rows = GoldResultCache.objects.filter(
            snapshot=snapshot,
            golden_example_id__in=ids,
            mode=mode,
            sqlglot_version=SQLGLOT_VERSION,
        )
        return {row.golden_example_id: row for row in rows}

    found = stored()
    missing = [_compute(snapshot, e, mode) for e in examples if e.pk not in found]
    if missing:
        GoldResultCache.objects.bulk_create(missing, ignore_conflicts=True)
        found = stored()
    return {e.pk: _as_gold(found[e.pk], e) for e in examples}
