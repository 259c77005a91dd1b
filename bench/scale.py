"""How every public page, the APIs and the admin scale: the same pages timed at 1,000 and at
1,000,000 seeded signatures, side by side.

    .venv/bin/python bench/scale.py                       # 1,000 and 1,000,000 (seeding takes a few minutes)
    .venv/bin/python bench/scale.py --sizes 1000 100000   # any sizes
    .venv/bin/python bench/scale.py --reseed              # throw away the bench databases first

Each size gets its own database (ccai_bench_<size>) on the server that DATABASE_URL names, or on
the embedded one; it is kept, so a second run skips the seeding. Pages are fetched through
Django's test client (the whole middleware, view and template stack, without an HTTP server),
a moderator logged in for the admin pages. To time another page, add a row to TARGETS.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import bench_env, create_database  # noqa: E402

# (name, url, needs a logged-in moderator). {deep_key} is filled in per database.
TARGETS = [
    ("admin: moderation queue", "/admin/pledges/queuedsignature/", True),
    ("admin: all signatures", "/admin/pledges/signature/", True),
    ("admin: filter flagged + guild", "/admin/pledges/signature/?flag=any&guild=wga", True),
    ("admin: search a full name", "/admin/pledges/signature/?q=zoe+obrien", True),
    ("admin: search a common first name", "/admin/pledges/signature/?q=maria", True),
    ("admin: search a common surname", "/admin/pledges/signature/?q=garcia", True),
    ("admin: search an email", "/admin/pledges/signature/?q=seed-nobody%40example.org", True),
    ("public list: first page", "/signatories/", False),
    ("public list: deep page (90% in)", "/signatories/?after={deep_key}", False),
    ("public list: search a full name", "/signatories/?q=zoe+obrien", False),
    ("public list: search a common first name", "/signatories/?q=maria", False),
    ("public list: search a common surname", "/signatories/?q=garcia", False),
    ("public list: guild + profession", "/signatories/?guild=dga&profession=writer", False),
    ("public list CSV: a search", "/signatories.csv?q=maria", False),
    ("letter page", "/", False),
    ("press page", "/press/", False),
    ("API: count", "/api/count/", False),
    ("API: history", "/api/history/", False),
    ("badge", "/badge.svg", False),
    ("privacy page", "/privacy/", False),
]


# The searches and rare filters, timed on seeded data alone, compare unlike pages: at 1,000 they
# match almost nobody and render an empty page, at 1,000,000 a full one. So both databases also hold
# the same planted group, more than a page of each kind; those pages then render as many rows at
# either size, and the ratio measures only what grows with the table (finding the page among more
# matches, and counting them up to the cap). Marked with * in the table.
PLANTED_DOMAIN = "planted.example.org"
PLANTED_EACH = 150
PLANTED_TARGETS = {
    "admin: filter flagged + guild",
    "admin: search a full name",
    "admin: search a common first name",
    "admin: search a common surname",
    "public list: search a full name",
    "public list: search a common first name",
    "public list: search a common surname",
    "public list: guild + profession",
    "public list CSV: a search",
}


def database_name(size: int) -> str:
    return f"ccai_bench_{size}"


def worker_env(url: str) -> dict:
    # Pages go through Django's test client in-process: no collectstatic, no persistent connections.
    return bench_env(url, ALLOWED_HOSTS="testserver", STATIC_MANIFEST="false", CONN_MAX_AGE="0")


def manage(url: str, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=worker_env(url), check=True)


def prepare(size: int, *, reseed: bool) -> tuple[str, float | None]:
    """Migrate and seed the database for `size`; returns its URL and the seeding time (None if kept)."""
    url = create_database(database_name(size), replace=reseed)
    manage(url, "migrate", "--noinput", "-v0")
    manage(url, "createcachetable", "-v0")
    count = subprocess.run(
        [sys.executable, __file__, "--count"],
        cwd=ROOT,
        env=worker_env(url),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if int(count) == size:
        return url, None
    if int(count):
        return prepare(size, reseed=True)
    started = time.perf_counter()
    manage(url, "seed_signatures", str(size))
    return url, time.perf_counter() - started


def django_setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccai.settings")
    import django

    django.setup()


def count_rows() -> None:
    django_setup()
    from pledges.models import Signature

    print(Signature.objects.exclude(email__endswith=f"@{PLANTED_DOMAIN}").count())


def plant() -> None:
    """Add the planted group (see PLANTED_DOMAIN) unless it is there: PLANTED_EACH listed "Zoë
    O'Brien", "Maria …" and "… García", all DGA writers (the first also WGA), and PLANTED_EACH
    flagged, unmoderated WGA members. Signing times are spread over the seed's 60 days, so that
    the admin's newest-first pages mix them with the seeded rows."""
    import random
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from pledges.lib import watchlist
    from pledges.lib.mailboxes import canonical_mailbox
    from pledges.management.commands.seed_signatures import FIRST_NAMES, LAST_NAMES
    from pledges.models import Guild, LetterVersion, Profession, Signature, SignatureGuild

    if Signature.objects.filter(email__endswith=f"@{PLANTED_DOMAIN}").exists():
        return
    draw = random.Random(13)
    now = timezone.now()
    writer = Profession.objects.get(slug="writer")
    dga, wga = Guild.objects.get(slug="dga"), Guild.objects.get(slug="wga")
    groups = [
        (lambda i: "Zoë O'Brien", Signature.Status.APPROVED, [], [dga, wga]),
        (lambda i: f"Maria {LAST_NAMES[i % len(LAST_NAMES)]}", Signature.Status.APPROVED, [], [dga]),
        (lambda i: f"{FIRST_NAMES[i % len(FIRST_NAMES)]} García", Signature.Status.APPROVED, [], [dga]),
        (lambda i: f"Planted Flagged {i}", Signature.Status.CONFIRMED, [Signature.Flag.IP_BURST], [wga]),
    ]
    rows, memberships = [], []
    for number, (name, status, flags, guilds) in enumerate(groups):
        for i in range(PLANTED_EACH):
            email = f"planted-{number}-{i}@{PLANTED_DOMAIN}"
            created_at = now - timedelta(days=60) * draw.random()
            approved = status == Signature.Status.APPROVED
            signature = Signature(
                full_name=name(i),
                email=email,
                mailbox=canonical_mailbox(email),
                name_keys=watchlist.match_keys(name(i)),
                profession=writer,
                status=status,
                flags=flags,
                letter_version=LetterVersion.objects.current(),
                created_at=created_at,
                confirmed_at=created_at + timedelta(minutes=5),
                moderated_at=created_at + timedelta(days=1) if approved else None,
            )
            rows.append(signature)
            memberships.append((signature, guilds))
    with transaction.atomic():
        Signature.objects.bulk_create(rows)
        SignatureGuild.objects.bulk_create(
            SignatureGuild(signature=signature, guild=guild)
            for signature, guilds in memberships
            for guild in guilds
        )
    with connection.cursor() as cursor:  # as after seeding: statistics and visibility map current
        cursor.execute("VACUUM ANALYZE pledges_signature")
        cursor.execute("VACUUM ANALYZE pledges_signature_guilds")


