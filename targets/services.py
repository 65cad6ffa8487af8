"""Target database writes with business meaning."""

from django.contrib.auth.models import User
from django.db import transaction

from audit.services import record_event
from targets.exceptions import TargetDatabaseError
from targets.models import TargetDatabase
from targets.schema import SchemaCaptureError, capture_schema, remote_location_problem


@transaction.atomic
def register_target_database(
    *,
    name: str,
    engine: str,
    location: str,
    description: str = "",
    acting_user: User | None,
    restrict_location: bool = False,
) -> TargetDatabase:
    """Register a database for generated SQL and capture its schema.

    Idempotent for an identical (name, engine, location): the existing row is
    returned. `restrict_location=True` (remote callers such as the API) accepts
    only SQLite and DuckDB paths under TARGET_DATABASE_ROOT and `LOOPGATE_TARGET_*` DSN
    variables. Records `targets.target_database.registered`.
    """
    if engine not in TargetDatabase.Engine.values:
        raise TargetDatabaseError(f"Unknown engine {engine!r}.", field="engine")
    if restrict_location:
        problem = remote_location_problem(engine=engine, location=location)
        if problem is not None:
            raise TargetDatabaseError(problem, field="location")
    existing = TargetDatabase.objects.filter(name=name).first()
    if existing is not None:
        if (existing.engine, existing.location) != (engine, location):
            raise TargetDatabaseError(
                f"{name!r} is registered with another location.", field="name"
            )
        return existing
    try:
        schema = capture_schema(engine=engine, location=location)
    except SchemaCaptureError as exc:
        raise TargetDatabaseError(str(exc), field="location") from None
    target = TargetDatabase.objects.create(
        name=name,
        engine=engine,
        location=location,
        description=description,
        schema=schema,
    )
    record_event(
        event_type="targets.target_database.registered",
        actor=acting_user,
        subject=target,
        data={"engine": engine, "tables": len(schema)},
    )
    return target
