"""Evaluation writes with business meaning."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from evaluation.exceptions import TargetDatabaseError
from evaluation.models import TargetDatabase
from evaluation.targets import SchemaCaptureError, capture_schema
from governance.audit import record_event


@transaction.atomic
def register_target_database(
    *,
    name: str,
    engine: str,
    location: str,
    description: str = "",
    acting_user: AbstractBaseUser | None,
) -> TargetDatabase:
    """Register a database for generated SQL and capture its schema.

    Idempotent for an identical (name, engine, location): the existing row is
    returned. Records `evaluation.target_database.registered`.
    """
    if engine not in TargetDatabase.Engine.values:
        raise TargetDatabaseError(f"Unknown engine {engine!r}.", field="engine")
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
        event_type="evaluation.target_database.registered",
        actor=acting_user,
        subject=target,
        data={"engine": engine, "tables": len(schema)},
    )
    return target
