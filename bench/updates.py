"""Updates to signers: how fast one worker delivers an update to N opted-in signers, side by side
with how fast it delivers confirmation emails (today's worker rate), and how long a new signer's
confirmation email waits while the update is going out.

    .venv/bin/python bench/updates.py [--recipients 100000] [--confirmations 5000] [--batch 100]

Everything runs on 127.0.0.1: a fresh `ccai_bench_updates` database on DATABASE_URL's server (or
the embedded one), one `manage.py deliver_emails` process, and an aiosmtpd server that accepts and
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


def start_worker(env: dict, batch: int, once: bool) -> subprocess.Popen:
    args = ["--once"] if once else ["--poll-seconds", "0.2"]
    return subprocess.Popen(
        [sys.executable, "manage.py", "deliver_emails", "--batch", str(batch), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--confirmations", type=int, default=5_000, help="for today's worker rate")
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
    try:
        with psycopg.connect(url, autocommit=True) as db:
            print(f"Seeding {args.recipients:,} confirmed signers who opted in ...")
            seed_recipients(db, args.recipients)

            print(f"\nToday's worker rate: {args.confirmations:,} confirmation emails, one worker")
            queue_confirmations(db, "confirm-", args.confirmations)
            began = time.monotonic()
            start_worker(env, args.batch, once=True).wait()
            confirmation_rate = sink.confirmations / (time.monotonic() - began)
            seconds = time.monotonic() - began
            print(f"  {sink.confirmations:,} in {seconds:.1f} s = {confirmation_rate:.0f} emails/s")

            print(f"\nAn update to {args.recipients:,} signers, one worker,")
            print(f"a new signer's confirmation queued every {args.probe_every} s")
            db.execute(
                """INSERT INTO pledges_update (subject, body, status, created_at, send_started_at,
                       queued_through, final_figures)
                   VALUES ('News', %s, 'sending', now(), now(), 0, '{}')""",
                ["The letter was **delivered** today.\n\n- one\n- two\n\n[More](https://example.org/)"],
            )
            probes_queued: dict[str, float] = {}
            stop_probes = threading.Event()

            def new_signers():
                with psycopg.connect(url, autocommit=True) as probe_db:
                    n = 0
                    while not stop_probes.wait(args.probe_every):
                        probes_queued[f"probe-{n}-1@example.com"] = time.monotonic()
                        queue_confirmations(probe_db, f"probe-{n}-", 1)
                        n += 1

            began = time.monotonic()
            worker = start_worker(env, args.batch, once=False)
            prober = threading.Thread(target=new_signers)
            prober.start()
            last_report = began
            while sink.updates < args.recipients and worker.poll() is None:
                time.sleep(0.2)
                if time.monotonic() - last_report >= 10:
                    last_report = time.monotonic()
                    print(f"  {sink.updates:,} sent after {last_report - began:.0f} s", flush=True)
            seconds = time.monotonic() - began
            stop_probes.set()
            prober.join()
            time.sleep(1)  # the last probe
            worker.terminate()
            worker.wait()
    finally:
        controller.stop()
        drop_database(DATABASE)

    update_rate = sink.updates / seconds
    latencies = [sink.probes[to] - queued for to, queued in probes_queued.items() if to in sink.probes]
    print(f"  {sink.updates:,} update emails in {seconds:.1f} s = {update_rate:.0f} emails/s")
    print(f"  update / confirmation rate: {update_rate / confirmation_rate:.2f}x (goal >= 1)")
    if latencies:
        print(
            f"  confirmation latency during the update ({len(latencies)} new signers): "
            f"median {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
            f" ({len(probes_queued) - len(latencies)} not delivered by the end)"
        )


if __name__ == "__main__":
    main()
