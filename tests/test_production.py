"""The production set-up for real: two gunicorn app servers behind haproxy, on the machine's
PostgreSQL (a database of this test's own) and Redis as the shared cache."""

import json
import os
import re
import shutil
import socket
import time
import urllib.request

import pytest

from tests.servers import (
    HAPROXY,
    Browserless,
    app_env,
    haproxy,
    manage,
    start_gunicorn,
    start_worker,
    stop,
)
from tests.utils import free_port, link_in, start_smtp, wait_for

POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = ("127.0.0.1", 6379)
HARD_LIMIT = 6


def reachable(address) -> bool:
    try:
        socket.create_connection(address, timeout=1).close()
        return True
    except OSError:
        return False


pytestmark = [
    pytest.mark.skipif(
        not shutil.which("haproxy") and not os.path.exists(HAPROXY), reason="haproxy is not installed"
    ),
    pytest.mark.skipif(not reachable(("127.0.0.1", 5432)), reason="no PostgreSQL on 127.0.0.1:5432"),
    pytest.mark.skipif(not reachable(REDIS), reason="no Redis on 127.0.0.1:6379"),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    import psycopg
    import redis

    name = f"ccai_two_servers_{os.getpid()}"
    prefix = f"ccai-two-servers-{os.getpid()}"
    with psycopg.connect(POSTGRES, autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {name}")
        db.execute(f"CREATE DATABASE {name}")
    smtp_port = free_port()
    controller, inbox = start_smtp(smtp_port)
    env = app_env(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{name}",
        CACHE_URL="redis://127.0.0.1:6379/0",
        CACHE_KEY_PREFIX=prefix,
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
        TRUSTED_PROXY_COUNT=1,
        COUNT_MAX_AGE_SECONDS=2,
        RATELIMIT_SIGN_IP_SOFT="2/h",
        RATELIMIT_SIGN_IP_HARD=f"{HARD_LIMIT}/h",
    )
    processes = []
    try:
        manage(env, "migrate", "--noinput")
        ports = [free_port(), free_port()]
        for port in ports:
            processes.append(start_gunicorn(env, port, workers=2))
        processes.append(start_worker(env))
        with haproxy(ports, tmp_path_factory.mktemp("haproxy")) as port:
            yield {
                "url": f"http://127.0.0.1:{port}",
                "app_ports": ports,
                "inbox": inbox,
                "database": env["DATABASE_URL"].replace("postgres://", "postgresql://"),
            }
    finally:
        for process in processes:
            stop(process)
        controller.stop()
        with psycopg.connect(POSTGRES, autocommit=True) as db:
            db.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        client = redis.Redis(*REDIS)
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)


def test_requests_are_spread_over_both_app_servers(cluster):
    browser = Browserless(cluster["url"])
    served_by = {browser.request("/healthz")[1]["X-Served-By"] for _ in range(10)}
    assert served_by == {"app1", "app2"}


def test_sign_through_one_server_confirm_through_the_other_and_both_count_it(cluster, valid_form_data):
    browser = Browserless(cluster["url"])
    # The form comes from one server and is posted to the other (round robin): CSRF holds across them.
    assert browser.post_form("/sign/", {**valid_form_data, "email": "two-servers@example.com"}) == 302

    deadline = time.monotonic() + 30
    while not cluster["inbox"].to("two-servers@example.com") and time.monotonic() < deadline:
        time.sleep(0.1)
    verify = link_in(cluster["inbox"].to("two-servers@example.com")[0], "verify")
    path = "/" + verify.split("/", 3)[3]
    assert browser.post_form(path, {}, token_from=path) == 200

    # Both servers read one snapshot from the shared cache, refreshed within COUNT_MAX_AGE_SECONDS.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answers = [
            json.loads(Browserless(f"http://127.0.0.1:{port}").request("/api/count/")[2])
            for port in cluster["app_ports"]
        ]
        if all(answer["count"] == 1 for answer in answers):
            break
        time.sleep(0.2)
    assert [answer["count"] for answer in answers] == [1, 1]
    assert answers[0]["as_of"] == answers[1]["as_of"]


def test_static_files_are_served_compressed_with_hashed_names(cluster):
    browser = Browserless(cluster["url"])
    html = browser.request("/")[2]
    stylesheet = re.search(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"', html).group(1)
    request = urllib.request.Request(cluster["url"] + stylesheet, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Encoding"] == "gzip"
        assert "immutable" in response.headers["Cache-Control"]


def test_health_check_answers_through_the_load_balancer(cluster):
    status, _, body = Browserless(cluster["url"]).request("/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})


def test_rate_limits_hold_across_both_servers_and_a_forged_forwarded_for(cluster, valid_form_data):
    import psycopg

    browser = Browserless(cluster["url"])
    served_by, statuses = set(), []
    token = browser.csrf_token()  # one page, then only POSTs: round robin alternates them
    for number in range(HARD_LIMIT + 2):
        status, headers, _ = browser.request(
            "/sign/", {**valid_form_data, "email": f"limit{number}@example.com", "csrfmiddlewaretoken": token}
        )
        statuses.append(status)
        served_by.add(headers["X-Served-By"])
    assert served_by == {"app1", "app2"}
    accepted = statuses.count(302)
    assert statuses == [302] * accepted + [429] * (len(statuses) - accepted)

    # A client that claims another address in X-Forwarded-For is still the same client.
    forger = Browserless(cluster["url"], client_ip="203.0.113.77")
    assert forger.post_form("/sign/", {**valid_form_data, "email": "forged@example.com"}) == 429

    with psycopg.connect(cluster["database"], autocommit=True) as db:
        # The servers stored the forms; the worker signs them.
        waiting = "SELECT count(*) FROM pledges_submission"
        wait_for(lambda: db.execute(waiting).fetchone()[0] == 0, what="the worker to sign them")
        stored = db.execute("SELECT count(*) FROM pledges_signature").fetchone()[0]
        held = db.execute(
            "SELECT count(*) FROM pledges_signature WHERE 'ip_soft_limit' = ANY(flags)"
        ).fetchone()[0]
    # Every signature this module made, whichever server took it, counted against one limit.
    assert stored == HARD_LIMIT
    assert held == HARD_LIMIT - 2  # past the soft limit: taken, but held for review
