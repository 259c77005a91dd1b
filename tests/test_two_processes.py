"""The limits hold across processes: two real server processes (runserver, each its own Python)
share the test database and one cache, and the requests alternate between them. Run once with
the default PostgreSQL cache and once with Redis (skipped when no Redis answers on 6379).

The servers trust one proxy (TRUSTED_PROXY_COUNT=1): the test plays that proxy by appending the
client's address to X-Forwarded-For, and plays a forger by putting other addresses before it."""

import os
import random
import secrets
import socket
from pathlib import Path

import pytest
from django.conf import settings

from pledges.models import OutgoingEmail, Signature, Submission
from pledges.signing import process_submissions
from tests.servers import start_worker
from tests.utils import Server, database_url, make_signature

ROOT = Path(__file__).resolve().parent.parent
LIMITS = {
    "RATELIMIT_SIGN_IP_SOFT": "2/h",
    "RATELIMIT_SIGN_IP_HARD": "4/h",
    "RATELIMIT_VERIFY_IP": "3/h",
    "RATELIMIT_WITHDRAW_IP": "3/h",
    "RATELIMIT_ADMIN_LOGIN_IP": "3/h",
    "ADMIN_LOGIN_FAILURE_LIMIT": "2",
    "EMAILS_PER_ADDRESS_PER_DAY": "2",
}
ADMIN_URL = "staff-entrance/"


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="module", params=["dbcache", "redis"])
def servers(request, django_db_setup):
    if request.param == "redis" and not redis_answers():
        pytest.skip("no Redis on 127.0.0.1:6379")
    cache_url = "dbcache://ccai_cache" if request.param == "dbcache" else "redis://127.0.0.1:6379/0"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RATELIMIT_", "DJANGO_"))},
        **LIMITS,
        "DJANGO_SETTINGS_MODULE": "ccai.settings",
        "DEBUG": "false",
        "SECRET_KEY": settings.SECRET_KEY,  # the test signs links the servers must accept
        "IP_HASH_KEY": settings.IP_HASH_KEY,
        "DATABASE_URL": database_url(),
        "CONN_MAX_AGE": "0",  # so that the test database can be dropped at the end
        "CACHE_URL": cache_url,
        "ALLOWED_HOSTS": "127.0.0.1",
        "TRUSTED_PROXY_COUNT": "1",
        "ADMIN_URL": ADMIN_URL,
        "EMAIL_DOMAIN_CHECK": "false",  # no DNS here
        "BURST_IP_PER_HOUR": "1000",
        "BURST_DOMAIN_PER_HOUR": "1000",
    }
    pair = [Server(env), Server(env)]
    try:
        for server in pair:
            server.wait_until_up()
        yield pair
    finally:
        for server in pair:
            server.stop()


def a_client() -> str:
    """A fresh client address for each test, so that Redis counts from other runs never meet."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def form(email: str) -> dict:
    return {
        "full_name": "Rosa Parks",
        "email": email,
        "profession": "writer",
        "guilds": ["wga"],
        "show_publicly": "on",
    }


pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_sign_limits_hold_across_processes_and_a_forged_x_forwarded_for_does_not_escape(servers):
    a, b = servers
    client = a_client()
    statuses = []
    for number in range(7):
        server = (a, b)[number % 2]
        # What a forger sends, then what the trusted proxy appends: the address it saw.
        forwarded = f"{a_client()}, 203.0.113.{number}, {client}"
        statuses.append(server.request("POST", "/sign/", form(f"flood{number}@example.org"), forwarded)[0])
    assert statuses == [302, 302, 302, 302, 429, 429, 429]
    status, _, html = b.request("POST", "/sign/", form("late@example.org"), client)
    assert status == 429 and "Too many attempts" in html
    process_submissions()
    flagged = [Signature.Flag.IP_SOFT_LIMIT in s.flags for s in Signature.objects.order_by("pk")]
    assert flagged == [False, False, True, True]  # past the soft limit: taken, but held for review
    assert a.request("POST", "/sign/", form("neighbour@example.org"), a_client())[0] == 302


def test_the_per_address_email_limit_holds_across_processes(servers):
    a, b = servers
    statuses = [
        (a, b)[n % 2].request("POST", "/sign/", form("target@example.org"), a_client())[0] for n in range(5)
    ]
    assert statuses == [302] * 5
    # The limit is decided where the email is queued: by the workers, here two processes at once.
    worker_env = {**a.env, "EMAIL_URL": "dummymail://"}
    workers = [start_worker(worker_env, "--once") for _ in range(2)]
    for worker in workers:
        assert worker.wait(timeout=60) == 0
    assert not Submission.objects.exists()
    assert OutgoingEmail.objects.filter(to="target@example.org").count() == 2


@pytest.mark.parametrize("purpose", ["verify", "withdraw"])
def test_link_limits_hold_across_processes(servers, purpose):
    a, b = servers
    client = a_client()
    signature = make_signature()
    url = f"/{purpose}/{signature.make_token(purpose)}/"
    guesses = [(a, b)[n % 2].request("POST", f"/{purpose}/guess{n}/", {}, client)[0] for n in range(3)]
    assert guesses == [400, 400, 400]
    assert a.request("POST", url, {}, client)[0] == 429
    assert b.request("POST", url, {}, f"6.6.6.6, {client}")[0] == 429
    signature.refresh_from_db()
    assert signature.status == Signature.Status.PENDING
    assert b.request("POST", url, {}, a_client())[0] == 200


def test_admin_login_limits_hold_across_processes_at_a_custom_admin_url(servers, production_password_hashers):
    a, b = servers
    assert a.request("GET", "/admin/login/")[0] == 404
    status, headers, html = b.request("GET", f"/{ADMIN_URL}login/")
    assert (
        status == 200
        and 'name="username"' in html
        and "script-src 'self'" in headers["Content-Security-Policy"]
    )
    client = a_client()
    username = f"staff-{secrets.token_hex(4)}"
    # The per-address limit counts every POST (other usernames each time, so no lockout plays).
    attempts = [
        (a, b)[n % 2].request(
            "POST", f"/{ADMIN_URL}login/", {"username": f"{username}-{n}", "password": "x"}, client
        )[0]
        for n in range(4)
    ]
    assert attempts == [200, 200, 200, 429]
    # Failed passwords count per username and address in the database: a failure on one server
    # and one on the other lock this account for this address (ADMIN_LOGIN_FAILURE_LIMIT=2) ...
    from django.contrib.auth.models import User

    password = secrets.token_urlsafe(16)
    User.objects.create_superuser(username, f"{username}@example.org", password)
    guesser = a_client()
    login = f"/{ADMIN_URL}login/"
    assert a.request("POST", login, {"username": username, "password": "x"}, guesser)[0] == 200
    assert b.request("POST", login, {"username": username, "password": "y"}, guesser)[0] == 429
    status, _, html = a.request("POST", login, {"username": username, "password": password}, guesser)
    assert status == 429 and "Too many failed sign-ins" in html
    # ... and not for the owner elsewhere.
    assert b.request("POST", login, {"username": username, "password": password}, a_client())[0] == 302
