"""Fake signatures for demos, benchmarks and scale tests: a million in a minute or two.

Rows are made by PostgreSQL itself (INSERT … SELECT over generate_series), a chunk per
statement; the ORM, a row at a time, would take an hour."""

import secrets

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from tqdm import tqdm

from pledges.lib import watchlist
from pledges.models import LetterVersion, Profession

FIRST_NAMES = [
    "Ada", "Alex", "Amara", "Ana", "André", "Aoife", "Ben", "Björn", "Camille", "Carlos", "Chloé", "Dana",
    "David", "Elena", "Émile", "Fatima", "François", "Grace", "Hana", "Ines", "Isaac", "Jamal", "Jordan",
    "José", "Julia", "Kai", "Keanu", "Lara", "Lena", "Łukasz", "Maria", "Mateo", "Maya", "Mei", "Nadia",
    "Nicolás", "Noah", "Olga", "Omar", "Priya", "Rafael", "Renée", "Rosa", "Sam", "Sara", "Siobhán",
    "Søren", "Taylor", "Tomás", "Valentina", "Yuki", "Zoë",
]  # fmt: skip
LAST_NAMES = [
    "Abbott", "Adeyemi", "Álvarez", "Bauer", "Becker", "Brown", "Chen", "Costa", "Dubois", "Dupré",
    "Fernández", "Fischer", "García", "Gómez", "Hansen", "Hernández", "Ito", "Jackson", "Jones", "Kim",
    "Kowalski", "Larsen", "Lee", "López", "Martin", "Meyer", "Müller", "Murphy", "Nakamura", "Nguyen",
    "Novak", "O'Brien", "Okafor", "Olsen", "Patel", "Pérez", "Ramírez", "Rossi", "Schmidt", "Silva",
    "Singh", "Smith", "Sørensen", "Suárez", "Tanaka", "Taylor", "Thompson", "Wang", "Williams", "Żak",
]  # fmt: skip
CREDITS = [
    "Stunt coordinator, feature films", "Staff writer, network drama", "Showrunner", "Cinematographer",
    "Voice actor", "Podcast host", "Newsletter editor", "Composer", "Storyboard artist", "VFX supervisor",
    "Gaffer", "Sound designer", "Documentary director", "Tech lead, post-production studio",
]  # fmt: skip
# Guild slug → share of signatures that name it.
GUILD_SHARES = {"sag-aftra": 0.28, "wga": 0.12, "dga": 0.05, "pga": 0.04, "iatse": 0.1, "other": 0.05}

