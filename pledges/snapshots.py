"""Figures that every visitor reads but that cost a scan of the signatures to compute (the count,
its breakdowns, its history). They live in the shared cache, and one process at a time
recomputes them, at most once per refresh interval, while every other reader keeps serving the
previous figures: a burst of readers never turns into a burst of COUNT(*) queries.

Each process also keeps the last snapshot it read in memory, so that serving the count costs no
cache round trip either. Freshness is always judged by when a snapshot was computed, never by when
a layer stored it, so no layer makes the figures older than COUNT_MAX_AGE_SECONDS."""

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError

logger = logging.getLogger(__name__)

# Replaced in tests to move time on.
clock = time.time
# Part of every cache key; tests give each test its own, as the shared cache outlives a test.
KEY_PREFIX = "pledges:snapshot"
# A snapshot stays in the shared cache long after it is due for a refresh, so that readers always
# have something to serve while one process computes the next one.
KEEP_SECONDS = 24 * 60 * 60
# How often a reader that finds no snapshot at all (a cold cache) looks whether the process that
# holds the refresh lock has stored one.
COLD_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Snapshot:
    data: Any
    computed_at: float  # epoch seconds, taken before the first query

    def age(self) -> float:
        return clock() - self.computed_at


def max_age() -> float:
    return settings.COUNT_MAX_AGE_SECONDS


def refresh_margin() -> float:
    """A refresh starts this long before a snapshot reaches COUNT_MAX_AGE_SECONDS, so that the
    readers who serve the old snapshot meanwhile never serve one older than that."""
    return max_age() / 6


def refresh_after() -> float:
    return max_age() - refresh_margin()


class SharedSnapshot:
    _all: list["SharedSnapshot"] = []

    def __init__(self, name: str, compute: Callable[[], Any]):
        self.name = name
        self.compute = compute
        self._local: Snapshot | None = None
        SharedSnapshot._all.append(self)

    @property
    def key(self) -> str:
        return f"{KEY_PREFIX}:{self.name}"

    @property
    def lock_key(self) -> str:
        return f"{KEY_PREFIX}:{self.name}:refreshing"

    def get(self) -> Snapshot:
        local = self._local
        if local is not None and local.age() < refresh_after():
            return local
        shared = cache.get(self.key)
        if shared is not None and shared.age() < refresh_after():
            self._local = shared
            return shared
        # cache.add() is atomic in every shared backend (Redis SET NX; a primary key in the
        # database cache), so exactly one process wins the right to refresh. The lock expires by
        # itself, so a process that dies while refreshing blocks the others for the margin at most.
        if cache.add(self.lock_key, True, timeout=max(1, math.ceil(refresh_margin()))):
            try:
                return self.refresh()
            except DatabaseError:
                # Slightly old figures beat an error page while the database struggles.
                if shared is None:
                    raise
                logger.exception("Could not refresh %s; serving the previous figures", self.name)
                return shared
            finally:
                cache.delete(self.lock_key)
        if shared is not None:
            return shared
        return self._wait_for_first()

    def refresh(self) -> Snapshot:
        computed_at = clock()
        snapshot = Snapshot(data=self.compute(), computed_at=computed_at)
        cache.set(self.key, snapshot, KEEP_SECONDS)
        self._local = snapshot
        return snapshot

    def _wait_for_first(self) -> Snapshot:
        """A cold cache and another process already computing: wait for its result rather than
        run the same queries alongside it, unless it takes longer than the lock lasts."""
        deadline = time.monotonic() + max(1, refresh_margin())
        while time.monotonic() < deadline:
            time.sleep(COLD_POLL_SECONDS)
            shared = cache.get(self.key)
            if shared is not None:
                self._local = shared
                return shared
        return self.refresh()

    def forget_local(self) -> None:
        self._local = None

    @classmethod
    def forget_all_local(cls) -> None:
        for snapshot in cls._all:
            snapshot.forget_local()


def http_cache_control(snapshot: Snapshot) -> str:
    """Cache-Control for a response built from the snapshot: a browser or CDN may keep it until
    the snapshot is due for a refresh, then serve it while it revalidates for the margin; so even
    a copy of a copy is never older than COUNT_MAX_AGE_SECONDS."""
    fresh_for = max(0, math.floor(refresh_after() - snapshot.age()))
    return f"public, max-age={fresh_for}, stale-while-revalidate={math.floor(refresh_margin())}"
