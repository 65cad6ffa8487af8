"""What the Python client costs its caller, and how fast its thread sends.

`python -m bench.client`: a loopback HTTP server answers `batch/` as Loopgate
does (every event `created`, no database), so the figures are the client's:
the time one `interaction()` call takes on the caller's thread (server up, and
server down with the queue full), and the events per second the background
thread delivers at two batch sizes.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

from loopgate_client import Loopgate

EVENTS = 20_000


class _Batch(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        results = [
            {
                "index": i,
                "kind": e["kind"],
                "event_id": e["event_id"],
                "status": "created",
            }
            for i, e in enumerate(body["events"])
        ]
        reply = json.dumps({"results": results}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _record(client: Loopgate) -> None:
    client.interaction(
        question="How many singers are older than 30?",
        generated_sql="SELECT count(*) FROM singer WHERE age > 30",
        user_id="user-17",
        tenant_id="acme",
        task_type="adhoc",
        outcome="success",
        consent_scope="improvement",
        prompt_version=1,
        model_version=1,
        session_id=str(uuid.uuid4()),
    )


def _call_costs(client: Loopgate, n: int) -> list[float]:
    costs = []
    for _ in range(n):
        start = time.perf_counter()
        _record(client)
        costs.append((time.perf_counter() - start) * 1e6)
    return costs


def _describe(costs: list[float]) -> str:
    ordered = sorted(costs)
    p99 = ordered[int(len(ordered) * 0.99)]
    return f"median {statistics.median(ordered):.1f} us, p99 {p99:.1f} us"


def main() -> None:
    # The counts are printed; the drop and give-up warnings would drown them.
    logging.getLogger("loopgate_client").setLevel(logging.CRITICAL)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Batch)
    Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    print(f"loopgate-client, {EVENTS:,} interactions, loopback server, no database")
    for batch_size in (100, 1000):
        client = Loopgate(url, "key", batch_size=batch_size, max_queue=EVENTS)
        start = time.perf_counter()
        costs = _call_costs(client, EVENTS)
        if not client.flush(timeout=120):
            raise SystemExit("the client did not deliver within 120 s")
        elapsed = time.perf_counter() - start
        stats = client.stats()
        client.close()
        print(
            f"  batch {batch_size:>4}: caller {_describe(costs)}; delivered "
            f"{stats.created:,} in {elapsed:.2f} s = {stats.created / elapsed:,.0f}"
            f" events/s in {stats.batches} requests"
        )
    # Nothing listens on this port: the queue fills, then every call drops.
    down = Loopgate("http://127.0.0.1:9", "key", max_queue=1_000, max_retries=None)
    costs = _call_costs(down, 5_000)
    print(
        f"  server down, queue of 1,000: caller {_describe(costs)}; "
        f"dropped {down.stats().dropped:,} of 5,000"
    )
    down.close_timeout = 0.1
    down.close()
    server.shutdown()


if __name__ == "__main__":
    main()
