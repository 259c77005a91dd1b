"""Faults under real processes: the email worker killed mid-batch, SMTP down while people sign,
PostgreSQL restarted under the running app and worker."""

import asyncio
import signal
import time
from collections import Counter

import pytest
from django.db import connection
from django.test import Client

from pledges.models import OutgoingEmail
from tests.servers import (
    Browserless,
    app_env,
    database_url,
    manage,
    start_gunicorn,
    start_worker,
)
from tests.utils import free_port, start_smtp, wait_for

transactional = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def worker_env(smtp_port: int, **overrides) -> dict:
    return app_env(
        DATABASE_URL=database_url(connection.settings_dict),
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
        EMAIL_RETRY_BASE_SECONDS=1,
        # A killed worker's claimed messages go out again after this: seconds here, not minutes.
        EMAIL_CLAIM_SECONDS=2,
        **overrides,
    )


@transactional
def test_worker_killed_mid_batch_still_delivers_every_email_at_least_once(started):
    port = free_port()
    controller, inbox = start_smtp(port)
    original = inbox.handle_DATA

    async def slow_data(server, session, envelope):
        await asyncio.sleep(0.05)  # a slow mail server, so that the kill lands mid-batch
        return await original(server, session, envelope)

    inbox.handle_DATA = slow_data
    addresses = [f"kill{i}@example.com" for i in range(40)]
    for address in addresses:
        OutgoingEmail.objects.create(to=address, kind="confirmation", subject="s", body_text="b")
    try:
        worker = started(start_worker(worker_env(port)))
        wait_for(lambda: len(inbox.messages) >= 10, what="10 messages before the kill")
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        delivered_before_kill = len(inbox.messages)
        assert delivered_before_kill < len(addresses)  # the kill really was mid-batch

        started(start_worker(worker_env(port)))
        wait_for(lambda: {m["To"] for m in inbox.messages} == set(addresses), what="every message")
    finally:
        controller.stop()
    copies = Counter(m["To"] for m in inbox.messages)
    assert set(copies) == set(addresses)
    # At least once: only the message in flight when the worker died may arrive twice.
    assert sum(copies.values()) - len(addresses) <= 1
    assert not OutgoingEmail.objects.filter(sent_at__isnull=True).exists()


@transactional
def test_smtp_down_while_people_sign_loses_nothing(started, valid_form_data):
    port = free_port()  # nothing listens here yet: the mail server is down
    started(start_worker(worker_env(port)))
    client = Client()
    addresses = [f"outage{i}@example.com" for i in range(20)]
    for address in addresses:
        assert client.post("/sign/", {**valid_form_data, "email": address}).status_code == 302
    wait_for(lambda: OutgoingEmail.objects.filter(attempts__gt=0).exists(), what="a failed attempt")
    assert not OutgoingEmail.objects.filter(sent_at__isnull=False).exists()

    controller, inbox = start_smtp(port)  # the mail server comes back
    try:
        wait_for(lambda: len(inbox.messages) >= len(addresses), what="every confirmation email")
        time.sleep(0.5)  # a duplicate would have arrived by now
    finally:
        controller.stop()
    assert sorted(m["To"] for m in inbox.messages) == sorted(addresses)
    assert OutgoingEmail.objects.filter(sent_at__isnull=False, failed_at__isnull=True).count() == 20


@pytest.fixture
def own_postgres(tmp_path):
    """A PostgreSQL server of this test's own (pgserver), so that restarting it touches nothing else."""
    from ccai.embedded_postgres import _pgserver

    pgserver = _pgserver()
    server = pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    yield server
    server.cleanup()


def pg_ctl(server, *args: str) -> None:
    from pgserver._commands import pg_ctl as run_pg_ctl

    run_pg_ctl(["-w", "-m", "fast", *args], pgdata=server.pgdata, user=server.system_user, timeout=30)


def test_postgres_restart_under_the_running_app_and_worker(started, own_postgres, valid_form_data):
    smtp_port, web_port = free_port(), free_port()
    env = app_env(
        DATABASE_URL=own_postgres.get_uri(),
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
        SITE_URL=f"http://127.0.0.1:{web_port}",
        EMAIL_RETRY_BASE_SECONDS=1,
    )
    manage(env, "migrate", "--noinput")
    manage(env, "createcachetable")
    controller, inbox = start_smtp(smtp_port)
    started(start_gunicorn(env, web_port, workers=1))
    started(start_worker(env))
    browser = Browserless(f"http://127.0.0.1:{web_port}")
    try:
        assert browser.post_form("/sign/", {**valid_form_data, "email": "before@example.com"}) == 302
        wait_for(lambda: len(inbox.messages) == 1, what="the first email")

        pg_ctl(own_postgres, "stop")
        status, _, body = browser.request("/healthz")
        assert (status, '"status": "unavailable"' in body) == (503, True)
        own_postgres.ensure_postgres_running()

        # No restart of the app or the worker: the very next request works.
        assert browser.request("/healthz")[0] == 200
        assert browser.post_form("/sign/", {**valid_form_data, "email": "after@example.com"}) == 302
        pg_ctl(own_postgres, "stop")  # and again, now with the app's connections freshly made
        own_postgres.ensure_postgres_running()
        assert browser.post_form("/sign/", {**valid_form_data, "email": "after-restart@example.com"}) == 302
        expected = {"before@example.com", "after@example.com", "after-restart@example.com"}
        wait_for(
            lambda: {m["To"] for m in inbox.messages} == expected, what="the emails signed after the restarts"
        )
    finally:
        controller.stop()
    # Delivery is at least once: a restart that lands between the server's "250 OK" and the commit
    # that marks the message sent (on a loaded machine, the first message's) sends it again.
    recipients = sorted(m["To"] for m in inbox.messages)
    assert set(recipients) == expected and len(recipients) <= len(expected) + 1, recipients
