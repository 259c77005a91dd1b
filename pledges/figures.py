"""The public figures: the count, its breakdowns and the daily history, computed together at one
moment and shared between processes through a SharedSnapshot (see snapshots.py)."""

import json
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from pledges.models import Signature
from pledges.snapshots import SharedSnapshot, Snapshot


def compute_count_snapshot() -> dict:
    counted = Signature.objects.counted()
    by_guild = (
        counted.filter(guilds__isnull=False)
        .values("guilds__slug", "guilds__name")
        .annotate(count=Count("pk"))
        .order_by("-count", "guilds__name")
    )
    by_profession = (
        counted.values("profession__slug", "profession__name")
        .annotate(count=Count("pk"))
        .order_by("-count", "profession__name")
    )
    return {
        "count": counted.count(),
        "published": Signature.objects.published().count(),
        "verified": counted.verified().count(),
        "awaiting_review": Signature.objects.awaiting_review().count(),
        "held": Signature.objects.held().count(),
        "by_guild": [
            {"slug": row["guilds__slug"], "name": row["guilds__name"], "count": row["count"]}
            for row in by_guild
        ],
        "by_profession": [
            {"slug": row["profession__slug"], "name": row["profession__name"], "count": row["count"]}
            for row in by_profession
        ],
        "as_of": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def compute_history(today=None) -> list[dict]:
    """Signatures per day, from the first confirmation to today, days without any included.
    It is today's view of the past: a signature withdrawn or rejected later leaves the day it was
    confirmed, so that the last running total is always the count."""
    new_by_day = {row["day"]: row["new"] for row in Signature.objects.counted().new_per_day()}
    if not new_by_day:
        return []
    day, last = min(new_by_day), max(max(new_by_day), today or timezone.localdate())
    history, total = [], 0
    while day <= last:
        total += new_by_day.get(day, 0)
        history.append({"date": day.isoformat(), "new": new_by_day.get(day, 0), "total": total})
        day += timedelta(days=1)
    return history


def compute_live_figures() -> dict:
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            # Every query reads the same moment, so that the breakdowns and the history add up
            # to the count even while people sign.
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        figures = {"count": compute_count_snapshot(), "history": compute_history()}
    # Encoded once per refresh, not once per request: the JSON API is the hottest path.
    figures["count_json"] = json.dumps(figures["count"]).encode()
    figures["history_json"] = json.dumps(figures["history"]).encode()
    return figures


live_figures = SharedSnapshot("figures", compute_live_figures)


def live_figures_snapshot() -> Snapshot:
    """The count, breakdowns and history, at most COUNT_MAX_AGE_SECONDS old (see snapshots.py)."""
    return live_figures.get()


def count_snapshot() -> dict:
    """The live count and its breakdowns, as /api/count/ serves them."""
    return live_figures.get().data["count"]
