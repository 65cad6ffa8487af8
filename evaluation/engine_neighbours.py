"""Test-suite neighbours of PostgreSQL, MariaDB and DuckDB targets.

Workers hold only a target's SELECT-only login, so neighbours of an engine
target are built ahead of time by its owner (`manage.py build_neighbours`): the
target's tables are read into a SQLite file (`targets.snapshot`), neighbours are
generated from it as for a SQLite target (`evaluation.neighbours`: same seed
rules), and each is loaded next to the target (`targets.neighbour_copies`).

Everything lives under ``DATA_DIR/neighbours/<target name>/``: the SQLite
neighbours in ``sqlite/``, DuckDB neighbours as ``<n>.duckdb``, and
``manifest.json`` naming the engine, count, seed, source digest, locations and
versions. Runs read the manifest only (`neighbour_locations`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from django.conf import settings

from evaluation.neighbours import (
    GENERATOR_VERSION,
    NEIGHBOURS,
    ensure_neighbours,
    source_hash,
)
from evaluation.scoring import SQLGLOT_VERSION
from targets.execution import sandbox_limits
from targets.load_plan import SourceError
from targets.load_writers import LoadError
from targets.models import TargetDatabase
from targets.neighbour_copies import (
    drop_neighbour_copies,
    grant_neighbours,
    load_neighbour_copies,
    neighbour_sandbox,
)
from targets.provisioning import ProvisioningError
from targets.sandbox import Sandbox
from targets.schema import postgres_dsn, sqlite_path
from targets.snapshot import SnapshotError, snapshot_to_sqlite

__all__ = [
    "ENGINES",
    "BuiltNeighbours",
    "NeighbourBuildError",
    "NeighboursUnavailable",
    "build_command",
    "build_engine_neighbours",
    "neighbour_locations",
    "open_neighbour_sandboxes",
]

ENGINES = (
    TargetDatabase.Engine.POSTGRESQL,
    TargetDatabase.Engine.MARIADB,
    TargetDatabase.Engine.DUCKDB,
)
_MANIFEST = "manifest.json"


class NeighboursUnavailable(ValueError):
    """The target has no up-to-date neighbours; the message says how to build."""


class NeighbourBuildError(ValueError):
    """The owner's build failed: the target could not be read or loaded into."""


@dataclass(frozen=True, slots=True)
class BuiltNeighbours:
    """Where the neighbours live and whether this call (re)built them."""

    locations: tuple[str, ...]
    source_hash: str
    rebuilt: bool
    manifest: Path
    # Neighbours of an earlier build that this one no longer lists, dropped.
    removed: tuple[str, ...] = ()


def _folder(target: TargetDatabase) -> Path:
    return Path(settings.DATA_DIR) / "neighbours" / target.name


