"""Single events: one POST in process, and the production server under 16 clients.

Run from the repository root (needs `wrk`, Debian package `wrk`):
    .venv/bin/python -m bench.http_ingest [--seconds 20] [--clients 16] [--workers 2]

A throwaway SQLite database (production settings, DEBUG off) is migrated and given a
template with a production pair and a service account's API key. Then:

1. In process: one `interactions/` and one `feedback/` POST through Django's test
   client with the real key (cached after the first request, as in a server): the
   median server time and the queries each takes.
2. Over HTTP: gunicorn (`config/gunicorn.py`, `--workers` processes) and wrk with
   `--clients` connections on 2 threads; each connection alternates one interaction
   and a thumb on it, every event with a fresh id, so nothing is a replay. Prints
   requests/s, p50/p99 latency and the non-2xx count, then checks the stored rows:
   it exits non-zero when any request (warm-up included) is answered non-2xx or
   when the answered requests did not each store one new row.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# Requests alternate an interaction and a thumb on an interaction sent LAG requests
# earlier by the same thread (long answered: a thread has one request in flight per
# connection); ids are unique per thread and request, so nothing is a replay.
# Trace ids start with the run's name (wrk's argument), so the rows of the measured
# run can be counted apart from the warm-up's.
WRK_SCRIPT = """
local LAG = 256
local counter = 0
thread_id = 0
local sent, head, tail = {}, 1, 0
local thumb_turn = false
local prompt, model = %(prompt)d, %(model)d
local run = "run"
local ids = {}
-- wrk calls request() once on its first thread before the run, to count the
-- requests in what it returns (wrk.c: script_verify_request), and never sends
-- that one: it must not take an id, or the thumb on it is a 400 LAG requests later.
local verified = false

