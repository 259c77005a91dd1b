"""Updates to signers: how fast one worker delivers an update queued to N opted-in signers, side by
side with how fast it delivers confirmation emails (today's worker rate), in alternating windows of
the same length, and how long a new signer's confirmation email waits while the update goes out.
The whole update is queued (every delivery row made); delivery is measured over the windows, since
sending all of it at the rate of a shared laptop takes an hour.

    .venv/bin/python bench/updates.py [--recipients 100000] [--seconds 30] [--rounds 2] [--batch 100]

Everything runs on 127.0.0.1: a fresh `ccai_bench_updates` database on DATABASE_URL's server (or
the embedded one), one `manage.py worker` process, and an aiosmtpd server that accepts and
counts the mail (a sink: it parses nothing)."""

import argparse
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, bench_env, create_database, drop_database, free_port, prepare

DATABASE = "ccai_bench_updates"


class Sink:
    """Counts what arrives; notes when each latency probe arrived."""

    def __init__(self):
        self.updates = 0
        self.confirmations = 0
        self.probes: dict[str, float] = {}

    async def handle_DATA(self, server, session, envelope):
        to = envelope.rcpt_tos[0]
        if to.startswith("probe-"):
            self.probes[to] = time.monotonic()
        elif to.startswith("confirm-"):
            self.confirmations += 1
        else:
            self.updates += 1
        return "250 OK"


def seed_recipients(db, count: int) -> None:
    db.execute(
        """
        INSERT INTO pledges_signature (code, full_name, email, profession_id, credit, country,
            show_publicly, updates_opt_in, featured, status, flags, letter_version_id, ip_hash,
            created_at, confirmed_at)
        SELECT gen_random_uuid(), 'Signer ' || n, 'signer' || n || '@example.com',
            (SELECT min(id) FROM pledges_profession), '', '', true, true, false, 'confirmed', '{}',
            (SELECT max(id) FROM pledges_letterversion), '', now(), now()
        FROM generate_series(1, %s) AS n
        """,
        [count],
    )
    db.execute("ANALYZE pledges_signature")


def queue_confirmations(db, prefix: str, count: int) -> None:
    """Confirmation-sized emails in the outbox, as signing stores them."""
    body = "Hello,\n\nThank you for signing. To make your signature count, open this link:\n\n" + "x" * 120
    db.execute(
        """
        INSERT INTO pledges_outgoingemail (to, kind, subject, body_text, body_html, created_at,
            send_after, attempts, last_error)
        SELECT %s || n || '@example.com', 'confirmation', 'Confirm your signature on the open letter',
            %s, %s, now(), now(), 0, ''
        FROM generate_series(1, %s) AS n
        """.replace("(to,", '("to",'),
        [prefix, body, f"<p>{body}</p>", count],
    )


