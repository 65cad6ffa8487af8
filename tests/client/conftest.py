"""A client account with an API key, served registry state, and clients that close."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from loopgate_client import Loopgate

from accounts.services import issue_api_token
from tests.client.proxy import Proxy


@pytest.fixture
def api_key(make_user: Callable[..., User]) -> str:
    user = make_user("assistant-bot", "service_account", "analyst")
    _, key = issue_api_token(user=user, name="assistant", acting_user=None)
    return key


@pytest.fixture
def make_client(api_key: str) -> Iterator[Callable[..., Loopgate]]:
    """Clients with fast retries by default; every one is closed at the end."""
    made: list[Loopgate] = []

    def make(url: str, **options: Any) -> Loopgate:
        options.setdefault("backoff", 0.01)
        options.setdefault("max_backoff", 0.05)
        options.setdefault("timeout", 5.0)
        client = Loopgate(url, options.pop("api_key", api_key), **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def make_proxy() -> Iterator[Callable[..., Proxy]]:
    made: list[Proxy] = []

    def make(upstream: str, *args: Any, **kwargs: Any) -> Proxy:
        proxy = Proxy(upstream, *args, **kwargs)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.stop()
