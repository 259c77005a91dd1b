"""Signing throughput against a bare Django view that makes one INSERT, p99 latency at 32
concurrent clients, memory per app worker, and whether the email worker keeps up with signing.

    .venv/bin/python bench/signing.py [--seconds 10] [--workers 4] [--clients 32]

Everything runs on 127.0.0.1: gunicorn, a fresh `ccai_bench` database on DATABASE_URL's server
(or the embedded one), and an aiosmtpd server that accepts the mail."""

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, app_server, bench_database_url, bench_env, prepare, run_load

FORM = {
    "full_name": "Bench Signer",
    "profession": "writer",
    "guilds": ["wga", "sag-aftra"],
    "credit": "A Film",
    "country": "US",
    "show_publicly": "on",
}


def signing_request():
    def setup(conn):
        conn.request("GET", "/")
        response = conn.getresponse()
        html = response.read().decode()
        cookie = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie")).group(1)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
        return cookie, token

    def make_request(conn, state, key):
        cookie, token = state
        body = urlencode(
            {**FORM, "email": f"sign-{key}-{time.time_ns()}@example.com", "csrfmiddlewaretoken": token},
            doseq=True,
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={cookie}"}
        conn.request("POST", "/sign/", body, headers)
        return conn.getresponse()

    make_request.setup = setup
    return make_request


def bare_insert_request():
    def make_request(conn, state, key):
        body = urlencode({**FORM, "email": f"bare-{key}@example.com"}, doseq=True)
        conn.request("POST", "/bench/insert/", body, {"Content-Type": "application/x-www-form-urlencoded"})
        return conn.getresponse()

    return make_request


def worker_memory(master_pid: int) -> list[tuple[float, float]]:
    import psutil

    return [
        (child.memory_info().rss / 2**20, child.memory_full_info().uss / 2**20)
        for child in psutil.Process(master_pid).children()
    ]


def drain_outbox(env: dict, workers: int) -> tuple[int, float]:
    """Deliver everything in the outbox with `workers` worker processes into a local SMTP
    server; returns (messages, seconds)."""
    from aiosmtpd.controller import Controller

    from tests.servers import free_port

    class Sink:
        received = 0

        async def handle_DATA(self, server, session, envelope):
            Sink.received += 1
            return "250 OK"

    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    worker_env = {**env, "EMAIL_URL": f"smtp://127.0.0.1:{port}", "DJANGO_SETTINGS_MODULE": "ccai.settings"}
    began = time.monotonic()
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "worker", "--once", "--batch", "200"],
            cwd=ROOT,
            env=worker_env,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    for process in processes:
        process.wait()
    seconds = time.monotonic() - began
    controller.stop()
    return Sink.received, seconds


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    env = bench_env(bench_database_url())
    prepare(env)
    print(
        f"gunicorn -w {args.workers}, {args.clients} clients, "
        f"{args.seconds:.0f} s per run, {args.rounds} rounds\n"
    )
    best = {}
    with app_server(env, args.workers) as (port, process):
        for _ in range(args.rounds):
            for name, request in (
                ("bare view, one INSERT", bare_insert_request()),
                ("sign: form POST with CSRF", signing_request()),
            ):
                result = run_load(name, port, request, clients=args.clients, seconds=args.seconds)
                print(result.line())
                if name not in best or result.per_second > best[name].per_second:
                    best[name] = result
        memory = worker_memory(process.pid)

    bare, sign = best["bare view, one INSERT"], best["sign: form POST with CSRF"]
    print("\nBest of the rounds:")
    print(bare.line())
    print(sign.line())
    print(f"ratio sign / bare INSERT: {sign.per_second / bare.per_second:.2f}x (goal >= 0.5x)")
    print(f"p99 of signing at {args.clients} clients: {sign.percentile(99):.1f} ms")
    print("\nMemory per gunicorn worker after the load (RSS / unique):")
    for rss, uss in memory:
        print(f"  {rss:6.1f} MiB / {uss:5.1f} MiB")

    print("\nEmail worker: one process delivers the confirmation emails the signing runs stored")
    sent, seconds = drain_outbox(env, workers=1)
    rate = sent / seconds if seconds else 0
    print(f"  {sent} emails in {seconds:.1f} s = {rate:.0f} emails/s")
    print(
        f"  worker / signing throughput: {rate / sign.per_second:.2f}x "
        "(>= 1 keeps up; run more workers if not)"
    )


if __name__ == "__main__":
    main()
