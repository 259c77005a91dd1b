"""What every visitor gets the same copy of is kept in each process for PUBLIC_CACHE_SECONDS
(pledges/shared.py, pledges/pages.py); the hot reads skip the session, auth and messages middleware
(pledges/middleware.py). A change made in another process reaches this one within the bound:
here "another process" is a change that sends no signal to this one (update(), bulk_create())."""

import re
from collections import Counter

import pytest
from django.db import connection
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pledges import csrf, shared
from pledges.models import LetterVersion, OutgoingEmail, Profession, Signature, SigningStatus, Submission
from pledges.signing import process_submissions
from tests.utils import make_signature

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def later(monkeypatch, settings):
    """Moves this process's clock on by the bound: what it kept must be read again."""
    settings.PUBLIC_CACHE_SECONDS = 5
    now = [1000.0]
    monkeypatch.setattr(shared, "clock", lambda: now[0])

    def move(seconds: float = settings.PUBLIC_CACHE_SECONDS) -> None:
        now[0] += seconds

    return move


def page(client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_letter_page_costs_no_query_while_kept(client):
    page(client)  # renders and keeps it
    with CaptureQueriesContext(connection) as queries:
        html = page(client)
    assert len(queries) == 0
    assert 'name="full_name"' in html and TOKEN.search(html)


def test_each_visitor_gets_a_fresh_token_that_signing_accepts(valid_form_data):
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    first_token = TOKEN.search(page(first)).group(1)
    second_token = TOKEN.search(page(second)).group(1)
    assert first_token != second_token and len(first_token) == 2 * CSRF_SECRET_LENGTH
    assert first.cookies["csrftoken"].value != second.cookies["csrftoken"].value
    # A token made for one visitor is refused with another visitor's cookie.
    refused = first.post("/sign/", {**valid_form_data, "csrfmiddlewaretoken": second_token})
    assert refused.status_code == 403
    response = first.post("/sign/", {**valid_form_data, "csrfmiddlewaretoken": first_token})
    assert response.status_code == 302 and process_submissions() == 1 and Signature.objects.count() == 1


def test_a_returning_visitor_keeps_its_csrf_secret_with_a_new_mask(valid_form_data):
    client = Client(enforce_csrf_checks=True)
    first = TOKEN.search(page(client)).group(1)
    cookie = client.cookies["csrftoken"].value
    second = TOKEN.search(page(client)).group(1)
    assert first != second and client.cookies["csrftoken"].value == cookie
    response = client.post("/sign/", {**valid_form_data, "csrfmiddlewaretoken": first})
    assert response.status_code == 302


def test_random_strings_use_every_allowed_character_evenly():
    draws = [csrf.random_string() for _ in range(4000)]
    assert {len(draw) for draw in draws} == {CSRF_SECRET_LENGTH}
    counts = Counter("".join(draws))
    assert set(counts) == set(CSRF_ALLOWED_CHARS)
    expected = 4000 * CSRF_SECRET_LENGTH / len(CSRF_ALLOWED_CHARS)  # about 2,065 each
    assert all(0.85 * expected < count < 1.15 * expected for count in counts.values())


PUBLIC_PAGES = [
    "/",
    "/?utm_source=share",
    "/sign/thanks/",
    "/signatories/",
    "/signatories/?q=ada",
    "/signatories.csv",
    "/press/",
    "/privacy/",
    "/api/count/",
    "/api/history/",
    "/badge.svg",
    "/healthz",
]


@pytest.mark.parametrize("cookie", ["", "sessionid=not-a-session-key0123456789abcdef"])
def test_anonymous_visitors_never_touch_the_session_or_user_tables(client, cookie, valid_form_data):
    signature = make_signature(status=Signature.Status.APPROVED, full_name="Ada Lovelace")
    if cookie:
        client.cookies.load(cookie)
    urls = [
        *PUBLIC_PAGES,
        f"/verify/{signature.make_token('verify')}/",
        f"/withdraw/{signature.make_token('withdraw')}/",
    ]
    for url in urls:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
            if response.streaming:
                b"".join(response.streaming_content)
        assert response.status_code == 200, url
        tables = " ".join(query["sql"] for query in queries)
        assert "django_session" not in tables and "auth_user" not in tables, url
    with CaptureQueriesContext(connection) as queries:
        assert client.post("/sign/", {**valid_form_data, "email": "new@example.com"}).status_code == 302
    tables = " ".join(query["sql"] for query in queries)
    assert "django_session" not in tables and "auth_user" not in tables


@pytest.mark.parametrize("url", ["/", "/press/", "/api/count/", "/api/history/", "/badge.svg", "/healthz"])
def test_the_fast_reads_keep_every_header_the_full_stack_sets(client, url):
    response = client.get(url)
    assert response.status_code == 200
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert int(response["Content-Length"]) == len(response.content)
    # The same headers as a page that takes the whole middleware stack.
    full = client.get("/privacy/")
    for header in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"):
        assert response[header] == full[header]


def test_the_fast_reads_refuse_a_host_not_allowed_and_methods_not_allowed(client):
    assert client.get("/api/count/", HTTP_HOST="evil.example").status_code == 400
    assert client.get("/", HTTP_HOST="evil.example").status_code == 400
    assert client.post("/api/count/").status_code == 405
    assert client.head("/api/count/").status_code == 200
    assert client.head("/").status_code == 405  # as before: the letter page answers GET only
    assert client.get("/api/count").status_code == 301  # APPEND_SLASH still applies elsewhere


def test_a_pause_made_elsewhere_shows_within_the_bound(client, later, valid_form_data):
    page(client)
    SigningStatus.objects.update_or_create(pk=1, defaults={"paused": False})
    shared.Recent.forget_all()  # this process saw that save; the next one it does not see
    page(client)
    SigningStatus.objects.filter(pk=1).update(paused=True, message="Back on Monday.")
    later(4.9)
    assert "Back on Monday." not in page(client)
    later(0.2)
    html = page(client)
    assert "Back on Monday." in html and 'name="full_name"' not in html
    response = client.post("/sign/", valid_form_data)
    assert response.status_code == 403 and Submission.objects.count() == 0 and Signature.objects.count() == 0
    assert OutgoingEmail.objects.count() == 0


def test_a_pause_saved_in_this_process_shows_at_once(client, later, valid_form_data):
    page(client)
    SigningStatus.objects.update_or_create(pk=1, defaults={"paused": True, "message": "Back on Monday."})
    assert "Back on Monday." in page(client)
    assert client.post("/sign/", valid_form_data).status_code == 403


def test_a_new_letter_version_made_elsewhere_shows_and_is_signed_within_the_bound(
    client, later, valid_form_data
):
    old = LetterVersion.objects.current()
    page(client)
    (new,) = LetterVersion.objects.bulk_create([LetterVersion(title="A revised letter", body="Revised.")])
    assert "A revised letter" not in page(client)
    client.post("/sign/", {**valid_form_data, "email": "early@example.com"})
    process_submissions()
    assert Signature.objects.get(email="early@example.com").letter_version == old
    later()
    assert "A revised letter" in page(client)
    client.post("/sign/", {**valid_form_data, "email": "later@example.com"})
    process_submissions()
    assert Signature.objects.get(email="later@example.com").letter_version == new


def test_a_new_profession_added_elsewhere_is_offered_within_the_bound(client, later, valid_form_data):
    page(client)
    client.post("/sign/", {**valid_form_data, "email": "first@example.com"})  # reads the choices
    Profession.objects.bulk_create([Profession(slug="puppeteer", name="Puppeteer")])
    assert "Puppeteer" not in page(client)
    refused = client.post("/sign/", {**valid_form_data, "profession": "puppeteer"})
    assert (
        refused.status_code == 400 and "Please choose a profession from the list." in refused.content.decode()
    )
    later()
    assert re.search(r'<option value="puppeteer"[^>]*>Puppeteer</option>', page(client))
    response = client.post("/sign/", {**valid_form_data, "profession": "puppeteer"})
    assert response.status_code == 302
    process_submissions()
    assert Signature.objects.get(email=valid_form_data["email"]).profession.slug == "puppeteer"


def test_a_name_featured_elsewhere_shows_within_the_bound(client, later):
    signature = make_signature(status=Signature.Status.APPROVED, full_name="Grace Hopper")
    page(client)
    client.get("/press/")
    Signature.objects.filter(pk=signature.pk).update(
        featured=True,
        credit="Compiler pioneer",
        verified_at=timezone.now(),
        verification_method=Signature.VerificationMethod.OTHER,
    )
    assert "Grace Hopper" not in page(client)
    assert "Grace Hopper" not in client.get("/press/").content.decode()
    later()
    assert "Grace Hopper" in page(client)
    assert "Grace Hopper" in client.get("/press/").content.decode()


def test_the_press_page_costs_no_query_while_kept(client):
    make_signature(
        status=Signature.Status.APPROVED,
        featured=True,
        verified=True,
        full_name="Grace Hopper",
        credit="Compiler pioneer",
    )
    client.get("/press/")
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/press/")
    assert len(queries) == 0 and "Grace Hopper" in response.content.decode()


def test_the_count_on_the_letter_page_follows_the_shared_figures(client, settings):
    settings.COUNT_MAX_AGE_SECONDS = 0  # every request refreshes the figures
    assert re.search(r'class="count-number">0<', page(client))
    make_signature(status=Signature.Status.CONFIRMED)
    assert re.search(r'class="count-number">1<', page(client))
