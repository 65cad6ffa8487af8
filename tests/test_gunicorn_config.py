"""The production server's settings (`config/gunicorn.py`, used by `make serve`)."""

from __future__ import annotations

import gc
import importlib
import os

import pytest


def test_workers_follow_the_cores_unless_web_concurrency_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    config = importlib.reload(importlib.import_module("config.gunicorn"))
    assert config.workers == 2 * len(os.sched_getaffinity(0)) + 1
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert importlib.reload(config).workers == 3


def test_the_master_freezes_the_loaded_app_before_forking() -> None:
    """A recycled worker must not walk every inherited object in its first full
    collection (bench/http_ingest: p99 233-452 ms with it, 24-42 ms without)."""
    config = importlib.import_module("config.gunicorn")
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        config.when_ready(object())
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
