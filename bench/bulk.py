"""A background bulk approve at scale: rows per second through the worker, and the moderation
queue's page time while the job runs, against the same page with no job running.

    .venv/bin/python bench/bulk.py                     # 1,000,000 signatures (seeding takes minutes)
    .venv/bin/python bench/bulk.py --size 100000       # any size
    .venv/bin/python bench/bulk.py --max-seconds 60    # stop the job after a minute (cancelled)

The database (ccai_bench_<size>, shared with scale.py) is seeded once and kept; at the end the
job's approvals are undone (status back to confirmed, its events deleted), so a second run
measures the same queue. The job is what "select all" in the queue with "No flag" and "Approve"
makes; the worker is `manage.py worker`, a process of its own, as `make run` starts it.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scale import database_name, prepare, worker_env  # noqa: E402

QUEUE = "/admin/pledges/queuedsignature/"


def time_queue(client, repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(QUEUE)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"the queue answered {response.status_code}")
    return timings


def measure(max_seconds: float, batch_size: int) -> None:
    """In a child process on the bench database."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccai.settings")
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client

    from pledges import bulk
    from pledges.models import BulkModerationJob, ModerationEvent, Signature

    BulkModerationJob.objects.unfinished().update(state="cancelled")  # an earlier run stopped midway
    moderator, _ = User.objects.get_or_create(username="bench-moderator", defaults={"is_staff": True})
    moderator.groups.add(Group.objects.get(name="Moderators"))
    client = Client()
    client.force_login(moderator)
    queue = Signature.objects.moderation_queue()
    print(f"signatures: {Signature.objects.count():,}; in the queue: {queue.count():,}", flush=True)
    print(f"  without flags (what the job approves): {queue.filter(flags=[]).count():,}", flush=True)

    client.get(QUEUE)  # warm-up
    idle = time_queue(client, 15)

    job = bulk.publish_waiting_queue(moderator)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--poll-seconds", "0.2"],
        cwd=ROOT,
        env={**os.environ, "BULK_BATCH_SIZE": str(batch_size)},
        stdout=subprocess.DEVNULL,
    )
    # First the worker alone (throughput), then with a moderator paging the queue meanwhile.
    started = time.perf_counter()
    busy, alone, phase_two = [], None, None
    try:
        while True:
            elapsed = time.perf_counter() - started
            job.refresh_from_db()
            if job.finished:
                break
            if elapsed > max_seconds:
                job.cancel(moderator)
                break
            if elapsed < max_seconds / 2:
                time.sleep(0.5)
                continue
            if alone is None and job.started_at:
                alone = (job.changed, elapsed)
                phase_two = (job.changed, time.perf_counter())
            busy += time_queue(client, 1)
            time.sleep(0.3)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    job.refresh_from_db()
    ended = time.perf_counter()
    print(f"\nJob: {job.get_state_display().lower()}; {job.processed:,} looked at, {job.changed:,} approved")
    print(f"  batches of {batch_size:,}, one audit record (ModerationEvent) per signature approved")
    if alone:
        print(f"  worker alone:               {alone[0] / alone[1]:8,.0f} signatures approved per second")
    if phase_two and ended > phase_two[1]:
        rate = (job.changed - phase_two[0]) / (ended - phase_two[1])
        print(f"  while the queue is paged:   {rate:8,.0f} signatures approved per second")
    print("\nThe moderation queue page (median / worst ms):")
    print(f"  no job running:      {statistics.median(idle):8.1f} / {max(idle):8.1f}  ({len(idle)} fetches)")
    if busy:
        print(
            f"  while the job runs:  {statistics.median(busy):8.1f} / {max(busy):8.1f}  ({len(busy)} fetches)"
        )
        print(f"  ratio (medians):     {statistics.median(busy) / statistics.median(idle):8.2f}x")

    # Undo, so that the next run measures the same queue.
    changed = ModerationEvent.objects.filter(job=job).values("signature_id")
    Signature.objects.filter(pk__in=changed).update(status="confirmed", moderated_at=None)
    ModerationEvent.objects.filter(job=job).delete()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE pledges_signature")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--max-seconds", type=float, default=600, help="Cancel the job after this long.")
    parser.add_argument("--batch-size", type=int, default=1000, help="BULK_BATCH_SIZE for the worker.")
    parser.add_argument("--reseed", action="store_true", help="Drop and seed the bench database again.")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return measure(args.max_seconds, args.batch_size)
    print(f"Preparing {args.size:,} signatures in {database_name(args.size)}…", flush=True)
    url, seed_seconds = prepare(args.size, reseed=args.reseed)
    if seed_seconds is not None:
        print(f"  seeded in {seed_seconds:.1f} s", flush=True)
    command = [sys.executable, __file__, "--measure", "--max-seconds", str(args.max_seconds)]
    command += ["--batch-size", str(args.batch_size)]
    subprocess.run(command, cwd=ROOT, env=worker_env(url), check=True)


if __name__ == "__main__":
    main()
