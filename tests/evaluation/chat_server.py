"""A real HTTP server on loopback that speaks the chat-completions protocol.

Tests script its answers per request (status, headers, delay, reply text) and read
back what it received; the official `openai` client talks to it over TCP.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What the server answers to one request."""

    content: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class ChatServer:
    url: str
    requests: list[dict[str, Any]]
    headers: list[dict[str, str]]


Responder = Callable[[dict[str, Any]], Reply]


def completion(content: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def answer_from(mapping: dict[str, str], default: str = "SELECT 1") -> Responder:
    """Reply with the SQL mapped to the question found in the last message."""

    def respond(body: dict[str, Any]) -> Reply:
        prompt = body["messages"][-1]["content"]
        question = prompt.rsplit("Question:", 1)[-1].split("\n")[0].strip()
        sql = mapping.get(question, default)
        return Reply(content=f"Here you go:\n```sql\n{sql};\n```")

    return respond


@contextmanager
def chat_server(respond: Responder) -> Iterator[ChatServer]:
    received: list[dict[str, Any]] = []
    headers: list[dict[str, str]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            with lock:
                received.append(body)
                headers.append({k.lower(): v for k, v in self.headers.items()})
            reply = respond(body)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            if reply.status == 200:
                payload = completion(reply.content, body.get("model", ""))
            else:
                payload = {"error": {"message": reply.content or "scripted failure"}}
            data = json.dumps(payload).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield ChatServer(f"http://{host}:{port}/v1", received, headers)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