def _schema_digest(target: TargetDatabase) -> str:
    text = json.dumps(target.schema, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _versions() -> dict[str, str]:
    try:
        loopgate = version("loopgate")
    except PackageNotFoundError:
        loopgate = "unknown"
    return {"sqlglot": SQLGLOT_VERSION, "loopgate": loopgate}


def _identity(target: TargetDatabase, count: int, seed: int) -> dict[str, Any]:
    """What a manifest must match for its neighbours to serve ``target``."""
    return {
        "target": target.name,
        "engine": target.engine,
        "location": target.location,
        "schema_digest": _schema_digest(target),
        "count": count,
        "seed": seed,
        "generator": GENERATOR_VERSION,
    }


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        found = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def build_command(target: TargetDatabase) -> str:
    """The command that builds ``target``'s neighbours, for error messages."""
    owner = (
        "" if target.engine == TargetDatabase.Engine.DUCKDB else " --admin-dsn-env VAR"
    )
    return f"manage.py build_neighbours {target.name}{owner}"


def neighbour_locations(
    target: TargetDatabase, *, count: int = NEIGHBOURS, seed: int = 0
) -> tuple[str, ...]:
    """The built neighbours of an engine target, from its manifest (reads only).

    Raises NeighboursUnavailable when they are missing or stale: built for
    another engine, location, schema, count, seed or generator version, or a
    DuckDB file is gone. A change of rows alone is seen by the next
    `build_engine_neighbours`, which needs the owner.
    """
    manifest = _read_manifest(_folder(target))
    how = f"build them as the owner with `{build_command(target)}`."
    if manifest is None:
        raise NeighboursUnavailable(f"{target.name} has no neighbour databases: {how}")
    expected = _identity(target, count, seed)
    if any(manifest.get(key) != value for key, value in expected.items()):
        raise NeighboursUnavailable(
            f"The neighbour databases of {target.name} are stale: {how}"
        )
    locations = tuple(str(x) for x in manifest.get("locations", []))
    if len(locations) != count or (
        target.engine == TargetDatabase.Engine.DUCKDB
        and not all(Path(p).is_file() for p in locations)
    ):
        raise NeighboursUnavailable(
            f"The neighbour databases of {target.name} are incomplete: {how}"
        )
    return locations


def open_neighbour_sandboxes(
    target: TargetDatabase,
) -> tuple[list[Sandbox], list[str]]:
    """One new sandbox per neighbour of an engine target, as its reader, and
    each neighbour's name (its database, or its DuckDB file's name).

    PostgreSQL and MariaDB neighbours are read with the target's own DSN (the
    variable its location names) pointed at the neighbour database; the
    engine's sandbox checks that login as for the target. Raises
    NeighboursUnavailable (missing or stale) or SchemaCaptureError (DSN unset).
    """
    locations = neighbour_locations(target)
    reader = (
        ""
        if target.engine == TargetDatabase.Engine.DUCKDB
        else (postgres_dsn(target.location))
    )
    limits = sandbox_limits()
    sandboxes: list[Sandbox] = []
    try:
        for loc in locations:
            sandboxes.append(
                neighbour_sandbox(
                    engine=target.engine,
                    reader_dsn=reader,
                    location=loc,
                    timeout_s=limits.timeout_s,
                    max_rows=limits.max_rows,
                    max_bytes=limits.max_bytes,
                )
            )
    except BaseException:
        # A neighbour that cannot be opened must not leave the others open.
        for sandbox in sandboxes:
            sandbox.close()
        raise
    return sandboxes, [Path(loc).name for loc in locations]


def build_engine_neighbours(
    *,
    target: TargetDatabase,
    owner_dsn: str = "",
    count: int = NEIGHBOURS,
    seed: int = 0,
) -> BuiltNeighbours:
    """Build ``count`` neighbours of an engine target next to it, as its owner.

    ``owner_dsn`` is the DSN of the target database's owner (PostgreSQL,
    MariaDB; unused for DuckDB, read from its file). The target's tables are
    read through it, and the reader login the target's location variable names
    gets SELECT on each neighbour. Idempotent: when the manifest already matches
    the target's current content, only the reader's grants are restated. Raises
    NeighboursUnavailable for a target it cannot serve, NeighbourBuildError when
    the engine refuses, SchemaCaptureError when the reader variable is unset.
    """
    if target.engine not in ENGINES:
        raise NeighboursUnavailable(
            f"{target.name} is a {target.engine} target: its neighbours are built "
            "on first use in a run."
        )
    duck = target.engine == TargetDatabase.Engine.DUCKDB
    if not duck and not owner_dsn:
        raise NeighboursUnavailable("The owner's DSN is empty.")
    reader = "" if duck else postgres_dsn(target.location)
    try:
        built = _build(target, owner_dsn, reader, count, seed)
    except (SnapshotError, SourceError, LoadError, ProvisioningError) as exc:
        raise NeighbourBuildError(str(exc)) from None
    return built


def _build(
    target: TargetDatabase, owner_dsn: str, reader: str, count: int, seed: int
) -> BuiltNeighbours:
    duck = target.engine == TargetDatabase.Engine.DUCKDB
    folder = _folder(target)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        snapshot = Path(scratch) / "source.sqlite"
        source = sqlite_path(target.location) if duck else owner_dsn
        snapshot_to_sqlite(engine=target.engine, location=source, dest=snapshot)
        digest = source_hash(snapshot)
        expected = {**_identity(target, count, seed), "source_hash": digest}
        current = _read_manifest(folder)
        if current is not None and all(
            current.get(k) == v for k, v in expected.items()
        ):
            try:
                locations = neighbour_locations(target, count=count, seed=seed)
            except NeighboursUnavailable:
                pass
            else:
                grant_neighbours(
                    engine=target.engine,
                    names=locations,
                    owner_dsn=owner_dsn,
                    reader_dsn=reader,
                )
                return BuiltNeighbours(locations, digest, False, folder / _MANIFEST)
        made = ensure_neighbours(snapshot, folder / "sqlite", count=count, seed=seed)
        locations = tuple(
            load_neighbour_copies(
                engine=target.engine,
                sources=made.paths,
                owner_dsn=owner_dsn,
                reader_dsn=reader,
                folder=folder,
            )
        )
    manifest = {**expected, "locations": list(locations), **_versions()}
    staged = folder / f".{_MANIFEST}.{os.getpid()}"
    staged.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(staged, folder / _MANIFEST)
    # A lower --count leaves neighbours the new manifest does not list: drop
    # them, once nothing points at them any more.
    stale = [
        str(location)
        for location in (current or {}).get("locations", [])
        if location not in locations
    ]
    drop_neighbour_copies(
        engine=target.engine, locations=stale, owner_dsn=owner_dsn, folder=folder
    )
    return BuiltNeighbours(
        locations, digest, True, folder / _MANIFEST, removed=tuple(stale)
    )