function setup(thread)
  thread:set("thread_id", #ids + 1)
  table.insert(ids, thread)
end

-- A fresh sequence per run and thread: the warm-up run's ids are never replayed.
function init(args)
  math.randomseed(os.time() * 1000 + thread_id * 7919 + math.floor(os.clock() * 1e6))
  run = args[1] or run
  verified = thread_id ~= 1
end

local function event_id()
  counter = counter + 1
  return string.format("%%08x-0000-4000-8000-%%04x%%08x", math.random(0, 0x7fffffff),
    thread_id, counter)
end

request = function()
  local headers = {["Content-Type"] = "application/json",
                   ["Authorization"] = "Bearer %(key)s"}
  if not verified then
    verified = true
    return wrk.format("GET", "/", headers)
  end
  thumb_turn = not thumb_turn
  if not thumb_turn or tail - head + 1 <= LAG then
    local last = event_id()
    tail = tail + 1
    sent[tail] = last
    local n = counter %% 90
    local body = string.format('{"event_id":"%%s","trace_id":"%%s-t-%%d",'
      .. '"session_id":"s-%%d","user_id":"user-%%d",'
      .. '"tenant_id":"acme","task_type":"adhoc",'
      .. '"prompt_version":%%d,"model_version":%%d,'
      .. '"question":"How many singers are older than %%d?",'
      .. '"generated_sql":"SELECT count(*) FROM singer WHERE age > %%d",'
      .. '"retrieval_ids":["doc-%%d"],"output_tokens":20,"client_latency_ms":900,'
      .. '"server_latency_ms":640,"outcome":"success","consent_scope":"improvement",'
      .. '"occurred_at":"%(at)s"}',
      last, run, counter, counter %% 500, n, prompt, model, n, n, n)
    return wrk.format("POST", "/api/v1/feedback/interactions/", headers, body)
  end
  local body = string.format('{"event_id":"%%s","interaction_id":"%%s",'
    .. '"type":"thumbs_up","occurred_at":"%(at)s"}',
    event_id(), sent[head])
  sent[head] = nil
  head = head + 1
  return wrk.format("POST", "/api/v1/feedback/feedback/", headers, body)
end

-- BENCH_SHOW_ERRORS=1 prints the body of every non-2xx answer (slows wrk down).
if os.getenv("BENCH_SHOW_ERRORS") then
  response = function(status, headers, body)
    if status >= 300 then io.stderr:write(status .. " " .. body .. "\\n") end
  end
end

done = function(summary, latency, requests)
  io.write(string.format(
    'WRK {"requests":%%d,"seconds":%%f,"non2xx":%%d,"socket_errors":%%d,'
    .. '"p50_ms":%%f,"p99_ms":%%f,"max_ms":%%f}\\n',
    summary.requests, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
"""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _environment(data_dir: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex * 2,
        "PSEUDONYM_KEY": "bench-" + uuid.uuid4().hex * 2,
        "LOOPGATE_DATA_DIR": data_dir,
        "DATABASE_URL": "",
        "CACHE_URL": "",
        "CELERY_BROKER_URL": "",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "BEHIND_TLS_PROXY": "false",
        # The bench measures the server, not the rate limit.
        "API_THROTTLE_RATE": "100000000/min",
        "LOG_LEVEL": "WARNING",
        "ACCESS_LOG": "",
    }


def _setup() -> tuple[str, int, int]:
    """Registry, service account and key; returns (key, prompt id, model id)."""
    from django.contrib.auth.models import Group, User

    from accounts.services import issue_api_token
    from bench.ingest import production_pair

    bot = User.objects.create_user("bench-assistant")
    bot.groups.add(*Group.objects.filter(name__in=("service_account", "analyst")))
    prompt, model = production_pair()
    _, key = issue_api_token(user=bot, name="bench", acting_user=None)
    return key, prompt.pk, model.pk


def _in_process(key: str, prompt: int, model: int, repeats: int) -> None:
    """Median server time and query count of one interaction and one thumb."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(headers={"authorization": f"Bearer {key}"})

    def post(path: str, body: dict[str, Any]) -> tuple[float, int]:
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.post(path, body, content_type="application/json")
            elapsed = time.perf_counter() - started
        if response.status_code != 201:
            sys.exit(f"{path}: {response.status_code} {response.content[:300]!r}")
        return elapsed * 1e3, len(queries)

    figures: dict[str, list[tuple[float, int]]] = {"interactions/": [], "feedback/": []}
    for n in range(repeats + 1):
        interaction = str(uuid.uuid4())
        timed = post("/api/v1/feedback/interactions/", {
            "event_id": interaction, "trace_id": f"t-{n}", "session_id": f"s-{n}",
            "user_id": f"user-{n}", "tenant_id": "acme", "task_type": "adhoc",
            "prompt_version": prompt, "model_version": model,
            "question": f"How many singers are older than {n}?",
            "generated_sql": f"SELECT count(*) FROM singer WHERE age > {n}",
            "retrieval_ids": [f"doc-{n}"], "output_tokens": 20,
            "client_latency_ms": 900, "server_latency_ms": 640, "outcome": "success",
            "consent_scope": "improvement", "occurred_at": _now(),
        })  # fmt: skip
        thumb = post("/api/v1/feedback/feedback/", {
            "event_id": str(uuid.uuid4()), "interaction_id": interaction,
            "type": "thumbs_up", "occurred_at": _now(),
        })  # fmt: skip
        if n:  # the first pair warms the key cache and the code paths
            figures["interactions/"].append(timed)
            figures["feedback/"].append(thumb)
    print(f"in process ({repeats} of each, median; the key cached as in a server)")
    for path, pairs in figures.items():
        ms = statistics.median(t for t, _ in pairs)
        queries = statistics.median(q for _, q in pairs)
        most = max(q for _, q in pairs)
        print(
            f"  POST {path:<14} {ms:6.2f} ms server time   {queries:.0f} queries "
            f"(max {most}: the key is looked up again when its cache entry expires)"
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("gunicorn exited at start-up")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("gunicorn did not listen within 30 s")


def _wrk_result(command: list[str]) -> dict[str, Any]:
    """Run wrk; its summary, after failing loudly on any refused request."""
    run = subprocess.run(command, check=True, capture_output=True, text=True)
    if run.stderr:
        print(run.stderr[:2000], file=sys.stderr)
    line = next(ln for ln in run.stdout.splitlines() if ln.startswith("WRK "))
    result: dict[str, Any] = json.loads(line[4:])
    if result["non2xx"] or result["socket_errors"]:
        sys.exit(
            f"{command[-1]} run: {result['non2xx']} non-2xx answers, "
            f"{result['socket_errors']} socket errors (BENCH_SHOW_ERRORS=1 prints "
            "their bodies): every request of the bench must be valid"
        )
    return result


def _check_stored(answered: int, clients: int) -> None:
    """Every answered request of the measured run stored one new row.

    Fewer rows than answers means some were replays; more than the answers plus
    the requests in flight when wrk stopped means rows from elsewhere.
    """
    from feedback.models import Feedback, Interaction

    interactions = Interaction.objects.filter(trace_id__startswith="main-")
    rows = (
        interactions.count()
        + Feedback.objects.filter(interaction__in=interactions).count()
    )
    print(f"  rows stored     {rows:8d}")
    if not answered <= rows <= answered + clients:
        sys.exit(f"{answered} requests answered 2xx but {rows} rows stored")


PROFILING_HOOKS = """
import cProfile
import os

exec(open(%(config)r).read())
_profile = cProfile.Profile()


def post_fork(server, worker):
    _profile.enable()


def worker_exit(server, worker):
    _profile.disable()
    _profile.dump_stats(os.path.join(%(folder)r, f"worker-{os.getpid()}.prof"))
"""


def _profiling_config(config: str, folder: str) -> str:
    """config/gunicorn.py plus hooks that profile each worker (cProfile) into
    ``folder``: BENCH_PROFILE_DIR=folder. Profiling slows the server down: the
    figures of such a run are not comparable with others'."""
    path = Path(folder, "gunicorn_profiled.py")
    path.write_text(PROFILING_HOOKS % {"config": str(ROOT / config), "folder": folder})
    return str(path)


def proc_stat(pid: int | str) -> tuple[int, list[int]]:
    """A process's parent id and its utime, stime, cutime and cstime ticks."""
    # Fields after the command name: ppid is the 2nd, utime..cstime the 12th-15th.
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[1]), [int(value) for value in fields[11:15]]


def _server_cpu(master: int) -> float:
    """CPU seconds of a server: its main process, live children and the
    children it reaped (gunicorn's workers, PostgreSQL's backends).

    Figures of other processes on the machine do not count here, so this shows
    the server's cost per request even when the machine is busy.
    """
    ticks = sum(proc_stat(master)[1])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            parent, used = proc_stat(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited meanwhile
        if parent == master:
            ticks += used[0] + used[1]
    return ticks / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (wrk once it exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _over_http(
    args: argparse.Namespace, env: dict[str, str], key: str, prompt: int, model: int
) -> None:
    port = _free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        values = {"key": key, "prompt": prompt, "model": model, "at": _now()}
        script.write(WRK_SCRIPT % values)
    config = "config/gunicorn.py"
    if profiles := os.environ.get("BENCH_PROFILE_DIR"):
        config = _profiling_config(config, profiles)
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"), "-c", config,
            "--workers", str(args.workers), "--bind", f"127.0.0.1:{port}",
            "--log-level", "warning",
        ],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        _wait_for(port, server)
        url = f"http://127.0.0.1:{port}"
        # Warm every worker's imports and key cache before measuring.
        warm = ["wrk", "-t1", f"-c{args.workers * 2}", "-d2s", "-s", script.name]
        _wrk_result([*warm, url, "warmup"])
        server_before, wrk_before = _server_cpu(server.pid), _children_cpu()
        result = _wrk_result(
            [
                "wrk", "-t2", f"-c{args.clients}", f"-d{args.seconds}s",
                "--timeout", "10s", "-s", script.name, url, "main",
            ]
        )  # fmt: skip
        server_cpu = _server_cpu(server.pid) - server_before
        wrk_cpu = _children_cpu() - wrk_before
    finally:
        server.terminate()
        server.wait(timeout=30)
        os.unlink(script.name)
    print(
        f"over HTTP (gunicorn, {args.workers} workers, {args.clients} clients, "
        f"{args.seconds} s, SQLite)"
    )
    print(f"  requests/s      {result['requests'] / result['seconds']:8.0f}")
    print(f"  latency p50     {result['p50_ms']:8.1f} ms")
    print(f"  latency p99     {result['p99_ms']:8.1f} ms")
    print(f"  latency max     {result['max_ms']:8.1f} ms")
    print(f"  non-2xx         {result['non2xx']:8d}")
    print(f"  socket errors   {result['socket_errors']:8d}")
    per_request = 1e3 / result["requests"]
    print(
        f"  CPU per request {server_cpu * per_request:8.2f} ms gunicorn (master and "
        f"workers), {wrk_cpu * per_request:.2f} ms wrk"
    )
    _check_stored(result["requests"], args.clients)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    try:
        subprocess.run(["wrk", "--version"], capture_output=True, check=False)
    except FileNotFoundError:
        sys.exit("wrk is needed: apt-get install wrk")

    with tempfile.TemporaryDirectory(prefix="loopgate-http-bench-") as data_dir:
        Path(data_dir, "static").mkdir()
        env = _environment(data_dir)
        os.environ.update(env)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
            cwd=ROOT, env=env, check=True,
        )  # fmt: skip
        import django

        django.setup()
        key, prompt, model = _setup()
        _in_process(key, prompt, model, args.repeats)
        _over_http(args, env, key, prompt, model)

        from feedback.models import Feedback, Interaction

        print(
            f"stored: {Interaction.objects.count()} interactions, "
            f"{Feedback.objects.count()} feedback events"
        )


if __name__ == "__main__":
    main()
