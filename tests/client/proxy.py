"""A real HTTP server on loopback, in front of the live server, that misbehaves on cue.

Each request takes the next action of its script (then `forward`): answer 429
with a Retry-After, answer 503 without forwarding, forward and then answer 503
(the server stored the batch, the client never hears it), forward and then
stall past the client's timeout, or hold the request until released. It can
start bound but not listening (a server that is down: connections are refused)
and come up later on the same port. It records what it received.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

FORWARD_HEADERS = ("Authorization", "Content-Type", "User-Agent")


@dataclass
class Seen:
    """One request as the proxy received it."""

    at: float
    method: str
    path: str
    action: str
    event_ids: list[str] = field(default_factory=list)


class Proxy:
    def __init__(
        self,
        upstream: str,
        script: list[str] | None = None,
        *,
        listening: bool = True,
        stall_s: float = 2.0,
        max_events: int | None = None,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.script = list(script or [])
        self.seen: list[Seen] = []
        self.stall_s = stall_s
        self.max_events = max_events
        self.holding = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy._handle(self)

            def do_POST(self) -> None:
                proxy._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(
            ("127.0.0.1", 0), Handler, bind_and_activate=False
        )
        self.server.daemon_threads = True
        self.server.server_bind()
        if listening:
            self.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        """Listen and serve (the port was bound at construction)."""
        self.server.server_activate()
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        if self._thread is not None:
            self.server.shutdown()
        self.server.server_close()

    def batches(self) -> list[Seen]:
        return [seen for seen in self.seen if seen.path.endswith("/batch/")]

    def _next_action(self, events: list[Any]) -> str:
        with self._lock:
            if self.max_events is not None and len(events) > self.max_events:
                return "413"
            return self.script.pop(0) if self.script else "forward"

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        events = json.loads(body).get("events", []) if body else []
        action = self._next_action(events)
        with self._lock:
            self.seen.append(
                Seen(
                    time.monotonic(),
                    handler.command,
                    handler.path,
                    action,
                    [event.get("event_id") for event in events],
                )
            )
        try:
            if action == "429":
                self._reply(handler, 429, b'{"detail": "throttled"}', retry_after="1")
            elif action in ("503", "413"):
                self._reply(handler, int(action), b'{"detail": "unavailable"}')
            elif action == "forward+503":
                self._forward(handler, body)
                self._reply(handler, 503, b'{"detail": "unavailable"}')
            elif action == "forward+stall":
                status, reply = self._forward(handler, body)
                time.sleep(self.stall_s)
                self._reply(handler, status, reply)
            elif action == "hold":
                self.holding.set()
                self.release.wait(30)
                self._reply(handler, *self._forward(handler, body))
            else:
                self._reply(handler, *self._forward(handler, body))
        except (BrokenPipeError, ConnectionResetError):
            pass  # The client gave up on this request (its timeout).

    def _forward(
        self, handler: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(
            self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=30
        )
        headers = {
            name: value
            for name in FORWARD_HEADERS
            if (value := handler.headers.get(name)) is not None
        }
        connection.request(handler.command, handler.path, body or None, headers)
        response = connection.getresponse()
        reply = response.read()
        connection.close()
        return response.status, reply

    @staticmethod
    def _reply(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        retry_after: str | None = None,
    ) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        if retry_after is not None:
            handler.send_header("Retry-After", retry_after)
        handler.end_headers()
        handler.wfile.write(body)
