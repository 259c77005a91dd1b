"""The watchlist's cost per signature at 10 and at 10,000 watched names, side by side, and the
cost of adding a watched name to a table of signatures already made.

    .venv/bin/python bench/watchlist.py [--samples 2000] [--signatures 100000]

In-process, on a database of its own (ccai_bench_watchlist on DATABASE_URL's server, or the
embedded one): what signing pays for the watchlist is watchlist.match_keys() (Python) and one
indexed query (WatchedName.keys && the name's keys), plus the mixed-script check."""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import create_database, drop_database

DATABASE = "ccai_bench_watchlist"
SYLLABLES = [
    "ka", "lo", "mi", "ra", "ne", "to", "sa", "vi", "du", "re", "an", "el", "is", "or", "um",
    "ba", "ce", "fi", "go", "hu", "ja", "ke", "li", "mo", "nu", "pa", "qui", "ro", "su", "te",
]  # fmt: skip
SIZES = (10, 10_000)


def made_up_name(rng: random.Random) -> str:
    def word() -> str:
        return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()

    return f"{word()} {word()}"


def disguised(name: str, rng: random.Random) -> str:
    first, last = name.split(" ", 1)
    return rng.choice(
        [
            f"{last}, {first}",
            f"Dr. {first} {last} Jr",
            f"{first} Q. {last} (actor)",
            f"{first}{last}",
            f"{first}-{last}",
            name.replace("a", "\u0430").replace("o", "\u043e"),  # Cyrillic look-alikes
        ]
    )


def fill_watchlist(size: int, rng: random.Random) -> list[str]:
    from pledges.lib import watchlist
    from pledges.models import WatchedName, WatchedNameKey, watched_name_key

    WatchedName.objects.all().delete()
    names, seen = [], set()
    while len(names) < size:
        name = made_up_name(rng)
        if watched_name_key(name) not in seen:
            seen.add(watched_name_key(name))
            names.append(name)
    created = WatchedName.objects.bulk_create(
        WatchedName(name=name, keys=watchlist.watched_keys(name), match_key=watched_name_key(name))
        for name in names
    )
    WatchedNameKey.objects.bulk_create(
        WatchedNameKey(watched_name=watched, key=key) for watched in created for key in watched.keys
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pledges_watchedname")
        cursor.execute("ANALYZE pledges_watchednamekey")
    return names


def time_reviews(samples: list[str]) -> dict:
    from django.db import connection, reset_queries

    from pledges.lib import watchlist
    from pledges.models import WatchedName

    keys_us, query_us, total_us, bare_us, held = [], [], [], [], 0
    for name in samples:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        bare_us.append((time.perf_counter() - started) * 1e6)
        started = time.perf_counter()
        keys = watchlist.match_keys(name)
        watchlist.mixes_scripts(name)
        keyed = time.perf_counter()
        # What WatchedName.objects.first_matches([name]) runs, with the keys already made above.
        match = list(WatchedName.objects.first_by_key(keys))
        done = time.perf_counter()
        held += bool(match)
        keys_us.append((keyed - started) * 1e6)
        query_us.append((done - keyed) * 1e6)
        total_us.append((done - started) * 1e6)
    plan = WatchedName.objects.first_by_key(watchlist.match_keys(samples[0])).explain()
    reset_queries()
    connection.close()
    return {
        "bare": statistics.median(bare_us),
        "plan": " / ".join(line.strip(" ->").split("  (cost")[0] for line in plan.splitlines()),
        "python": statistics.median(keys_us),
        "query": statistics.median(query_us),
        "total": statistics.median(total_us),
        "p99": sorted(total_us)[int(len(total_us) * 0.99)],
        "held": held,
    }


def time_retroactive(signatures: int) -> tuple[float, int]:
    """Add one watched name to a table of `signatures` and apply it to them."""
    from django.core.management import call_command

    from pledges.models import Signature, WatchedName

    call_command("seed_signatures", str(signatures), stdout=open(os.devnull, "w"), stderr=sys.stderr)  # noqa: SIM115
    sample = Signature.objects.exclude(full_name="").values_list("full_name", flat=True).first()
    first, last = sample.split(" ", 1)
    watched = WatchedName(name=f"{last}, {first}")
    watched.save()
    started = time.perf_counter()
    held, recheck = watched.apply_to_signatures()
    return (time.perf_counter() - started) * 1000, held + recheck


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="signature names reviewed per size")
    parser.add_argument("--signatures", type=int, default=100_000, help="signatures for the retroactive run")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = create_database(DATABASE, replace=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccai.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production")
    os.environ.setdefault("DEBUG", "false")
    import django

    django.setup()
    from django.core.management import call_command

    try:
        call_command("migrate", "--noinput", verbosity=0)
        rng = random.Random(9)
        results = {}
        for size in SIZES:
            watched = fill_watchlist(size, rng)
            # A spike's mix: most people sign as themselves, a few as someone watched.
            samples = [
                disguised(rng.choice(watched), rng) if rng.random() < 0.1 else made_up_name(rng)
                for _ in range(args.samples)
            ]
            time_reviews(samples[:100])  # warm-up: connection, caches, the planner
            results[size] = time_reviews(samples)
        print(
            f"Watchlist matching per signature ({args.samples} names each, median; 10% disguised forgeries)"
        )
        for size, figures in results.items():
            print(
                f"  {size:>6,} watched names: {figures['total']:6.0f} µs "
                f"(keys and scripts {figures['python']:4.0f} µs in Python, query {figures['query']:4.0f} µs)"
                f"   p99 {figures['p99']:6.0f} µs   held {figures['held']}"
            )
            print(
                f"      bare SELECT 1 round trip, same run: {figures['bare']:6.0f} µs;"
                f"  plan: {figures['plan']}"
            )
        small, large = results[SIZES[0]]["total"], results[SIZES[1]]["total"]
        print(f"  ratio 10,000 / 10 watched names: {large / small:.2f}x")
        if args.signatures:
            ms, matched = time_retroactive(args.signatures)
            print(
                f"Adding a watched name to {args.signatures:,} signatures: {ms:.0f} ms "
                f"({matched} already-made signatures matched and held or listed to recheck)"
            )
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(DATABASE)


if __name__ == "__main__":
    main()