# Statuses by share: r is one random number per row.
INSERT_CHUNK = """
WITH drawn AS (
    SELECT n, random() AS r, random() AS r2,
           1 + floor(random() * %(first_count)s)::int AS fi, 1 + floor(random() * %(last_count)s)::int AS li,
           now() - random() * interval '60 days' AS created_at
    FROM generate_series(%(start)s, %(stop)s) AS n
), statuses AS (
    SELECT n, r2, fi, li, created_at,
           CASE WHEN r < 0.10 THEN 'pending' WHEN r < 0.25 THEN 'confirmed' WHEN r < 0.90 THEN 'approved'
                WHEN r < 0.95 THEN 'rejected' ELSE 'withdrawn' END AS status
    FROM drawn
), shaped AS (
    SELECT statuses.*,
           CASE WHEN status IN ('pending', 'confirmed', 'approved', 'rejected') AND r2 BETWEEN 0.30 AND 0.33
                THEN (ARRAY['watchlist', 'ip_burst', 'domain_burst', 'machine_name', 'ip_soft_limit'])
                     [1 + floor(random() * 5)::int] END AS flag,
           -- A verified few; the featured ones among them (only a verified signature is featured).
           status = 'approved' AND r2 > 0.99 AS verified,
           (%(first_keys)s::text[])[fi] AS fk, (%(last_keys)s::text[])[li] AS lk
    FROM statuses
), new AS (
    INSERT INTO pledges_signature (
        code, full_name, email, mailbox, profession_id, credit, country, show_publicly, updates_opt_in,
        featured, status, flags, name_keys, namesake, watchlist_recheck, verified_at, verification_method,
        verification_note, letter_version_id, ip_hash, created_at, confirmed_at, moderated_at,
        withdrawn_at
    )
    SELECT
        gen_random_uuid(),
        CASE WHEN status = 'withdrawn' THEN ''
             ELSE (%(first)s::text[])[fi] || ' ' || (%(last)s::text[])[li] END,
        CASE WHEN status = 'withdrawn' THEN NULL ELSE 'seed-' || %(run)s || '-' || n || '@example.org' END,
        CASE WHEN status = 'withdrawn' THEN NULL ELSE 'seed-' || %(run)s || '-' || n || '@example.org' END,
        (%(professions)s::bigint[])[1 + floor(random() * %(profession_count)s)::int],
        CASE WHEN status <> 'withdrawn' AND (r2 < 0.3 OR r2 > 0.995)
             THEN (%(credits)s::text[])[1 + floor(random() * %(credit_count)s)::int] ELSE '' END,
        CASE WHEN status <> 'withdrawn' AND random() < 0.7
             THEN (ARRAY['US', 'US', 'US', 'GB', 'CA', 'AU', 'FR', 'DE', 'ES', 'MX', 'NG', 'IN', 'JP', 'KR',
                         'BR'])[1 + floor(random() * 15)::int] ELSE '' END,
        status <> 'withdrawn' AND random() < 0.85,
        status <> 'withdrawn' AND random() < 0.3,
        verified AND r2 > 0.995,
        status,
        CASE WHEN flag IS NULL THEN '{}' ELSE ARRAY[flag] END::varchar(20)[],
        -- watchlist.match_keys() of "First Last": the words in order (C collation is Python's), joined.
        CASE WHEN status = 'withdrawn' THEN '{}'
             ELSE ARRAY[LEAST(fk COLLATE "C", lk) || ' ' || GREATEST(fk COLLATE "C", lk), fk || lk] END
             ::varchar(310)[],
        -- An approved watchlist match was approved as a namesake: the only way it can be.
        status = 'approved' AND flag IS NOT DISTINCT FROM 'watchlist' AND NOT verified,
        false,
        CASE WHEN verified THEN created_at + interval '2 days' END,
        CASE WHEN verified THEN 'other' ELSE '' END,
        CASE WHEN verified THEN 'Seeded' ELSE '' END,
        %(letter_version)s,
        CASE WHEN status = 'withdrawn' THEN '' ELSE md5(random()::text) || md5(random()::text) END,
        created_at,
        CASE WHEN status = 'pending' THEN NULL ELSE created_at + random() * interval '2 hours' END,
        CASE WHEN status IN ('approved', 'rejected') THEN created_at + interval '1 day' END,
        CASE WHEN status = 'withdrawn' THEN created_at + interval '3 days' END
    FROM shaped
    RETURNING id, status
)
INSERT INTO pledges_signature_guilds (signature_id, guild_id)
SELECT new.id, guild.id
FROM new CROSS JOIN LATERAL (
    -- One draw per signature and guild: the reference to new.id keeps PostgreSQL from drawing
    -- once per guild for the whole chunk.
    SELECT id, share, random() + 0 * new.id AS draw
    FROM unnest(%(guild_ids)s::bigint[], %(guild_shares)s::float8[]) AS guild(id, share)
) AS guild
WHERE new.status <> 'withdrawn' AND guild.draw < guild.share
"""


class Command(BaseCommand):
    help = "Add N realistic fake signatures in every state (pending to withdrawn, flagged, featured)."

    def add_arguments(self, parser):
        parser.add_argument("count", type=int)
        parser.add_argument("--chunk-size", type=int, default=20_000)

    def handle(self, *args, count, chunk_size, **options):
        if count < 1:
            raise CommandError("N must be at least 1.")
        letter = LetterVersion.objects.current()
        professions = list(Profession.objects.values_list("pk", flat=True))
        if letter is None or not professions:
            raise CommandError("No letter or professions yet: run migrate first.")
        guild_ids, guild_shares = [], []
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, slug FROM pledges_guild")
            for guild_id, slug in cursor.fetchall():
                guild_ids.append(guild_id)
                guild_shares.append(GUILD_SHARES.get(slug, 0.02))
        params = {
            "run": secrets.token_hex(4),
            "first": FIRST_NAMES,
            "last": LAST_NAMES,
            "first_count": len(FIRST_NAMES),
            "last_count": len(LAST_NAMES),
            "first_keys": [" ".join(watchlist.identifying_words(name)) for name in FIRST_NAMES],
            "last_keys": [" ".join(watchlist.identifying_words(name)) for name in LAST_NAMES],
            "credits": CREDITS,
            "credit_count": len(CREDITS),
            "professions": professions,
            "profession_count": len(professions),
            "letter_version": letter.pk,
            "guild_ids": guild_ids,
            "guild_shares": guild_shares,
        }
        with tqdm(total=count, unit="signature", unit_scale=True, file=self.stderr) as progress:
            for start in range(1, count + 1, chunk_size):
                stop = min(start + chunk_size - 1, count)
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(INSERT_CHUNK, {**params, "start": start, "stop": stop})
                progress.update(stop - start + 1)
        with connection.cursor() as cursor:
            # What autovacuum would do in a while: fresh statistics for the planner, and the
            # visibility map that lets index-only scans skip the table.
            # (VACUUM cannot run inside a transaction, as in the tests; ANALYZE can.)
            command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
            cursor.execute(f"{command} pledges_signature")
            cursor.execute(f"{command} pledges_signature_guilds")
        self.stdout.write(f"Added {count} signatures.")
