"""The live figures: at most COUNT_MAX_AGE_SECONDS old, computed by one process at a time, and
served without touching the signatures once computed."""

import threading
import time

import pytest
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from pledges import snapshots
from pledges.figures import count_snapshot, live_figures
from pledges.models import Signature
from pledges.signing import sign
from tests.utils import at_once, make_signature

pytestmark = pytest.mark.django_db

S = Signature.Status


@pytest.fixture
def clock(monkeypatch):
    """A clock that tests move on by hand."""

    class Clock:
        now = time.time()

        def advance(self, seconds: float) -> None:
            self.now += seconds

    fake = Clock()
    monkeypatch.setattr(snapshots, "clock", lambda: fake.now)
    return fake


@pytest.fixture
def computations(monkeypatch):
    """Counts how often the figures are computed from the signatures."""
    calls = []
    compute = live_figures.compute

    def counting_compute():
        calls.append(threading.get_ident())
        return compute()

    monkeypatch.setattr(live_figures, "compute", counting_compute)
    return calls


def test_the_count_is_at_most_a_minute_old(clock, settings):
    assert settings.COUNT_MAX_AGE_SECONDS == 60
    make_signature(status=S.CONFIRMED)
    assert count_snapshot()["count"] == 1
    make_signature(status=S.CONFIRMED)
    clock.advance(49)
    assert count_snapshot()["count"] == 1  # served from the cache
    clock.advance(1)
    assert count_snapshot()["count"] == 2  # due: recounted before it could be a minute old
    for _ in range(130):
        clock.advance(1)
        assert live_figures.get().age() < 60


def test_every_process_sees_the_refresh_through_the_shared_cache(clock, computations):
    make_signature(status=S.CONFIRMED)
    assert count_snapshot()["count"] == 1
    snapshots.SharedSnapshot.forget_all_local()  # as if another worker process
    make_signature(status=S.CONFIRMED)
    assert count_snapshot()["count"] == 1
    assert len(computations) == 1


def test_a_fresh_count_costs_no_query_in_this_process_and_one_cache_read_in_another(
    django_assert_num_queries,
):
    make_signature(status=S.CONFIRMED)
    count_snapshot()
    with django_assert_num_queries(0):
        count_snapshot()
    snapshots.SharedSnapshot.forget_all_local()
    with CaptureQueriesContext(connection) as queries:
        assert count_snapshot()["count"] == 1
    assert len(queries) == 1 and "pledges_signature" not in queries[0]["sql"]


def test_stale_figures_are_served_while_another_process_refreshes(clock, computations):
    make_signature(status=S.CONFIRMED)
    count_snapshot()
    make_signature(status=S.CONFIRMED)
    clock.advance(55)
    snapshots.SharedSnapshot.forget_all_local()
    assert cache.add(live_figures.lock_key, True, 10)  # another process is refreshing
    with CaptureQueriesContext(connection) as queries:
        assert count_snapshot()["count"] == 1
    assert not any("pledges_signature" in query["sql"] for query in queries)
    cache.delete(live_figures.lock_key)
    assert count_snapshot()["count"] == 2
    assert len(computations) == 2


def test_previous_figures_are_served_when_the_refresh_fails(clock, monkeypatch):
    make_signature(status=S.CONFIRMED)
    count_snapshot()
    clock.advance(55)
    snapshots.SharedSnapshot.forget_all_local()

    def failing_compute():
        raise DatabaseError("the database is struggling")

    monkeypatch.setattr(live_figures, "compute", failing_compute)
    assert count_snapshot()["count"] == 1
    assert cache.add(live_figures.lock_key, True, 10)  # the lock was released for the next try


def test_no_caching_when_the_bound_is_zero(settings):
    settings.COUNT_MAX_AGE_SECONDS = 0
    assert count_snapshot()["count"] == 0
    make_signature(status=S.CONFIRMED)
    assert count_snapshot()["count"] == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("cache_state", ["cold", "stale"])
def test_a_burst_of_readers_computes_the_figures_once(cache_state, clock, computations, monkeypatch):
    make_signature(status=S.CONFIRMED)
    if cache_state == "stale":
        count_snapshot()
        clock.advance(55)
    computations.clear()
    compute = live_figures.compute

    def slow_compute():
        time.sleep(0.5)  # long enough for every reader to arrive while it runs
        return compute()

    monkeypatch.setattr(live_figures, "compute", slow_compute)
    readers = 12
    snapshots.SharedSnapshot.forget_all_local()
    results = at_once(lambda _: count_snapshot()["count"], range(readers))
    assert results == [1] * readers
    assert len(computations) == 1


def test_signing_and_confirming_never_update_a_counter():
    writer = make_signature().profession
    count_snapshot()
    with CaptureQueriesContext(connection) as queries:
        sign(full_name="Ada Lovelace", email="ada@example.com", profession=writer, guilds=[])
        Signature.objects.get(email="ada@example.com").confirm()
    updates = [query["sql"] for query in queries if query["sql"].startswith("UPDATE")]
    # The one UPDATE is the signature's own row; no shared counter row or cache entry is touched.
    assert len(updates) == 1 and updates[0].startswith('UPDATE "pledges_signature" SET')
    assert not any("ccai_cache" in query["sql"] for query in queries)
