"""The app against Django's own ceiling, side by side in one run: the letter page and /api/count/
against a bare request to a one-file Django app with no middleware (bench/ceiling_app.py), a
signature against that app's one-INSERT view, and the email worker against the signing rate.
Then whether a signature's answer time tells a new address from a pending or a confirmed one.

    .venv/bin/python bench/ceiling.py [--seconds 10] [--rounds 2] [--workers 8] [--clients 32]

Both apps run under gunicorn with the app's gunicorn.conf.py and the same worker count (8 on the
2-core machine the goals were set on), on one fresh `ccai_bench` database (on DATABASE_URL's
server, or the embedded one). Runs alternate (app, ceiling, app, ceiling, ...) so that load from
elsewhere on the machine hits both alike; the best of the rounds is reported. Everything it
starts, it stops; everything listens on 127.0.0.1."""

import argparse
import http.client
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    BENCH_DATABASE,
    bench_database_url,
    bench_env,
    drop_database,
    free_port,
    manage,
    prepare,
    stop,
)

FORM = {
    "full_name": "Bench Signer",
    "profession": "writer",
    "guilds": ["wga", "sag-aftra"],
    "credit": "A Film",
    "country": "US",
    "show_publicly": "on",
}
CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def start_server(env: dict, workers: int, module: str, cwd: Path) -> tuple[int, subprocess.Popen]:
    """gunicorn serving `module` from `cwd`, with the app's gunicorn.conf.py and `workers`."""
    port = free_port()
    process = subprocess.Popen(
        [
            Path(sys.executable).parent / "gunicorn",
            module,
            "--config",
            ROOT / "gunicorn.conf.py",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
        ],
        cwd=cwd,
        env={**env, "GUNICORN_MAX_REQUESTS": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5):
                return port, process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop(process)
                raise RuntimeError(f"{module} did not start") from None
            time.sleep(0.1)


# Requests: each is (setup(conn) -> state, send(conn, state, key)). Sync gunicorn workers close the
# connection after each answer; http.client opens a new one for the next request by itself.


def get(path: str):
    def send(conn, state, key):
        conn.request("GET", path)
        return conn.getresponse()

    return None, send


def csrf_setup(conn):
    """A visitor who loaded the letter page: its CSRF cookie and the form's token."""
    conn.request("GET", "/")
    response = conn.getresponse()
    html = response.read()
    cookie = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie") or "").group(1)
    return cookie, CSRF_FIELD.search(html).group(1).decode()


def post_form(path: str, *, csrf: bool, email):
    """POST the sign form's fields to `path`; email(key) gives each request its address."""

    def send(conn, state, key):
        fields = {**FORM, "email": email(key)}
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if csrf:
            cookie, token = state
            fields["csrfmiddlewaretoken"] = token
            headers["Cookie"] = f"csrftoken={cookie}"
        conn.request("POST", path, urlencode(fields, doseq=True), headers)
        return conn.getresponse()

    return (csrf_setup if csrf else None), send


def fresh_address(prefix: str):
    return lambda key: f"{prefix}-{key}-{time.time_ns()}@example.com"


REQUESTS = {
    "letter": get("/"),
    "count": get("/api/count/"),
    "ceiling": get("/"),
    "sign": post_form("/sign/", csrf=True, email=fresh_address("sign")),
    "insert": post_form("/insert/", csrf=False, email=fresh_address("bare")),
}


def client_process(args) -> tuple[list[float], Counter]:
    """One client process: `threads` connections, each sending requests back to back from
    `start_at` (epoch seconds, shared by all processes) for `seconds`."""
    port, request_name, threads, start_at, seconds = args
    setup, send = REQUESTS[request_name]
    latencies, statuses, lock = [], Counter(), threading.Lock()

    def run(number: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        state = setup(conn) if setup else None
        mine, counts, i = [], Counter(), 0
        time.sleep(max(0.0, start_at - time.time()))
        deadline = start_at + seconds
        while (began := time.time()) < deadline:
            try:
                response = send(conn, state, f"{os.getpid()}-{number}-{i}")
                response.read()
                counts[response.status] += 1
                if response.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException):
                counts["error"] += 1
                conn.close()
            mine.append(time.time() - began)
            i += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            statuses.update(counts)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return latencies, statuses


class ServerCPU:
    """CPU seconds used so far by a server's workers and by the PostgreSQL processes: measured
    per request, it is what a request costs the machine, whatever else runs on it (the throughput
    figures are not, on a shared machine)."""

    def __init__(self, gunicorn_pid: int, postgres_pid: int):
        import psutil

        self.gunicorn, self.postgres = psutil.Process(gunicorn_pid), psutil.Process(postgres_pid)

    def seconds(self) -> tuple[float, float]:
        """CPU seconds of (the server's workers, PostgreSQL)."""
        return self._seconds(self.gunicorn.children()), self._seconds(
            [self.postgres, *self.postgres.children()]
        )

    @staticmethod
    def _seconds(processes) -> float:
        import psutil

        total = 0.0
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total


def postmaster_pid(database_url: str) -> int:
    import psutil
    import psycopg

    with psycopg.connect(database_url) as db:
        backend = db.execute("SELECT pg_backend_pid()").fetchone()[0]
        return psutil.Process(backend).parent().pid


class Run:
    def __init__(
        self,
        name: str,
        latencies: list[float],
        statuses: Counter,
        seconds: float,
        cpu: float,
        database_cpu: float,
    ):
        self.name, self.statuses, self.seconds, self.cpu = name, statuses, seconds, cpu
        self.database_cpu = database_cpu
        self.latencies = sorted(latencies)
        self.ok = sum(n for status, n in statuses.items() if status in (200, 302))

    @property
    def cpu_ms(self) -> float:
        """Server and database CPU per answered request, in milliseconds."""
        return self.cpu / self.ok * 1000 if self.ok else float("nan")

    @property
    def database_cpu_ms(self) -> float:
        """PostgreSQL's part of cpu_ms."""
        return self.database_cpu / self.ok * 1000 if self.ok else float("nan")

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        return self.latencies[min(len(self.latencies) - 1, int(fraction * len(self.latencies)))] * 1000

    def line(self) -> str:
        return (
            f"  {self.name:<34} {self.per_second:7.0f} req/s   p50 {self.percentile(0.5):6.1f} ms"
            f"   p99 {self.percentile(0.99):6.1f} ms   server CPU {self.cpu_ms:5.2f} ms/req"
            f" (PostgreSQL {self.database_cpu_ms:4.2f})"
            f"   {dict(self.statuses)}"
        )


def drive(
    pool,
    processes: int,
    port: int,
    request_name: str,
    label: str,
    clients: int,
    seconds: float,
    cpu: ServerCPU | None = None,
) -> Run:
    start_at = time.time() + 2.0  # time for every process to start and every client to set up
    shares = [clients // processes + (1 if n < clients % processes else 0) for n in range(processes)]
    # The clients' set-up (a GET of the letter for a CSRF token) costs the server too; only the
    # measured window is counted.
    cpu_at_start = [None]

    def mark_start():
        time.sleep(max(0.0, start_at - time.time()))
        cpu_at_start[0] = cpu.seconds() if cpu else (0.0, 0.0)

    marker = threading.Thread(target=mark_start)
    marker.start()
    results = pool.map(
        client_process, [(port, request_name, share, start_at, seconds) for share in shares if share]
    )
    marker.join()
    (app_at_end, database_at_end) = cpu.seconds() if cpu else (0.0, 0.0)
    app_used, database_used = app_at_end - cpu_at_start[0][0], database_at_end - cpu_at_start[0][1]
    latencies = [latency for lats, _ in results for latency in lats]
    statuses = sum((counts for _, counts in results), Counter())
    run = Run(label, latencies, statuses, seconds, app_used + database_used, database_used)
    print(run.line(), flush=True)
    return run


def drain_outbox(env: dict, app_dir: Path, workers: int) -> tuple[int, float, float]:
    """`workers` worker processes sign every submission the signing runs stored and deliver every
    email into a local SMTP server that accepts all; returns (messages, seconds from the first
    message to the last: the processes' start-up is not delivery, the workers' CPU seconds)."""
    import resource

    from aiosmtpd.controller import Controller

    class Sink:
        received: list[float] = []

        async def handle_DATA(self, server, session, envelope):
            Sink.received.append(time.monotonic())
            return "250 OK"

    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        processes = [
            subprocess.Popen(
                [sys.executable, "manage.py", "worker", "--once", "--batch", "200"],
                cwd=app_dir,
                env={**env, "EMAIL_URL": f"smtp://127.0.0.1:{port}"},
                stdout=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        for process in processes:
            if process.wait() != 0:
                raise RuntimeError("the worker failed")
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
        times = sorted(Sink.received)
        return len(times) - 1, (times[-1] - times[0]) if len(times) > 1 else 0.0, cpu
    finally:
        controller.stop()


def timing_by_address(port: int, repeat: int, env: dict, app_dir: Path) -> dict[str, list[float]]:
    """One client signs, one request at a time, rotating through a new address, an address with
    a pending signature and one with a confirmed signature; the answer times of each."""
    import psycopg

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    state = csrf_setup(conn)
    _, send = post_form("/sign/", csrf=True, email=lambda key: key)
    run_id = time.time_ns()
    pending = [f"pending-{run_id}-{n}@example.com" for n in range(repeat)]
    confirmed = [f"confirmed-{run_id}-{n}@example.com" for n in range(repeat)]
    for address in pending + confirmed:
        send(conn, state, address).read()
    subprocess.run(  # the worker signs them
        [sys.executable, "manage.py", "worker", "--once"],
        cwd=app_dir,
        env={**env, "EMAIL_URL": "dummymail://"},
        stdout=subprocess.DEVNULL,
        check=True,
    )
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as db:
        db.execute(
            "UPDATE pledges_signature SET status = 'confirmed', confirmed_at = now() WHERE email = ANY(%s)",
            [confirmed],
        )
    times = {"new": [], "pending": [], "confirmed": []}
    for n in range(repeat):
        for kind, address in (
            ("new", f"new-{run_id}-{n}@example.com"),
            ("pending", pending[n]),
            ("confirmed", confirmed[n]),
        ):
            began = time.perf_counter()
            response = send(conn, state, address)
            response.read()
            times[kind].append((time.perf_counter() - began) * 1000)
            assert response.status == 302, response.status
    conn.close()
    return times


PAIRS = [
    # (label, app request, ceiling request, goal)
    ("letter page GET /", "letter", "ceiling", 0.5),
    ("GET /api/count/", "count", "ceiling", 0.8),
    ("POST /sign/ vs one INSERT", "sign", "insert", 0.5),
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10, help="length of one run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each, alternating app and ceiling")
    parser.add_argument("--workers", type=int, default=8, help="gunicorn workers, for both apps")
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections")
    parser.add_argument("--client-processes", type=int, default=4, help="load-generating processes")
    parser.add_argument("--signatures", type=int, default=1000, help="seeded before measuring")
    parser.add_argument("--timing-repeat", type=int, default=100, help="signatures per kind of address")
    parser.add_argument(
        "--email-workers", type=int, default=1, help="worker processes that sign and mail, after the runs"
    )
    parser.add_argument("--keep", action="store_true", help="keep the ccai_bench database afterwards")
    parser.add_argument(
        "--app-dir",
        type=Path,
        default=ROOT,
        help="serve the app (and run its worker) from this checkout, e.g. a worktree of an older commit",
    )
    parser.add_argument(
        "--only",
        choices=["letter", "count", "sign"],
        nargs="+",
        help="measure just these (no worker, no timing)",
    )
    options = parser.parse_args()
    if options.seconds > 60 or options.rounds > 10 or options.clients > 128:
        parser.error("keep it bounded: --seconds <= 60, --rounds <= 10, --clients <= 128")

    pairs = [pair for pair in PAIRS if not options.only or pair[1] in options.only]
    env = bench_env(bench_database_url(), DJANGO_SETTINGS_MODULE="ccai.settings")
    try:
        print(f"Preparing {BENCH_DATABASE} with {options.signatures:,} signatures ...", flush=True)
        prepare(env)
        if options.app_dir.resolve() != ROOT:
            subprocess.run(
                [sys.executable, "manage.py", "collectstatic", "--noinput"],
                cwd=options.app_dir,
                env=env,
                check=True,
                capture_output=True,
            )
        if options.signatures:
            manage(env, "seed_signatures", str(options.signatures))
        print(
            f"gunicorn -w {options.workers} for both apps, {options.clients} connections from "
            f"{options.client_processes} processes, {options.seconds:g} s a run, {options.rounds} rounds, "
            f"{os.cpu_count()} CPUs\n",
            flush=True,
        )
        best: dict[str, Run] = {}
        with multiprocessing.get_context("fork").Pool(options.client_processes) as pool:
            app_port, app = start_server(env, options.workers, "ccai.wsgi", options.app_dir)
            ceiling_port, ceiling = start_server(env, options.workers, "bench.ceiling_app", ROOT)
            try:
                ports = {"letter": app_port, "count": app_port, "sign": app_port}
                ports |= {"ceiling": ceiling_port, "insert": ceiling_port}
                postgres = postmaster_pid(env["DATABASE_URL"])
                cpus = {"app": ServerCPU(app.pid, postgres), "ceiling": ServerCPU(ceiling.pid, postgres)}
                for name in ("letter", "count", "ceiling"):  # warm every worker's caches
                    drive(pool, options.client_processes, ports[name], name, f"(warm-up {name})", 8, 1)
                for round_number in range(options.rounds):
                    print(f"round {round_number + 1}", flush=True)
                    for label, app_request, ceiling_request, _ in pairs:
                        for request, who in ((app_request, "app"), (ceiling_request, "ceiling")):
                            run = drive(
                                pool,
                                options.client_processes,
                                ports[request],
                                request,
                                f"{label}: {who}",
                                options.clients,
                                options.seconds,
                                cpus[who],
                            )
                            if run.name not in best or run.per_second > best[run.name].per_second:
                                best[run.name] = run
                sent, seconds, worker_cpu = 0, 0.0, 0.0
                if "sign" in (options.only or ["sign"]):
                    print(
                        f"\nWorker: {options.email_workers} process(es) sign every submission the runs "
                        "stored and deliver each confirmation email",
                        flush=True,
                    )
                    sent, seconds, worker_cpu = drain_outbox(env, options.app_dir, options.email_workers)
                times = (
                    {}
                    if options.only
                    else timing_by_address(app_port, options.timing_repeat, env, options.app_dir)
                )
            finally:
                stop(ceiling)
                stop(app)
    finally:
        if not options.keep:
            drop_database(BENCH_DATABASE)

    print(
        "\nBest of the rounds (requests/s that answered 200 or 302); server CPU: the app's or the"
        "\nceiling's gunicorn workers plus PostgreSQL, per request, in the same run (its ratio is"
        "\nceiling ÷ app, what the throughput ratio would be if the server had the machine alone):\n"
    )
    print(
        "| measure | app | ceiling | ratio | server CPU app / ceiling | CPU ratio | goal |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    for label, _, _, goal in pairs:
        app, ceiling = best[f"{label}: app"], best[f"{label}: ceiling"]
        ratio = app.per_second / ceiling.per_second
        print(
            f"| {label} | {app.per_second:.0f}/s (p99 {app.percentile(0.99):.0f} ms) "
            f"| {ceiling.per_second:.0f}/s (p99 {ceiling.percentile(0.99):.0f} ms) "
            f"| **{ratio:.2f}x** | {app.cpu_ms:.2f} / {ceiling.cpu_ms:.2f} ms "
            f"(PostgreSQL {app.database_cpu_ms:.2f} / {ceiling.database_cpu_ms:.2f}) "
            f"| {ceiling.cpu_ms / app.cpu_ms:.2f}x | >= {goal}x |"
        )
    if "POST /sign/ vs one INSERT: app" not in best:
        return 0
    sign_rate = best["POST /sign/ vs one INSERT: app"].per_second
    worker_rate = sent / seconds if seconds else 0.0
    print(
        f"| worker ({options.email_workers} process) vs signing | {worker_rate:.0f} signed and mailed/s "
        f"({sent} in {seconds:.1f} s) | {sign_rate:.0f} signatures/s | **{worker_rate / sign_rate:.2f}x** "
        f"| {1000 * worker_cpu / max(sent, 1):.2f} ms worker CPU each | | >= 1x |"
    )
    if not times:
        return 0
    print("\nOne client signing one request at a time: answer time by the address's state")
    for kind, values in times.items():
        print(
            f"  {kind:<10} median {statistics.median(values):6.2f} ms"
            f"   mean {statistics.mean(values):6.2f} ms   ({len(values)} signatures)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