def start_worker(env: dict, batch: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--batch", str(batch), "--poll-seconds", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def run_window(env: dict, batch: int, seconds: float, counter, on_start=None) -> float:
    """Run one worker for `seconds` (after it has started) and return what `counter()` gained per second."""
    worker = start_worker(env, batch)
    try:
        before = counter()
        while counter() == before and worker.poll() is None:  # Django's start-up is not the rate
            time.sleep(0.05)
        began, start_count = time.monotonic(), counter()
        if on_start:
            on_start()
        time.sleep(seconds)
        return (counter() - start_count) / (time.monotonic() - began)
    finally:
        worker.terminate()
        worker.wait()


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=30, help="length of each measured window")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--probe-every", type=float, default=1.0, help="seconds between new signers")
    args = parser.parse_args()

    import psycopg
    from aiosmtpd.controller import Controller

    url = create_database(DATABASE, replace=True)
    sink, port = Sink(), free_port()
    env = bench_env(url, EMAIL_URL=f"smtp://127.0.0.1:{port}")
    prepare(env)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    confirmation_rates, update_rates, latencies, probes_queued = [], [], [], {}
    try:
        with psycopg.connect(url, autocommit=True) as db:
            print(f"Seeding {args.recipients:,} confirmed signers who opted in ...")
            seed_recipients(db, args.recipients)
            db.execute(
                """INSERT INTO pledges_update (subject, body, status, created_at, send_started_at,
                       queued_through, final_figures)
                   VALUES ('News', %s, 'sending', now(), now(), 0, '{}')""",
                ["The letter was **delivered** today.\n\n- one\n- two\n\n[More](https://example.org/)"],
            )
            began = time.monotonic()
            queuing = start_worker(env, args.batch)
            while not db.execute("SELECT queued_at FROM pledges_update").fetchone()[0]:
                time.sleep(0.05)
            queue_seconds = time.monotonic() - began
            queuing.terminate()
            queuing.wait()
            queued = db.execute("SELECT count(*) FROM pledges_updatedelivery").fetchone()[0]
            print(f"Queued {queued:,} deliveries by INSERT … SELECT, {queue_seconds:.1f} s after the start")
            print(f"One worker, --batch {args.batch}, {args.seconds:.0f} s windows, {args.rounds} rounds\n")

            for round_number in range(1, args.rounds + 1):
                # Today's worker: confirmation emails only (the update waits while they are due).
                queue_confirmations(db, f"confirm-{round_number}-", int(args.seconds * 200))
                rate = run_window(env, args.batch, args.seconds, lambda: sink.confirmations)
                db.execute("DELETE FROM pledges_outgoingemail")
                confirmation_rates.append(rate)
                print(f"  round {round_number}: confirmation emails {rate:6.1f} emails/s")

                rate = run_window(env, args.batch, args.seconds, lambda: sink.updates)
                update_rates.append(rate)
                print(f"  round {round_number}: update emails       {rate:6.1f} emails/s")

                # The same again with a new signer every --probe-every seconds: how long do they wait?
                stop_probes = threading.Event()

                def new_signers(stop=stop_probes, number=round_number):
                    with psycopg.connect(url, autocommit=True) as probe_db:
                        n = 0
                        while not stop.wait(args.probe_every):
                            probes_queued[f"probe-{number}-{n}-1@example.com"] = time.monotonic()
                            queue_confirmations(probe_db, f"probe-{number}-{n}-", 1)
                            n += 1

                prober = threading.Thread(target=new_signers)
                rate = run_window(env, args.batch, args.seconds, lambda: sink.updates, on_start=prober.start)
                stop_probes.set()
                prober.join()
                print(
                    f"  round {round_number}: update emails       {rate:6.1f} emails/s"
                    f" (a new signer every {args.probe_every:g} s)"
                )
            left = db.execute("SELECT count(*) FROM pledges_updatedelivery WHERE sent_at IS NULL").fetchone()[
                0
            ]
    finally:
        controller.stop()
        drop_database(DATABASE)

    latencies = [sink.probes[to] - queued for to, queued in probes_queued.items() if to in sink.probes]
    best_confirmations, best_updates = max(confirmation_rates), max(update_rates)
    print(f"\nBest of the rounds, at {args.recipients:,} recipients ({left:,} still to send at the end):")
    print(f"  confirmation emails (today's worker rate): {best_confirmations:6.1f} emails/s")
    print(f"  update emails:                             {best_updates:6.1f} emails/s")
    print(f"  update / confirmation rate: {best_updates / best_confirmations:.2f}x (goal >= 1)")
    if latencies:
        ordered = sorted(latencies)
        print(
            f"  a new signer's confirmation email during the update ({len(latencies)} of them): "
            f"median {statistics.median(ordered) * 1000:.0f} ms, "
            f"p95 {ordered[int(len(ordered) * 0.95)] * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"
        )
    lost = len(probes_queued) - len(latencies)
    if lost:
        print(f"  ({lost} queued as a window closed, not timed)")


if __name__ == "__main__":
    main()