def measure(repeat: int) -> None:
    """In a worker process, on one bench database: time every target, print JSON."""
    django_setup()
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from pledges.models import Signature

    plant()
    moderator, _ = User.objects.get_or_create(username="bench-moderator", defaults={"is_staff": True})
    moderator.groups.add(Group.objects.get(name="Moderators"))
    published = Signature.objects.public_list()
    # Finding the row 90% of the way down is itself slow (an OFFSET); it is done once, untimed.
    deep_row = published[int(published.count() * 0.9)] if published.exists() else None
    context = {"deep_key": deep_row.public_list_key().encode() if deep_row else ""}

    anonymous, logged_in = Client(), Client()
    logged_in.force_login(moderator)
    results = {}
    for name, url, needs_login in TARGETS:
        client = logged_in if needs_login else anonymous
        url = url.format(**context)
        response = client.get(url)  # warm-up: caches, connections, the planner's statistics
        if response.status_code != 200:
            raise SystemExit(f"{name}: {url} answered {response.status_code}")
        timings, sql_timings = [], []
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                if response.streaming:  # a CSV download: time making all of it
                    b"".join(response.streaming_content)
                timings.append((time.perf_counter() - started) * 1000)
            sql_timings.append(sum(float(query["time"]) for query in queries.captured_queries) * 1000)
        results[name] = {"total": statistics.median(timings), "sql": statistics.median(sql_timings)}
    print(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 1_000_000])
    parser.add_argument(
        "--repeat", type=int, default=15, help="Timed fetches per page (the median is shown)."
    )
    parser.add_argument("--reseed", action="store_true", help="Drop and seed the bench databases again.")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--count", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count:
        return count_rows()
    if args.measure:
        return measure(args.repeat)

    columns = {}
    for size in args.sizes:
        print(f"Preparing {size:,} signatures…", flush=True)
        url, seed_seconds = prepare(size, reseed=args.reseed)
        if seed_seconds is not None:
            print(f"  seeded in {seed_seconds:.1f} s", flush=True)
        output = subprocess.run(
            [sys.executable, __file__, "--measure", "--repeat", str(args.repeat)],
            cwd=ROOT,
            env=worker_env(url),
            capture_output=True,
            text=True,
        )
        if output.returncode:
            raise SystemExit(f"Measuring {size:,} failed:\n{output.stderr}{output.stdout}")
        output = output.stdout
        columns[size] = json.loads(output.strip().splitlines()[-1])

    smallest, largest = min(args.sizes), max(args.sizes)
    width = max(len(name) for name, _, _ in TARGETS) + 2
    print("\nMedian milliseconds per page: the whole response, and the part spent in SQL.\n")
    header = f"{'page':<{width}} " + " ".join(f"{f'{size:,} total':>16} {'sql':>6}" for size in args.sizes)
    print(header + f" {'ratio':>7}")
    print("-" * (len(header) + 8))
    for name, _, _ in TARGETS:
        cells = " ".join(
            f"{columns[size][name]['total']:>16.1f} {columns[size][name]['sql']:>6.1f}" for size in args.sizes
        )
        ratio = columns[largest][name]["total"] / columns[smallest][name]["total"]
        marked = f"{name}{' *' if name in PLANTED_TARGETS else ''}"
        print(f"{marked:<{width}} {cells} {ratio:>6.2f}x")
    print(
        f"\n* Reads the planted group, the same {4 * PLANTED_EACH} signatures in every database"
        f' (PLANTED_DOMAIN):\n  {PLANTED_EACH} listed "Zoë O\'Brien", {PLANTED_EACH} "Maria …",'
        f' {PLANTED_EACH} "… García" (DGA writers), {PLANTED_EACH} flagged WGA members;\n'
        "  so these pages show as many rows at every size. Sizes count the seeded signatures alone."
    )


if __name__ == "__main__":
    main()
