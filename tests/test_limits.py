"""Rate limits in one process (the test client); test_two_processes.py shows that they hold
across server processes sharing the cache."""

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.test import RequestFactory

from pledges.clients import client_ip
from pledges.models import OutgoingEmail, Signature, Submission
from pledges.signing import process_submissions
from tests.utils import at_once, make_signature

pytestmark = pytest.mark.django_db

F = Signature.Flag


def person(number: int, valid_form_data: dict) -> dict:
    return {
        **valid_form_data,
        "email": f"person{number}@hall.example.org",
        "full_name": f"Member {'ABCDEFGHIJ'[number % 10]}",
    }


# The client IP


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "expected"),
    [
        (0, "", "198.51.100.7"),
        (0, "203.0.113.1", "198.51.100.7"),  # no proxy trusted: a forged header changes nothing
        (0, "203.0.113.1, 203.0.113.2", "198.51.100.7"),
        (1, "203.0.113.5", "203.0.113.5"),  # the one proxy appended the client it saw
        (1, "6.6.6.6, 203.0.113.5", "203.0.113.5"),  # the client's own (forged) entries are ignored
        (2, "6.6.6.6, 203.0.113.5, 10.0.0.2", "203.0.113.5"),  # the 2nd from the right
        (2, "203.0.113.5, 10.0.0.2", "203.0.113.5"),
        (2, "10.0.0.2", "198.51.100.7"),  # fewer entries than proxies: not trusted
        (1, "not-an-ip", "198.51.100.7"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_ip_counts_trusted_proxies_from_the_right(settings, proxies, forwarded_for, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=forwarded_for)
    assert client_ip(request) == expected


def test_an_ipv6_client_is_its_64_for_limits_and_the_stored_hash(client, settings, valid_form_data):
    settings.RATELIMIT_SIGN_IP_HARD = "2/h"
    hopping = ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:2:abcd::5"]
    statuses = [
        client.post("/sign/", person(n, valid_form_data), REMOTE_ADDR=ip).status_code
        for n, ip in enumerate(hopping)
    ]
    assert statuses == [302, 302, 429]
    process_submissions()
    assert len(set(Signature.objects.values_list("ip_hash", flat=True))) == 1
    assert client.post("/sign/", person(9, valid_form_data), REMOTE_ADDR="2001:db8:1:3::1").status_code == 302


def test_a_bad_rate_setting_stops_start_up():
    from tests.test_settings import load_settings

    result = load_settings(DEBUG="true", RATELIMIT_SIGN_IP_HARD="lots")
    assert result.returncode != 0 and "RATELIMIT_SIGN_IP_HARD must be a rate" in result.stderr


# Signing: a soft limit that holds for review, a hard limit that refuses


def test_a_room_of_50_behind_one_ip_can_all_sign_and_past_the_soft_limit_are_held(
    client, settings, valid_form_data
):
    for number in range(50):
        response = client.post("/sign/", person(number, valid_form_data), REMOTE_ADDR="192.0.2.50")
        assert response.status_code == 302, number
    process_submissions()
    signatures = list(Signature.objects.order_by("pk"))
    assert len(signatures) == 50
    soft = int(settings.RATELIMIT_SIGN_IP_SOFT.split("/")[0])
    assert all(F.IP_SOFT_LIMIT not in s.flags for s in signatures[:soft])
    assert all(F.IP_SOFT_LIMIT in s.flags for s in signatures[soft:])
    # Held ones are reviewed by staff: once confirmed and approved they count like any other.
    for signature in signatures:
        signature.confirm()
    assert Signature.objects.counted().count() == soft
    Signature.objects.filter(status=Signature.Status.CONFIRMED).update(status=Signature.Status.APPROVED)
    assert Signature.objects.counted().count() == 50


def test_a_scripted_flood_from_one_ip_is_held_then_refused_with_a_friendly_429(
    client, settings, valid_form_data
):
    hard = int(settings.RATELIMIT_SIGN_IP_HARD.split("/")[0])
    statuses = [
        client.post("/sign/", person(number, valid_form_data), REMOTE_ADDR="192.0.2.66").status_code
        for number in range(hard + 5)
    ]
    assert statuses == [302] * hard + [429] * 5
    assert Submission.objects.count() == hard  # nothing stored once refused
    process_submissions()
    assert Signature.objects.count() == hard
    soft = int(settings.RATELIMIT_SIGN_IP_SOFT.split("/")[0])
    assert Signature.objects.filter(flags__contains=[F.IP_SOFT_LIMIT]).count() == hard - soft
    refused = client.post("/sign/", person(999, valid_form_data), REMOTE_ADDR="192.0.2.66")
    assert refused.status_code == 429 and "Too many attempts" in refused.content.decode()
    # Another connection is not affected.
    assert client.post("/sign/", person(999, valid_form_data), REMOTE_ADDR="192.0.2.67").status_code == 302


def test_the_hard_limit_counts_invalid_posts_too(client, settings, valid_form_data):
    settings.RATELIMIT_SIGN_IP_HARD = "3/h"
    junk = {**valid_form_data, "email": "not-an-address"}
    assert [client.post("/sign/", junk).status_code for _ in range(3)] == [400, 400, 400]
    assert client.post("/sign/", valid_form_data).status_code == 429
    assert Submission.objects.count() == 0


@pytest.mark.parametrize("proxies", [0, 1])
def test_a_forged_x_forwarded_for_does_not_escape_the_limit(client, settings, valid_form_data, proxies):
    settings.TRUSTED_PROXY_COUNT = proxies
    settings.RATELIMIT_SIGN_IP_HARD = "4/h"
    settings.RATELIMIT_SIGN_IP_SOFT = "2/h"
    # With a proxy, the proxy appends the address it saw; the client controls only what is before it.
    real = "192.0.2.80" if proxies else ""
    statuses = []
    for number in range(6):
        forged = f"203.0.113.{number}"
        forwarded = f"{forged}, {real}" if proxies else forged
        response = client.post(
            "/sign/", person(number, valid_form_data), REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded
        )
        statuses.append(response.status_code)
    assert statuses == [302] * 4 + [429] * 2
    process_submissions()
    flagged = [F.IP_SOFT_LIMIT in s.flags for s in Signature.objects.order_by("pk")]
    assert flagged == [False, False, True, True]


def test_rate_limit_disabled_takes_everything_unflagged(client, settings, valid_form_data):
    settings.RATELIMIT_ENABLE = False
    settings.RATELIMIT_SIGN_IP_HARD = "2/h"
    settings.RATELIMIT_SIGN_IP_SOFT = "1/h"
    settings.EMAILS_PER_ADDRESS_PER_DAY = 1
    statuses = [client.post("/sign/", person(n, valid_form_data)).status_code for n in range(4)]
    statuses += [client.post("/sign/", valid_form_data).status_code for _ in range(3)]
    assert statuses == [302] * 7
    process_submissions()
    assert not Signature.objects.exclude(flags=[]).exists()
    assert OutgoingEmail.objects.filter(to=valid_form_data["email"]).count() == 3


# Per address: at most a few emails a day, and the page never tells


def test_at_most_a_few_emails_a_day_go_to_one_address_and_the_page_never_says(
    client, settings, valid_form_data
):
    limit = settings.EMAILS_PER_ADDRESS_PER_DAY
    responses = [client.post("/sign/", valid_form_data, REMOTE_ADDR=f"192.0.2.{n}") for n in range(limit + 3)]
    assert {(r.status_code, r["Location"]) for r in responses} == {(302, "/sign/thanks/")}
    process_submissions()
    assert OutgoingEmail.objects.filter(to="ada@example.com").count() == limit
    # Other addresses are not affected.
    client.post("/sign/", {**valid_form_data, "email": "grace@example.com"})
    process_submissions()
    assert OutgoingEmail.objects.filter(to="grace@example.com").count() == 1


def test_the_email_limit_covers_already_signed_notes_and_a_day_later_mail_flows_again(
    client, settings, valid_form_data
):
    settings.EMAILS_PER_ADDRESS_PER_DAY = 2
    make_signature(email="ada@example.com", status=Signature.Status.APPROVED)
    for _ in range(4):
        assert client.post("/sign/", valid_form_data).status_code == 302
    process_submissions()
    assert list(OutgoingEmail.objects.values_list("kind", flat=True)) == ["already-signed"] * 2
    from datetime import timedelta

    from django.utils import timezone

    OutgoingEmail.objects.update(created_at=timezone.now() - timedelta(days=1, minutes=1))
    client.post("/sign/", valid_form_data)
    process_submissions()
    assert OutgoingEmail.objects.count() == 3


# Links and the admin login


@pytest.mark.parametrize("purpose", ["verify", "withdraw"])
def test_link_posts_are_limited_per_ip_but_gets_are_not(client, settings, purpose):
    setattr(settings, f"RATELIMIT_{purpose.upper()}_IP", "3/h")
    signature = make_signature()
    url = f"/{purpose}/{signature.make_token(purpose)}/"
    assert [client.post(f"/{purpose}/guess{n}/").status_code for n in range(3)] == [400] * 3
    response = client.post(url)
    assert response.status_code == 429 and "Too many attempts" in response.content.decode()
    assert client.get(url).status_code == 200
    signature.refresh_from_db()
    assert signature.status == Signature.Status.PENDING
    assert client.post(url, REMOTE_ADDR="192.0.2.99").status_code == 200  # another connection


def test_the_default_link_limits_let_a_room_of_50_confirm_from_one_ip(client):
    signatures = [make_signature(email=f"member{n}@hall.example.org") for n in range(50)]
    for signature in signatures:
        assert client.post(f"/verify/{signature.make_token('verify')}/").status_code == 200
    assert Signature.objects.filter(status=Signature.Status.CONFIRMED).count() == 50


def test_admin_login_is_limited_per_ip(client, settings):
    settings.RATELIMIT_ADMIN_LOGIN_IP = "3/h"
    User.objects.create_superuser("staff", "staff@example.org", "a-long-staff-password")
    login = f"/{settings.ADMIN_URL}login/"
    assert client.get(login).status_code == 200
    wrong = [client.post(login, {"username": "staff", "password": f"guess{n}"}).status_code for n in range(3)]
    assert wrong == [200] * 3  # the form again, with an error
    # Past the limit even the right password is refused from this IP, with the friendly page.
    response = client.post(login, {"username": "staff", "password": "a-long-staff-password"})
    assert response.status_code == 429 and "Too many attempts" in response.content.decode()
    response = client.post(
        login, {"username": "staff", "password": "a-long-staff-password"}, REMOTE_ADDR="192.0.2.5"
    )
    assert response.status_code == 302


# The cache the limits live in


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_database_cache_counts_concurrent_increments_exactly():
    cache.add("pledges:test-counter", 0, 3600)
    workers = 8

    def bump(_):
        for _ in range(10):
            cache.incr("pledges:test-counter")

    at_once(bump, range(workers))
    assert cache.get("pledges:test-counter") == workers * 10


def test_the_database_cache_incr_keeps_the_expiry_and_refuses_missing_keys():
    cache.set("pledges:test-window", 1, 3600)
    with connection.cursor() as cursor:
        cursor.execute("SELECT expires FROM ccai_cache WHERE cache_key LIKE %s", ["%pledges:test-window"])
        [before] = cursor.fetchone()
        cache.incr("pledges:test-window", 2)
        cursor.execute("SELECT expires FROM ccai_cache WHERE cache_key LIKE %s", ["%pledges:test-window"])
        [after] = cursor.fetchone()
    assert cache.get("pledges:test-window") == 3 and before == after
    with pytest.raises(ValueError):
        cache.incr("pledges:no-such-key")


def test_the_database_cache_keeps_rate_limit_counts_when_it_fills_up():
    # Django's default would evict a third of the keys past 300 entries, the lowest-named first.
    cache.add("rl:a-client", 5, 3600)
    cache.set_many({f"z-filler-{n}": n for n in range(400)}, 3600)
    cache.set("z-one-more", 1, 3600)  # culling happens on a set
    assert cache.get("rl:a-client") == 5
