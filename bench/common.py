"""What every benchmark shares: a database of its own, app servers, and a load generator."""

import http.client
import os
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import app_env, free_port, manage, start_gunicorn, stop  # noqa: E402 (free_port: for the scripts)

BENCH_DATABASE = "ccai_bench"


def server_database_url(name: str) -> str:
    """The URL of database `name` on DATABASE_URL's server, or on the embedded one."""
    from ccai.embedded_postgres import database_url

    server = urlsplit(
        (os.environ.get("DATABASE_URL") or database_url()).replace("postgres://", "postgresql://", 1)
    )
    return urlunsplit(server._replace(path=f"/{name}"))


def create_database(name: str, *, replace: bool) -> str:
    """Create database `name` (dropping it first if `replace`) unless it exists; returns its URL."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_database_url("postgres"), autocommit=True) as db:
        if replace:
            db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if not db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server_database_url(name)


def drop_database(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_database_url("postgres"), autocommit=True) as db:
        db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def bench_database_url() -> str:
    """A fresh `ccai_bench` database."""
    return create_database(BENCH_DATABASE, replace=True)


def bench_env(database_url: str, **overrides) -> dict:
    """A production-like app environment on the bench settings (the app plus bench/urls.py)."""
    return app_env(
        **{
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "RATELIMIT_ENABLE": "false",
            "EMAIL_URL": "smtp://127.0.0.1:1",
            "LOG_LEVEL": "WARNING",
            **overrides,
        }
    )


def prepare(env: dict) -> None:
    manage(env, "migrate", "--noinput")
    manage(env, "createcachetable")
    manage(env, "collectstatic", "--noinput")
    import psycopg

    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as db:
        db.execute("CREATE TABLE IF NOT EXISTS bench_insert (id bigserial PRIMARY KEY, payload text)")


@contextmanager
def app_server(env: dict, workers: int):
    port = free_port()
    process = start_gunicorn({**env, "GUNICORN_MAX_REQUESTS": "0"}, port, workers=workers)
    try:
        yield port, process
    finally:
        stop(process)


@dataclass
class LoadResult:
    name: str
    requests: int = 0
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    latencies: list = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000

    def line(self) -> str:
        return (
            f"{self.name:<40} {self.per_second:8.0f} req/s   p50 {self.percentile(50):6.1f} ms"
            f"   p99 {self.percentile(99):6.1f} ms   statuses {dict(self.statuses)}"
        )


def run_load(name: str, port: int, make_request, clients: int = 32, seconds: float = 10.0) -> LoadResult:
    """`clients` threads, each on its own keep-alive connection, call make_request(conn, i)
    (which sends one request and returns the response) as fast as they can for `seconds`."""
    result = LoadResult(name)
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(number: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        setup = getattr(make_request, "setup", None)
        state = setup(conn) if setup else None
        start.wait()
        latencies, statuses, i = [], Counter(), 0
        while time.monotonic() < deadline[0]:
            began = time.perf_counter()
            try:
                response = make_request(conn, state, f"{number}-{i}")
                response.read()
                statuses[response.status] += 1
            except (OSError, http.client.HTTPException):
                statuses["error"] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            latencies.append(time.perf_counter() - began)
            i += 1
        conn.close()
        with lock:
            result.latencies.extend(latencies)
            result.statuses.update(statuses)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    deadline[0] = began + seconds
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - began
    result.requests = sum(count for status, count in result.statuses.items() if status != "error")
    return result
