"""Throughput of /api/count/ against a bare Django view on the same gunicorn server, at 1,000 and
at 1,000,000 signatures. See bench/README.md.

    .venv/bin/python bench/count_api.py [--sizes 1000,1000000] [--seconds 4] [--rounds 3]

It creates (and afterwards drops) a database `ccai_bench` on the PostgreSQL server of DATABASE_URL,
or on the embedded server in .pgdata/ when DATABASE_URL is not set, fills it with one fast
INSERT … SELECT generate_series, starts `gunicorn ccai.wsgi -w 2` on 127.0.0.1 with the bench
URLconf (bench/urls.py, which adds the bare view), and drives both URLs from client processes
over 127.0.0.1. Everything it starts, it stops."""

import argparse
import http.client
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BENCH_DATABASE,
    app_server,
    bench_database_url,
    bench_env,
    drop_database,
    prepare,
)

TARGETS = {"bare view": "/bench/bare/", "count API": "/api/count/"}


# Signatures in every state, as a live letter has them: most confirmed or approved, some pending,
# withdrawn (erased), rejected, or held by a flag; two in three in a guild.
FILL_SQL = """
WITH ids AS (
    SELECT array_agg(id ORDER BY id) AS professions FROM pledges_profession
), letter AS (
    SELECT max(id) AS id FROM pledges_letterversion
), rows AS (
    SELECT i, CASE
        WHEN i %% 20 = 0 THEN 'pending'
        WHEN i %% 20 = 1 THEN 'withdrawn'
        WHEN i %% 20 = 2 THEN 'rejected'
        WHEN i %% 20 BETWEEN 3 AND 9 THEN 'confirmed'
        ELSE 'approved' END AS status,
        now() - interval '30 days' * (1 - i::float / %(last)s::bigint) AS created
    FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i
)
INSERT INTO pledges_signature (
    code, full_name, email, credit, country, show_publicly, updates_opt_in, featured, status, flags,
    ip_hash, created_at, confirmed_at, moderated_at, withdrawn_at, letter_version_id, profession_id)
SELECT
    gen_random_uuid(),
    CASE WHEN status = 'withdrawn' THEN '' ELSE 'Bench Signer ' || i END,
    CASE WHEN status = 'withdrawn' THEN NULL ELSE 'bench' || i || '@example.com' END,
    '', '', i %% 7 <> 0, false, false, status,
    CASE WHEN i %% 20 = 3 THEN ARRAY['ip_soft_limit']::varchar[] ELSE '{}'::varchar[] END,
    CASE WHEN status = 'withdrawn' THEN '' ELSE md5(i::text) || md5(i::text) END,
    created,
    CASE WHEN status = 'pending' THEN NULL ELSE created + interval '10 minutes' END,
    CASE WHEN status IN ('approved', 'rejected') THEN created + interval '1 day' END,
    CASE WHEN status = 'withdrawn' THEN created + interval '2 days' END,
    letter.id,
    ids.professions[1 + i %% array_length(ids.professions, 1)]
FROM rows, ids, letter
"""

FILL_GUILDS_SQL = """
INSERT INTO pledges_signature_guilds (signature_id, guild_id)
SELECT s.id, g.ids[1 + (s.id / 3) %% array_length(g.ids, 1)]
FROM pledges_signature s, (SELECT array_agg(id ORDER BY id) AS ids FROM pledges_guild) g
WHERE s.id > %(after)s AND s.status <> 'withdrawn' AND s.id %% 3 <> 0
"""


def fill(conninfo: str, total: int) -> float:
    """Add signatures until there are `total`; returns the seconds it took."""
    started = time.monotonic()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        have, last_id = conn.execute(
            "SELECT count(*), coalesce(max(id), 0) FROM pledges_signature"
        ).fetchone()
        if total > have:
            with conn.transaction():
                conn.execute(FILL_SQL, {"first": have + 1, "last": total})
                conn.execute(FILL_GUILDS_SQL, {"after": last_id})
            conn.execute("VACUUM ANALYZE pledges_signature")
            conn.execute("VACUUM ANALYZE pledges_signature_guilds")
        conn.execute("DELETE FROM ccai_cache")  # the next server starts with a cold count
    return time.monotonic() - started


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def client(args: tuple[int, str, float]) -> tuple[list[float], int]:
    """One client: requests back to back for `seconds`, reusing the connection when the server
    keeps it open (gunicorn's sync workers close it after each response)."""
    port, path, seconds = args
    latencies, errors = [], 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    deadline = time.perf_counter() + seconds
    while (started := time.perf_counter()) < deadline:
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors += 1
            if response.will_close:
                conn.close()
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            continue
        latencies.append(time.perf_counter() - started)
    conn.close()
    return latencies, errors


def measure(pool, port: int, path: str, clients: int, seconds: float) -> dict:
    results = pool.map(client, [(port, path, seconds)] * clients)
    latencies = sorted(lat for lats, _ in results for lat in lats)
    errors = sum(err for _, err in results)
    return {"rps": len(latencies) / seconds, "latencies": latencies, "errors": errors}


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def signature_reads(conninfo: str) -> int:
    """How many times anything has scanned the signatures table, from PostgreSQL's statistics
    (a server's backends report theirs when they exit, so read this after stopping it)."""
    time.sleep(0.5)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables "
            "WHERE relname = 'pledges_signature'"
        ).fetchone()
    return row[0]


def bench_size(pool, env, conninfo: str, size: int, options) -> dict:
    # A first server computes the figures into the shared cache, as one worker would on a
    # cold start; the measured server starts with what the shared cache holds.
    with app_server(env, options.workers) as (port, _):
        started = time.perf_counter()
        status, body = get(port, TARGETS["count API"])
        cold = time.perf_counter() - started
        assert status == 200, body
        shown = int(body.split(b'"count": ')[1].split(b",")[0])
    reads_before = signature_reads(conninfo)
    with app_server(env, options.workers) as (port, _):
        for path in TARGETS.values():  # warm both workers and both code paths
            measure(pool, port, path, options.clients, 1)
        runs = {name: [] for name in TARGETS}
        for round_number in range(options.rounds):
            # Alternate the order, so that drift in the machine's load hits both alike.
            order = list(TARGETS.items()) if round_number % 2 == 0 else list(TARGETS.items())[::-1]
            for name, path in order:
                runs[name].append(measure(pool, port, path, options.clients, options.seconds))
    reads_during = signature_reads(conninfo) - reads_before
    summary = {"size": size, "shown_count": shown, "cold_ms": cold * 1000, "reads_during": reads_during}
    for name, measured in runs.items():
        latencies = sorted(lat for run in measured for lat in run["latencies"])
        summary[name] = {
            "rps": statistics.median(run["rps"] for run in measured),
            "p50_ms": percentile(latencies, 0.50) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000,
            "errors": sum(run["errors"] for run in measured),
        }
    # Each round's two measurements ran back to back under the same load: compare them pairwise.
    summary["ratio"] = statistics.median(
        count["rps"] / bare["rps"] for bare, count in zip(runs["bare view"], runs["count API"], strict=True)
    )
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,1000000", help="signature counts, ascending")
    parser.add_argument("--seconds", type=float, default=3, help="length of one measurement")
    parser.add_argument("--rounds", type=int, default=5, help="alternating measurements per target")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--keep", action="store_true", help="keep the ccai_bench database afterwards")
    options = parser.parse_args()
    sizes = sorted(int(size) for size in options.sizes.split(","))
    if options.seconds > 30 or options.rounds > 10 or options.clients > 64 or sizes[-1] > 10_000_000:
        parser.error("keep it bounded: --seconds ≤ 30, --rounds ≤ 10, --clients ≤ 64, sizes ≤ 10,000,000")

    conninfo = bench_database_url()
    env = bench_env(conninfo)
    results = []
    try:
        print(f"Preparing database {BENCH_DATABASE} …", flush=True)
        prepare(env)
        with multiprocessing.get_context("fork").Pool(options.clients) as pool:
            for size in sizes:
                took = fill(conninfo, size)
                print(f"{size:,} signatures in the database (filled in {took:.1f} s)", flush=True)
                results.append(bench_size(pool, env, conninfo, size, options))
                print_result(results[-1], options)
    finally:
        if not options.keep:
            drop_database(BENCH_DATABASE)
    print_summary(results, options)
    return 0


def print_result(result: dict, options) -> None:
    print(
        f"  first /api/count/ (computes the figures): {result['cold_ms']:.0f} ms; "
        f"it shows count {result['shown_count']:,}"
    )
    for name in TARGETS:
        figures = result[name]
        print(
            f"  {name:10} {figures['rps']:8.0f} req/s   p50 {figures['p50_ms']:6.2f} ms   "
            f"p99 {figures['p99_ms']:6.2f} ms   errors {figures['errors']}"
        )
    print(f"  ratio count API / bare view (median of the rounds' ratios): {result['ratio']:.2f}")
    print(f"  reads of the signatures table while measuring: {result['reads_during']}", flush=True)


def print_summary(results: list[dict], options) -> None:
    print(
        f"\ngunicorn -w {options.workers} (sync), {options.clients} client processes, "
        f"{options.rounds} x {options.seconds:g} s per target, median req/s; {os.cpu_count()} CPUs;\n"
        "ratio = median over the rounds of count API req/s ÷ bare view req/s, measured back to back\n"
    )
    print(
        "| signatures | bare view req/s | count API req/s | ratio "
        "| bare p50 / p99 ms | count p50 / p99 ms | signature reads |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        bare, count = r["bare view"], r["count API"]
        print(
            f"| {r['size']:,} | {bare['rps']:.0f} | {count['rps']:.0f} | {r['ratio']:.2f} | "
            f"{bare['p50_ms']:.2f} / {bare['p99_ms']:.2f} | {count['p50_ms']:.2f} / {count['p99_ms']:.2f} | "
            f"{r['reads_during']} |"
        )
    failed = [r for r in results if r["ratio"] < 0.8]
    print("\ngoal (count API >= 0.8 x bare view):", "met" if not failed else "NOT met")


if __name__ == "__main__":
    sys.exit(main())
